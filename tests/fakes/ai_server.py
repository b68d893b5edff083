"""A fake AI provider for tests: a real HTTP server on 127.0.0.1 speaking Gemini's
``models/{model}:generateContent`` and OpenAI's ``chat/completions``.

The Gemini API cannot be reached from here, so this is what the providers, the breaker
and the fallbacks are tested against. It answers in one of several modes, set from the
test (``server.set(...)``) or over HTTP by another process (``POST /_fake/mode``):

- ``good``: well-formed questions, as many of each type as the prompt's first line asks;
- ``slow``: the same after ``delay`` seconds;
- ``error500`` / ``error429`` (with ``Retry-After: retry_after`` when given);
- ``truncated``: the JSON cut in half (Gemini: finishReason MAX_TOKENS);
- ``non_json``: chatty prose instead of JSON;
- ``bad_schema``: JSON whose items break the rules (key not among the options, "all of
  the above", missing fields, unknown types, repeated prompts);
- ``half_bad``: every second item broken, so a second round is needed;
- ``html``: a 200 with an HTML page instead of a provider response;
- ``bad_key``: 400 "API key not valid".

``set(mode, times=N)`` applies a mode to the next N calls only, then falls back to the
previous default. Every call is recorded (``calls``) with the mode that answered it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PLAN_LINE = re.compile(r"^Write exactly (\d+) quiz questions: (.+)\.$", re.MULTILINE)
_PLAN_PART = re.compile(r"(\d+) (\w+)")


@dataclass
class Call:
    path: str
    mode: str
    api_key: str | None
    plan: dict[str, int]
    prompt: str
    body: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class FakeAIServer:
    """Start with ``with FakeAIServer() as fake:``; point the app at ``fake.gemini_url``."""

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.calls: list[Call] = []
        self._default: dict[str, Any] = {"mode": "good", "delay": 0.0, "retry_after": None}
        self._next: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._counter = 0
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- life ------------------------------------------------------------------------
    def __enter__(self) -> FakeAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def gemini_url(self) -> str:
        return f"{self.url}/v1beta"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    # -- control ---------------------------------------------------------------------
    def set(
        self,
        mode: str,
        *,
        delay: float = 0.0,
        retry_after: str | None = None,
        times: int | None = None,
    ) -> None:
        """Answer in ``mode`` from now on, or only for the next ``times`` calls."""
        behaviour = {"mode": mode, "delay": delay, "retry_after": retry_after}
        with self._lock:
            if times is None:
                self._default = behaviour
                self._next.clear()
            else:
                self._next.extend(dict(behaviour) for _ in range(times))

    def call_count(self) -> int:
        with self._lock:
            return len(self.calls)

    def _behaviour(self) -> dict[str, Any]:
        with self._lock:
            return self._next.popleft() if self._next else dict(self._default)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _number(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # -- answers ---------------------------------------------------------------------
    def items(self, plan: dict[str, int], broken: str | None = None) -> list[dict[str, Any]]:
        """``plan`` worth of questions; ``broken`` = "all" or "half" to break them."""
        out: list[dict[str, Any]] = []
        for kind, count in plan.items():
            for _ in range(count):
                n = self._number()
                item = _good_item(kind, n)
                if broken == "all" or (broken == "half" and n % 2 == 0):
                    item = _broken_item(item, n)
                out.append(item)
        return out


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a worker killed by a drill) is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _good_item(kind: str, n: int) -> dict[str, Any]:
    a, b = n + 2, n % 7 + 3
    tag = f"(fake #{n})"
    if kind == "single_choice":
        right = a + b
        options = [str(right), str(right + 1), str(right + 2), str(right - 1)]
        return {
            "type": kind,
            "prompt": f"What is {a} + {b}? {tag}",
            "options": options,
            "correct_options": [str(right)],
            "explanation": f"{a} + {b} = {right}.",
        }
    if kind == "multiple_choice":
        numbers = [2 * n, 2 * n + 1, 2 * n + 2, 2 * n + 3]
        return {
            "type": kind,
            "prompt": f"Which of these numbers are even? {tag}",
            "options": [str(x) for x in numbers],
            "correct_options": [str(x) for x in numbers if x % 2 == 0],
            "explanation": "Even numbers are divisible by 2.",
        }
    if kind == "true_false":
        truth = n % 2 == 0
        shown = a + b if truth else a + b + 1
        return {
            "type": kind,
            "prompt": f"{a} + {b} equals {shown}. {tag}",
            "true_false_answer": truth,
            "explanation": f"{a} + {b} = {a + b}.",
        }
    if kind == "short_answer":
        words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        digit = n % 10
        return {
            "type": kind,
            "prompt": f"Write the digit {digit} as a word: _____ {tag}",
            "accepted_answers": [words[digit]],
            "explanation": f"{digit} is written {words[digit]}.",
        }
    return {
        "type": "numeric",
        "prompt": f"What is {a} times {b}? {tag}",
        "numeric_answer": a * b,
        "numeric_tolerance": 0,
        "explanation": f"{a} times {b} = {a * b}.",
    }


def _broken_item(item: dict[str, Any], n: int) -> dict[str, Any]:
    """The item with one of the mistakes real models make."""
    flaw = n % 5
    broken = dict(item)
    if flaw == 0:
        broken["type"] = "single_choice"
        broken["options"] = ["Paris", "Rome", "Berlin", "All of the above"]
        broken["correct_options"] = ["All of the above"]
    elif flaw == 1:
        broken["type"] = "single_choice"
        broken["options"] = ["red", "green", "blue", "yellow"]
        broken["correct_options"] = ["purple"]  # the key is not among the options
    elif flaw == 2:
        broken.pop("prompt")
    elif flaw == 3:
        broken["type"] = "essay_question"
    else:
        broken["type"] = "single_choice"
        broken["options"] = ["same", "Same", "other", "thing"]
        broken["correct_options"] = ["same"]
    return broken


def _plan(prompt: str) -> dict[str, int]:
    match = _PLAN_LINE.search(prompt)
    if match is None:
        return {"single_choice": 1}
    return {kind: int(n) for n, kind in _PLAN_PART.findall(match.group(2))}


def _handler_for(fake: FakeAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            if self.path == "/_fake/calls":
                with fake._lock:
                    calls = [c.__dict__ for c in fake.calls]
                self._json(200, {"count": len(calls), "calls": calls})
            else:
                self._json(404, {"error": {"code": 404, "message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/_fake/mode":
                body = json.loads(raw or b"{}")
                fake.set(
                    body["mode"],
                    delay=float(body.get("delay", 0)),
                    retry_after=body.get("retry_after"),
                    times=body.get("times"),
                )
                self._json(200, {"ok": True})
                return
            gemini = self.path.startswith("/v1beta/models/") and self.path.endswith(
                ":generateContent"
            )
            openai = self.path == "/v1/chat/completions"
            if not (gemini or openai):
                self._json(404, {"error": {"code": 404, "message": f"no route {self.path}"}})
                return
            request = json.loads(raw or b"{}")
            prompt = _prompt_of(request, gemini)
            behaviour = fake._behaviour()
            mode = behaviour["mode"]
            key = (
                self.headers.get("x-goog-api-key")
                if gemini
                else self.headers.get("authorization", "").removeprefix("Bearer ")
            )
            fake._record(Call(self.path, mode, key, _plan(prompt), prompt, request))
            if gemini and fake.api_key and key != fake.api_key:
                mode = "bad_key"
            self._answer(mode, behaviour, prompt, gemini)

        def _answer(self, mode: str, behaviour: dict[str, Any], prompt: str, gemini: bool) -> None:
            if mode == "slow":
                time.sleep(behaviour["delay"])
                mode = "good"
            if mode == "error500":
                self._json(500, {"error": {"code": 500, "message": "Internal error"}})
                return
            if mode == "error429":
                headers = {}
                if behaviour["retry_after"] is not None:
                    headers["Retry-After"] = str(behaviour["retry_after"])
                self._json(429, {"error": {"code": 429, "message": "Quota exceeded"}}, headers)
                return
            if mode == "bad_key":
                self._json(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT",
                        }
                    },
                )
                return
            if mode == "html":
                self._raw(200, b"<html><body>Service temporarily unavailable</body></html>")
                return
            plan = _plan(prompt)
            finish = "STOP"
            if mode == "non_json":
                text = "Sure! Here are some great questions about your topic: 1. What is it?"
            else:
                broken = {"bad_schema": "all", "half_bad": "half"}.get(mode)
                text = json.dumps({"questions": fake.items(plan, broken)})
                if mode == "truncated":
                    text, finish = text[: len(text) // 2], "MAX_TOKENS"
            self._json(200, _envelope(text, finish, prompt, gemini))

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _raw(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _prompt_of(request: dict[str, Any], gemini: bool) -> str:
    try:
        if gemini:
            return str(request["contents"][-1]["parts"][0]["text"])
        return str(request["messages"][-1]["content"])
    except (KeyError, IndexError, TypeError):
        return ""


def _envelope(text: str, finish: str, prompt: str, gemini: bool) -> dict[str, Any]:
    prompt_tokens, output_tokens = len(prompt) // 4, len(text) // 4
    if gemini:
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if finish == "MAX_TOKENS" else "stop",
            }
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": output_tokens},
    }
