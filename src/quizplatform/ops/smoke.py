"""``quiz smoke URL``: the post-deploy check. A short real journey over HTTP (health,
sign in as the smoke account, take its unlisted quiz, check the score, sign out) and,
when given the internal listener's address, the metrics. Used by the CI/CD pipeline and
by operators; it runs the app as a client only (nothing of the app is imported)."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: A metric every instance exports once it has served a request (``runtime/metrics.py``).
METRICS_PROBE = "http_requests_total"


class SmokeError(Exception):
    """A step's check failed (its message says what was expected and what came)."""


@dataclass(frozen=True)
class SmokeCredentials:
    """The credentials file written by ``quiz smoke setup`` (JSON, 0600)."""

    email: str
    password: str
    quiz_id: str

    @classmethod
    def load(cls, path: Path) -> SmokeCredentials:
        """Read a credentials file; SmokeError if it is missing or malformed."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SmokeError(f"cannot read the credentials file {path}: {exc}") from exc
        fields = ("email", "password", "quiz_id")
        missing = [f for f in fields if not isinstance(data, dict) or not data.get(f)]
        if missing:
            raise SmokeError(
                f"the credentials file {path} lacks {', '.join(missing)}: "
                "write it with `quiz smoke setup --credentials-file FILE`"
            )
        return cls(*(str(data[f]) for f in fields))

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps(asdict(self), indent=2) + "\n"


@dataclass(frozen=True)
class Step:
    """One step of the journey: passed or not, how long it took, what it found."""

    name: str
    ok: bool
    ms: float
    detail: str = ""


@dataclass
class SmokeReport:
    """The journey's steps in order; it stops at the first failure."""

    url: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every step ran and passed."""
        return bool(self.steps) and all(s.ok for s in self.steps)

    def failed_step(self) -> Step | None:
        """The step that failed, if one did."""
        return next((s for s in self.steps if not s.ok), None)

    def as_dict(self) -> dict[str, Any]:
        """The report for ``--json``."""
        return {
            "url": self.url,
            "ok": self.ok,
            "steps": [asdict(s) | {"ms": round(s.ms, 1)} for s in self.steps],
        }


def describe_http_error(url: str, exc: httpx.HTTPError) -> str:
    """A one-line reason for a transport error ("cannot reach URL: connection refused")."""
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc) or "connection failed"
        if "refused" in reason.lower():
            reason = "connection refused"
        elif "name or service" in reason.lower() or "nodename" in reason.lower():
            reason = "unknown host"
        return f"cannot reach {url}: {reason}"
    if isinstance(exc, httpx.TimeoutException):
        return f"cannot reach {url}: timed out"
    return f"{url}: {type(exc).__name__}: {exc}"


def tls_verify(ca_file: Path | None, insecure: bool) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the given CA, no check at all, or the system's store."""
    if insecure:
        return False
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    return True


class _Journey:
    def __init__(
        self,
        client: httpx.Client,
        credentials: SmokeCredentials,
        pool_secret: str | None,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.headers = {"X-Quiz-Pool": pool_secret} if pool_secret else {}
        self.token = ""
        self.attempt: dict[str, Any] = {}

    def _call(self, method: str, path: str, expect: tuple[int, ...], **kw: Any) -> httpx.Response:
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        answer = self.client.request(method, path, headers=headers, **kw)
        if answer.status_code not in expect:
            raise SmokeError(f"{method} {path} answered {answer.status_code}: {_brief(answer)}")
        return answer

    def live(self) -> str:
        self._call("GET", "/health/live", (200,))
        return "200"

    def ready(self) -> str:
        self._call("GET", "/health/ready", (200,))
        return "200"

    def sign_in(self) -> str:
        c = self.credentials
        body = {"email": c.email, "password": c.password}
        try:
            answer = self._call("POST", "/api/v1/auth/token", (200,), json=body)
        except SmokeError as exc:
            raise SmokeError(f"{exc} (check the credentials file)") from exc
        self.token = str(answer.json()["access_token"])
        return c.email

    def find_quiz(self) -> str:
        listed = self._call("GET", "/api/v1/quizzes", (200,), params={"mine": "true"})
        ids = [item.get("id") for item in listed.json().get("items", [])]
        if self.credentials.quiz_id not in ids:
            raise SmokeError(
                f"the smoke quiz {self.credentials.quiz_id} is not among the account's "
                "quizzes (run `quiz smoke setup` again)"
            )
        return self.credentials.quiz_id

    def start(self) -> str:
        path = f"/api/v1/quizzes/{self.credentials.quiz_id}/attempts"
        self.attempt = self._call("POST", path, (200, 201)).json()
        return f"attempt {self.attempt['id']}"

    def answer(self) -> str:
        questions = self.attempt.get("questions", [])
        for question in questions:
            if question.get("type") != "true_false":
                raise SmokeError(f"unexpected {question.get('type')} question in the smoke quiz")
            path = f"/api/v1/attempts/{self.attempt['id']}/responses/{question['id']}"
            self._call("PUT", path, (200,), json={"value": True})
        return f"{len(questions)} answered"

    def submit(self) -> str:
        path = f"/api/v1/attempts/{self.attempt['id']}/submit"
        result = self._call("POST", path, (200,)).json()
        score, best = result.get("score"), result.get("max_score")
        if result.get("status") != "submitted" or not best or score != best:
            raise SmokeError(f"expected full marks, got {score}/{best} ({result.get('status')})")
        return f"score {score:g}/{best:g}"

    def sign_out(self) -> str:
        self._call("POST", "/api/v1/auth/logout", (204,))
        self.token = ""
        return "token revoked"


def _brief(answer: httpx.Response) -> str:
    text = " ".join(answer.text.split())
    return text[:160] if text else "(empty)"


def check_metrics(metrics_url: str, verify: ssl.SSLContext | bool, timeout: float) -> str:
    """The internal listener's metrics page answers and carries the request counter."""
    answer = httpx.get(metrics_url, verify=verify, timeout=timeout)
    if answer.status_code != 200:
        raise SmokeError(f"GET {metrics_url} answered {answer.status_code}")
    if METRICS_PROBE not in answer.text:
        raise SmokeError(f"{metrics_url} has no {METRICS_PROBE}")
    return f"{len(answer.text.splitlines())} lines"


def run_smoke(
    url: str,
    credentials: SmokeCredentials,
    *,
    pool_secret: str | None = None,
    metrics_url: str | None = None,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> SmokeReport:
    """Run the journey against ``url`` (the public address); stop at the first failure.
    (``transport`` replaces the network in tests.)"""
    url = url.rstrip("/")
    report = SmokeReport(url)
    with httpx.Client(base_url=url, verify=verify, timeout=timeout, transport=transport) as client:
        journey = _Journey(client, credentials, pool_secret)
        steps: list[tuple[str, Callable[[], str]]] = [
            ("live", journey.live),
            ("ready", journey.ready),
            ("sign in", journey.sign_in),
            ("find the smoke quiz", journey.find_quiz),
            ("start an attempt", journey.start),
            ("answer", journey.answer),
            ("submit and score", journey.submit),
            ("sign out", journey.sign_out),
        ]
        if metrics_url:
            steps.append(("metrics", lambda: check_metrics(metrics_url, verify, timeout)))
        for name, action in steps:
            step = _timed(name, action, metrics_url if metrics_url and name == "metrics" else url)
            report.steps.append(step)
            if not step.ok:
                break
    return report


def _timed(name: str, action: Callable[[], str], target: str) -> Step:
    started = time.perf_counter()
    try:
        detail, ok = action(), True
    except SmokeError as exc:
        detail, ok = str(exc), False
    except httpx.HTTPError as exc:
        detail, ok = describe_http_error(target, exc), False
    except (ValueError, KeyError, TypeError) as exc:  # an answer that is not the API's JSON
        detail, ok = f"unexpected answer: {type(exc).__name__}: {exc}", False
    return Step(name, ok, (time.perf_counter() - started) * 1000, detail)
