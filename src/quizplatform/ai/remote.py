"""The providers that call a server: Gemini's ``generateContent`` and any
OpenAI-compatible ``chat/completions`` (vLLM, Ollama, llama.cpp server).

Both map HTTP outcomes onto the provider errors the caller retries or falls back on:
429 → ``ProviderRateLimited`` (with ``Retry-After``), 5xx/408 and connection failures →
``ProviderUnavailable``, other 4xx → ``ProviderRejected``, an answer that is not the
JSON asked for → ``ProviderBadOutput``. Timeouts are the caller's (one deadline per call,
``asyncio.timeout``); httpx gets the same value so a slow drip cannot outlive it.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from quizplatform.ai.base import (
    Ask,
    DraftRequest,
    Generation,
    ProviderBadOutput,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    Usage,
)
from quizplatform.ai.prompts import SYSTEM_PROMPT, gemini_schema, openai_schema, user_prompt
from quizplatform.domain.drafts import DraftFormatError, parse_draft_text
from quizplatform.runtime.resilience import parse_retry_after

MAX_OUTPUT_TOKENS = 8192
TEMPERATURE = 0.4


class HttpProvider:
    """What both HTTP providers share: one pooled client, status handling, parsing."""

    name = "http"
    remote = True

    def __init__(self, base_url: str, model: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=5),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """POST ``body``; the decoded JSON answer of a 2xx, else the matching error."""
        try:
            response = await self.client.post(url, content=orjson.dumps(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{self.name} did not answer in {self.timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{self.name} unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 429:
            raise ProviderRateLimited(
                f"{self.name} is rate-limiting us (429)",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status >= 500 or status == 408:
            raise ProviderUnavailable(f"{self.name} answered {status}")
        if status >= 400:
            raise ProviderRejected(f"{self.name} refused the request ({status}): {_why(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderBadOutput(f"{self.name} answered {status} with no JSON") from exc

    def _items(self, text: str, usage: Usage) -> Generation:
        try:
            return Generation(parse_draft_text(text), usage)
        except DraftFormatError as exc:
            raise ProviderBadOutput(f"{self.name}: {exc}", usage) from exc


class GeminiProvider(HttpProvider):
    """Google's Gemini REST API: ``POST {base}/models/{model}:generateContent``."""

    name = "gemini"

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float) -> None:
        super().__init__(base_url, model, timeout)
        self._api_key = api_key

    async def generate(self, request: DraftRequest, ask: Ask) -> Generation:
        prompt = user_prompt(request, ask)
        body = {
            "systemInstruction": {"parts": [{"text": SYSTEM_PROMPT}]},
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": gemini_schema(list(ask.plan)),
                "temperature": TEMPERATURE,
                "maxOutputTokens": MAX_OUTPUT_TOKENS,
            },
        }
        data = await self._post(
            f"{self.base_url}/models/{self.model}:generateContent",
            body,
            {"x-goog-api-key": self._api_key, "content-type": "application/json"},
        )
        usage = Usage(prompt_chars=len(SYSTEM_PROMPT) + len(prompt))
        text = self._text(data, usage)
        return self._items(text, usage)

    def _text(self, data: Any, usage: Usage) -> str:
        if not isinstance(data, dict):
            raise ProviderBadOutput("gemini: not a generateContent response", usage)
        meta = data.get("usageMetadata") or {}
        usage.prompt_tokens = _int(meta.get("promptTokenCount"))
        usage.output_tokens = _int(meta.get("candidatesTokenCount"))
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise ProviderBadOutput(f"gemini blocked the prompt ({blocked})", usage)
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise ProviderBadOutput("gemini answered without candidates", usage)
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        usage.output_chars = len(text)
        finish = candidate.get("finishReason")
        if finish == "MAX_TOKENS":
            raise ProviderBadOutput("gemini's answer was cut off (MAX_TOKENS)", usage)
        if finish not in (None, "STOP", "FINISH_REASON_UNSPECIFIED"):
            raise ProviderBadOutput(f"gemini stopped early ({finish})", usage)
        return text


class OpenAICompatibleProvider(HttpProvider):
    """``POST {base}/chat/completions`` with ``response_format`` = a strict JSON schema."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None, timeout: float) -> None:
        super().__init__(base_url, model, timeout)
        self._api_key = api_key

    async def generate(self, request: DraftRequest, ask: Ask) -> Generation:
        prompt = user_prompt(request, ask)
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "quiz_draft",
                    "strict": True,
                    "schema": openai_schema(list(ask.plan)),
                },
            },
            "temperature": TEMPERATURE,
            "max_tokens": MAX_OUTPUT_TOKENS,
        }
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        data = await self._post(f"{self.base_url}/chat/completions", body, headers)
        usage = Usage(prompt_chars=len(SYSTEM_PROMPT) + len(prompt))
        return self._items(self._text(data, usage), usage)

    def _text(self, data: Any, usage: Usage) -> str:
        if not isinstance(data, dict):
            raise ProviderBadOutput("openai: not a chat completion", usage)
        meta = data.get("usage") or {}
        usage.prompt_tokens = _int(meta.get("prompt_tokens"))
        usage.output_tokens = _int(meta.get("completion_tokens"))
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProviderBadOutput("openai answered without choices", usage)
        message = choices[0].get("message") or {}
        text = message.get("content")
        if not isinstance(text, str):
            refusal = message.get("refusal")
            raise ProviderBadOutput(f"openai gave no content ({refusal or 'empty'})", usage)
        usage.output_chars = len(text)
        if choices[0].get("finish_reason") == "length":
            raise ProviderBadOutput("openai's answer was cut off (length)", usage)
        return text


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _why(response: httpx.Response) -> str:
    """The provider's own error message, short, without echoing our request."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:200] if message else response.reason_phrase or "no detail"


__all__ = ["GeminiProvider", "OpenAICompatibleProvider", "ProviderError"]
