"""The handler of a real local SMTP server (aiosmtpd) for tests: keeps what it receives."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """Messages the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"
