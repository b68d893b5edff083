"""The question bank's request bodies, and a quiz's random draws (``domain/draws.py``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from quizplatform.domain.draws import CATEGORY_CHARS, MAX_DRAW_COUNT, MAX_DRAWS, DrawRule
from quizplatform.domain.limits import LIMITS
from quizplatform.schemas.base import WHOLE, Strict, TagName

Category = Annotated[str, Field(max_length=CATEGORY_CHARS)]
QuestionId = Annotated[str, Field(min_length=1, max_length=64)]
BULK = 500  # ids per bulk call (``services/bank.py``)


class DrawIn(Strict):
    """``count`` random questions of the bank in ``category`` (subcategories included)
    tagged ``tag``, each worth ``points``: only bank questions worth exactly that many
    points are drawn, so every attempt has the same maximum score."""

    id: Annotated[str, Field(max_length=64)] | None = None
    count: Annotated[int, Field(ge=1, le=MAX_DRAW_COUNT), WHOLE]
    points: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] = 1.0
    category: Category | None = None
    tag: TagName | None = None

    def to_domain(self) -> DrawRule:
        return DrawRule(
            count=self.count, points=self.points, category=self.category, tag=self.tag, id=self.id
        )


Draws = Annotated[list[DrawIn], Field(max_length=MAX_DRAWS)]


class BankMoveIn(Strict):
    """File questions of the bank under ``category`` (null or blank: no category)."""

    ids: Annotated[list[QuestionId], Field(min_length=1, max_length=BULK)]
    category: Category | None


class BankTagIn(Strict):
    """Add the tags ``add`` to questions of the bank and take ``remove`` off them."""

    ids: Annotated[list[QuestionId], Field(min_length=1, max_length=BULK)]
    add: Annotated[list[TagName], Field(max_length=LIMITS.tags)] = []
    remove: Annotated[list[TagName], Field(max_length=LIMITS.tags)] = []
