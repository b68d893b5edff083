"""Outgoing e-mail over SMTP (the standard library's client, in a worker thread)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import anyio.to_thread

from quizplatform.runtime.settings import Settings


class Mailer:
    """Sends plain-text messages through the SMTP server the settings name."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        """Whether an SMTP server is configured (``smtp_host`` not empty)."""
        return bool(self.settings.smtp_host)

    async def send(self, to: str, subject: str, body: str) -> None:
        """Send one message; raises ``OSError``/``smtplib.SMTPException`` on failure."""
        message = EmailMessage()
        message["From"] = self.settings.smtp_from or f"no-reply@{self.settings.smtp_host}"
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        await anyio.to_thread.run_sync(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
            smtp.send_message(message)
