"""What every request body shares: unknown fields refused (422), strict types, no NUL
characters, and the field types sized by ``domain/limits.py``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from quizplatform.domain.limits import LIMITS


def _whole_number(value: Any) -> Any:
    """JSON has one number type: 3.0 is the integer 3 (JSON Schema says so too), "3" is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text_only(value: Any) -> Any:
    """A date-time is an RFC 3339 string: a number (which pydantic reads as a Unix time) is
    refused, as the schema says."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


# After the field's constraints (Annotated[int, Field(...), WHOLE]), so they stay JSON
# Schema keywords in the OpenAPI document.
WHOLE = BeforeValidator(_whole_number)
Timestamp = Annotated[AwareDatetime, BeforeValidator(_text_only), Field(strict=False)]
Text = Annotated[str, Field(max_length=LIMITS.text_chars)]
ShortText = Annotated[str, Field(max_length=LIMITS.short_text_chars)]
QuestionTitle = Annotated[str, Field(max_length=LIMITS.question_title_chars)]
# An option, an answer, a pair's side, an item: the domain refuses blank ones.
PartText = Annotated[str, Field(min_length=1, max_length=LIMITS.short_text_chars, pattern=r"\S")]
TagName = Annotated[str, Field(min_length=1, max_length=LIMITS.tag_chars)]
Parts = Field(max_length=LIMITS.parts)
Weight = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [item.replace("\x00", "") if isinstance(item, str) else item for item in value]
    return value


class Strict(BaseModel):
    # strict: a JSON string is not taken for a bool or a number ("yes" is not true, "5" is
    # not 5); the few fields parsed from strings (datetimes, enums) opt out one by one.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """Drop NUL characters from the strings of the body: PostgreSQL text cannot hold
        one, and no text means anything by it (the web forms drop them too). Nested models
        run this on their own fields, so one level is enough here."""
        if not isinstance(data, dict):
            return data
        return {key: _without_nul(value) for key, value in data.items()}
