"""A live game's options (what the host chooses when starting one) and the errors that
are particular to live games."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quizplatform.runtime.settings import Settings
from quizplatform.services.errors import Conflict, ErrorDetail, Forbidden, Invalid

MIN_QUESTION_SECONDS = 5
MAX_QUESTION_SECONDS = 120


class LiveRefused(Forbidden):
    """A join the game does not take: ``reason`` is ``full`` or ``sign_in_required``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LiveConflict(Conflict):
    """A join or a control that does not fit the game's state: ``reason`` is ``taken``
    (nickname), ``ended`` or ``phase`` (a control in the wrong phase)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class GameOptions:
    """What the host chose; ``None`` fields take the site's default (``resolved``)."""

    question_seconds: int | None = None
    streak: bool = True
    require_sign_in: bool | None = None
    max_players: int | None = None

    def resolved(self, settings: Settings) -> GameOptions:
        """These options with the defaults filled in; ``Invalid`` if out of range."""
        seconds = self.question_seconds or settings.live_question_seconds
        players = self.max_players or settings.live_max_players
        details: list[ErrorDetail] = []
        if not MIN_QUESTION_SECONDS <= seconds <= MAX_QUESTION_SECONDS:
            details.append(
                {
                    "loc": ["body", "question_seconds"],
                    "message": f"must be {MIN_QUESTION_SECONDS} to {MAX_QUESTION_SECONDS}",
                }
            )
        if not 1 <= players <= settings.live_max_players:
            details.append(
                {
                    "loc": ["body", "max_players"],
                    "message": f"must be 1 to {settings.live_max_players}",
                }
            )
        if details:
            raise Invalid("; ".join(d["message"] for d in details), details)
        require = self.require_sign_in
        return GameOptions(
            question_seconds=seconds,
            streak=self.streak,
            require_sign_in=settings.live_require_sign_in if require is None else require,
            max_players=players,
        )

    def document(self) -> dict[str, object]:
        """The options as stored with the game."""
        return asdict(self)

    @classmethod
    def from_document(cls, doc: dict[str, object]) -> GameOptions:
        """The options stored with a game."""

        def number(name: str) -> int | None:
            value = doc.get(name)
            return int(value) if isinstance(value, int | float) else None

        return cls(
            question_seconds=number("question_seconds"),
            streak=bool(doc.get("streak", True)),
            require_sign_in=bool(doc.get("require_sign_in", False)),
            max_players=number("max_players"),
        )
