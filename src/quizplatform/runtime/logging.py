"""Logging: structlog to stdout, JSON in staging/production, readable in development.

Our own log calls take structlog's fast path (no stdlib logging per line); records from
libraries (uvicorn, SQLAlchemy, Alembic) go through the stdlib root logger and the same
processors, so every line has the same shape. Emails are masked and secrets never
appear: ``redact`` runs on every event, whatever logged it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from quizplatform.runtime.settings import Settings

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "secret_key",
        "authorization",
        "cookie",
        "set-cookie",
        "api_key",
        "password_hash",
    }
)


def mask_text(text: str) -> str:
    """``jane.doe@example.org`` → ``j***@example.org``; bearer tokens → ``[redacted]``."""
    # The substring tests keep the common case (nothing to mask) cheap: this runs on
    # every value of every log line.
    if "@" in text:
        text = _EMAIL.sub(r"\1***@\2", text)
    if "earer" in text:
        text = _BEARER.sub(r"\1[redacted]", text)
    return text


def redact(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Mask emails and drop secrets in every value of the event."""
    for key, value in event.items():
        kind = type(value)
        if key in SECRET_KEYS or key.lower() in SECRET_KEYS:
            event[key] = "[redacted]"
        elif kind is str:
            event[key] = mask_text(value)
        elif kind in (dict, list, tuple) or isinstance(value, MutableMapping):
            event[key] = _redact_value(value)
    return event


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, MutableMapping):
        return {
            k: "[redacted]" if str(k).lower() in SECRET_KEYS else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time of writing (so test capture and
    redirection keep working for loggers configured earlier)."""

    def write(self, data: bytes) -> None:
        out = sys.stdout
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write(data)
        else:
            out.write(data.decode("utf-8", "replace"))

    def flush(self) -> None:
        out = sys.stdout
        (getattr(out, "buffer", None) or out).flush()


def _orjson_dumps(event: Any, **_kw: Any) -> bytes:
    return orjson.dumps(event, default=str)


def _level(settings: Settings) -> int:
    name = getattr(settings, "log_level", None)
    if name:
        return logging.getLevelNamesMapping().get(str(name).upper(), logging.INFO)
    return logging.DEBUG if settings.debug else logging.INFO


def configure_logging(settings: Settings, *, extra: list[Processor] | None = None) -> None:
    """Configure structlog and the stdlib root logger for this process."""
    level = _level(settings)
    json_output = not settings.is_development
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *(extra or []),
        redact,
    ]
    renderer: Processor
    if json_output:
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        factory: Any = structlog.BytesLoggerFactory(_CurrentStdout())  # type: ignore[arg-type]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        factory = structlog.PrintLoggerFactory(sys.stdout)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        # Caching binds loggers to this configuration for good: only where it never changes.
        cache_logger_on_first_use=settings.env == "production",
    )
    structlog.contextvars.bind_contextvars(instance=settings.instance_id)

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer()
            if json_output
            else structlog.dev.ConsoleRenderer(colors=False),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # The pools' "Pool disposed" / "Pool recreating" at every shutdown (SQLAlchemy names
    # a pool's logger after its class: ours is quizplatform.db.engine._TimedPool).
    pools = ("sqlalchemy.pool", "quizplatform.db.engine._TimedPool")
    # httpx logs every outbound request at INFO; the AI calls log their own outcome.
    for noisy in ("uvicorn.access", "alembic.runtime.migration", "httpx", *pools):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class AccessLog:
    """The one access line per request.

    In JSON mode the line is serialised here directly: it has a fixed shape (route
    templates, ids, numbers; never an email or a secret, so nothing for ``redact`` to do),
    and going through the general processor chain cost more than serving a cached quiz.
    The line carries the same fields as every other event (level, timestamp, instance,
    request id, trace ids when tracing is on). In development it is an ordinary event.
    """

    def __init__(self, settings: Settings) -> None:
        self._json = not settings.is_development
        self._enabled = _level(settings) <= logging.INFO
        self._instance = settings.instance_id
        self._out = _CurrentStdout()
        self._log = structlog.get_logger("quizplatform.access")

    def write(self, request_id: str, **fields: Any) -> None:
        if not self._enabled:
            return
        if not self._json:
            self._log.info("request", **fields)
            return
        event: dict[str, Any] = {"event": "request", **fields}
        event["instance"] = self._instance
        event["request_id"] = request_id
        event["level"] = "info"
        event["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
        self._out.write(orjson.dumps(event) + b"\n")
