"""Stand-ins for the services the middleware's collaborators call."""

from __future__ import annotations

from typing import Any

from quizplatform.services.accounts import Principal

ALICE = Principal(user_id="u-alice", role="student", display_name="Alice")


class Accounts:
    """Knows one token (``good``), naming Alice; counts its look-ups."""

    def __init__(self) -> None:
        self.lookups = 0

    async def resolve_token(self, token: str) -> Principal | None:
        self.lookups += 1
        return ALICE if token == "good" else None


class AccessLogLines:
    """Keeps the access log lines instead of writing them."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def write(self, request_id: str, **fields: Any) -> None:
        self.lines.append((request_id, fields))
