"""What a new live game plays: the quiz's questions and, for its random draws, questions
drawn from the bank ONCE for the whole game (every player gets the same), keeping only
the types a live game can play."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from quizplatform.db.engine import Database
from quizplatform.domain.live import LIVE_TYPES
from quizplatform.services.attempts import AttemptService
from quizplatform.services.draws import draw
from quizplatform.services.errors import Conflict
from quizplatform.services.live.messages import SkippedQuestion
from quizplatform.services.question_views import attempt_rng
from quizplatform.services.quizzes import QuizSnapshot


@dataclass(frozen=True)
class GamePlan:
    """The game's questions in play order, the drawn ones (question id -> rule id), the
    secret key of its random choices and the questions it skips (``{"id", "type"}``)."""

    question_ids: list[str]
    drawn: dict[str, str]
    order_key: str
    skipped: list[SkippedQuestion] = field(default_factory=list)


async def plan_game(db: Database, attempts: AttemptService, snap: QuizSnapshot) -> GamePlan:
    """Draw and order the game's questions (``Conflict`` if the bank cannot fill a draw)."""
    order_key = secrets.token_hex(32)
    order = [q.id for q in snap.questions if q.id]
    drawn: dict[str, str] = {}
    if snap.draws:
        async with db.read_session() as session:
            picks = await draw(session, snap.owner_id, snap.draws, order_key)
        if picks is None:
            raise Conflict(
                "this quiz's question bank no longer holds enough questions for its random draws"
            )
        drawn = {qid: rule_id for rule_id, ids in picks.items() for qid in ids}
        order.extend(drawn)
    if snap.settings.shuffle_questions:
        attempt_rng(order_key, "questions").shuffle(order)
    questions = await attempts.lifecycle.questions_of(snap.id, order)
    playable = [qid for qid in order if questions[qid].type in LIVE_TYPES]
    skipped = [
        SkippedQuestion(id=qid, type=questions[qid].type.value)
        for qid in order
        if questions[qid].type not in LIVE_TYPES
    ]
    return GamePlan(
        question_ids=playable,
        drawn={qid: rule for qid, rule in drawn.items() if qid in set(playable)},
        order_key=order_key,
        skipped=skipped,
    )
