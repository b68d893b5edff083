"""The one interface every AI draft provider implements, and the errors it raises.

A provider turns a ``DraftRequest`` plus an ``Ask`` (how many questions of which types,
which prompts to avoid) into a ``Generation``: raw draft items (see
``quizplatform.domain.drafts``) and what the call cost. Validation, retries, the
circuit breaker, the cache and the fallback chain are the caller's business
(``services/ai.py``), so a provider only speaks its protocol.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from quizplatform.runtime.resilience import RetryableError

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class DraftRequest:
    """What the teacher asked for (the body of ``POST /ai/quizzes``, validated)."""

    num_questions: int
    question_types: tuple[str, ...]
    topic: str | None = None
    source_text: str | None = None
    difficulty: str | None = None
    language: str | None = None
    title: str | None = None

    def cache_key(self) -> str:
        """The same request, whatever its spacing and case: the key of the draft cache."""

        def squash(text: str | None) -> str | None:
            return None if text is None else _SPACES.sub(" ", text).strip().casefold()

        normal = {
            "topic": squash(self.topic),
            "source_text": squash(self.source_text),
            "num_questions": self.num_questions,
            "question_types": sorted(self.question_types),
            "difficulty": self.difficulty,
            "language": squash(self.language),
        }
        digest = hashlib.sha256(json.dumps(normal, sort_keys=True).encode()).hexdigest()
        return f"aidraft:{digest}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["question_types"] = list(self.question_types)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DraftRequest:
        return cls(**{**data, "question_types": tuple(data["question_types"])})


@dataclass(frozen=True)
class Ask:
    """One request to a provider: ``plan`` maps question type to how many."""

    plan: dict[str, int]
    avoid: tuple[str, ...] = ()  # prompts accepted in earlier rounds
    seed: int = 0

    @property
    def count(self) -> int:
        return sum(self.plan.values())


@dataclass
class Usage:
    """What one call cost: characters always, tokens when the provider says."""

    prompt_chars: int = 0
    output_chars: int = 0
    prompt_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class Generation:
    """A provider's answer: the items (unchecked) and the cost of the call."""

    items: list[Any]
    usage: Usage = field(default_factory=Usage)


class Provider(Protocol):
    """An AI draft provider. ``remote`` providers sit behind retries and a breaker."""

    name: str
    model: str
    remote: bool

    async def generate(self, request: DraftRequest, ask: Ask) -> Generation:
        """One call. Raises ``ProviderError`` (or a subclass) on any failure."""
        ...

    async def close(self) -> None: ...


class ProviderError(Exception):
    """A call failed; ``reason`` is the metric label, ``usage`` what it cost anyway."""

    reason = "error"

    def __init__(self, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage or Usage()


class ProviderTimeout(ProviderError, RetryableError):
    reason = "timeout"


class ProviderUnavailable(ProviderError, RetryableError):
    """5xx, a refused or broken connection."""

    reason = "unavailable"


class ProviderRateLimited(ProviderError, RetryableError):
    reason = "rate_limited"

    def __init__(
        self, message: str, retry_after: float | None = None, usage: Usage | None = None
    ) -> None:
        super().__init__(message, usage)
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """The provider refused the request itself (bad key, bad model): no use retrying."""

    reason = "rejected"


class ProviderBadOutput(ProviderError):
    """The call worked but the answer is unusable: not JSON, truncated, blocked."""

    reason = "bad_output"


class ProviderCannotDraft(ProviderError):
    """The provider has nothing to draft from (the offline provider: too little text, a
    topic its question bank does not cover); the message says what would help."""

    reason = "cannot_draft"
