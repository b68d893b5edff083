"""Import bombs against a real instance: each is refused (413 or 422) quickly, and the
instance keeps answering ``/health/live`` while it refuses them.

Before: 300,000 empty GIFT questions (1.5 MB) were accepted after 46 s while
``/health/live`` stalled and the instance grew to 1.27 GB."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import Instance, quiz, quiz_env
from tests.e2e.stack_helpers import record_measurements
from tests.unit.domain.formats.test_qti import package, zip_bomb

PASSWORD = "correct-horse-battery-9"


@dataclass
class Server:
    url: str
    headers: dict[str, str]
    pid: int


@dataclass
class Probe:
    """Polls ``/health/live`` every 20 ms in a thread and keeps each latency."""

    url: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get(f"{self.url}/health/live").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
                time.sleep(0.02)

    def __enter__(self) -> Probe:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("bombs")
    env = quiz_env(tmp, QUIZ_RATE_LIMIT_ENABLED="false")
    quiz(["db", "upgrade"], env, tmp)
    instance = Instance(tmp, env)
    try:
        instance.wait_ready(timeout=60)
        account = {"email": "bomber@example.org", "password": PASSWORD}
        httpx.post(
            f"{instance.url}/api/v1/auth/register",
            json={**account, "display_name": "Bomber", "role": "teacher"},
        ).raise_for_status()
        token = httpx.post(f"{instance.url}/api/v1/auth/token", json=account).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        yield Server(instance.url, headers, instance.proc.pid)
    finally:
        instance.stop()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _billion_laughs() -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE quiz [' + "".join(entities) + "]>\n"
        '<quiz><question type="essay"><name><text>&lol9;</text></name>'
        "<questiontext><text>x</text></questiontext></question></quiz>\n"
    )


_ESSAY_QUESTION = (
    '<question type="essay"><name><text>q</text></name>'
    "<questiontext><text>Why?</text></questiontext></question>"
)

# Values built when their test runs (a zip bomb takes a second to make), not at collection.
BOMBS: dict[str, tuple[str, str | bytes | Callable[[], bytes]]] = {
    "gift: 300,000 empty questions": ("gift", "Q{}\n\n" * 300_000),
    "gift: a question with 100,000 options": ("gift", "Q{=a " + "~b " * 100_000 + "}\n"),
    "gift: a 1.9 MB prompt": ("gift", "Q" * 1_900_000 + "{}\n"),
    "aiken: 100,000 questions": ("aiken", "Q?\nA. a\nB. b\nANSWER: A\n\n" * 100_000),
    "json: 300,000 questions": (
        "json",
        json.dumps({"format": "quizplatform", "version": 1, "title": "t", "questions": [{}]})[:-2]
        + ", {}" * 300_000
        + "]}",
    ),
    "json: nested 100,000 deep": ("json", "[" * 100_000 + "]" * 100_000),
    "gift: 3 MB (over the byte limit)": ("gift", "Q{}\n\n" * 600_000),
    "moodle xml: nested entities (billion laughs)": ("moodle_xml", _billion_laughs()),
    "moodle xml: an external entity": (
        "moodle_xml",
        '<?xml version="1.0"?><!DOCTYPE quiz [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<quiz><question type="essay"><name><text>&x;</text></name>'
        "<questiontext><text>x</text></questiontext></question></quiz>",
    ),
    "moodle xml: 3 MB (over the byte limit)": (
        "moodle_xml",
        "<quiz>" + _ESSAY_QUESTION * (3_000_000 // len(_ESSAY_QUESTION)) + "</quiz>",
    ),
    "moodle xml: nested 100,000 deep": ("moodle_xml", "<quiz>" + "<a>" * 100_000 + "</quiz>"),
    "qti: a zip of 200 MB of zeros (200 KB deflated)": ("qti", zip_bomb),
    "qti: nested entities in an item": ("qti", lambda: qti_package({"a.xml": _billion_laughs()})),
}
CONTENT_TYPES = {"moodle_xml": "application/xml", "qti": "application/zip"}


def qti_package(files: dict[str, str]) -> bytes:
    return package({k: v.encode() for k, v in files.items()})


def _my_quizzes(server: Server) -> int:
    r = httpx.get(f"{server.url}/api/v1/quizzes", params={"mine": "true"}, headers=server.headers)
    r.raise_for_status()
    return int(r.json()["total"])


@pytest.mark.parametrize("name", BOMBS)
def test_import_bomb_is_refused_quickly_while_the_instance_stays_live(
    server: Server, name: str
) -> None:
    fmt, text = BOMBS[name]
    made = text() if callable(text) else text
    data = made.encode() if isinstance(made, str) else made
    content_type = CONTENT_TYPES.get(fmt, "text/plain; charset=utf-8")
    quizzes = _my_quizzes(server)
    before = _rss_mib(server.pid)
    with Probe(server.url) as probe:
        time.sleep(0.1)
        started = time.perf_counter()
        r = httpx.post(
            f"{server.url}/api/v1/quizzes/import",
            params={"format": fmt},
            content=data,
            headers={**server.headers, "Content-Type": content_type},
            timeout=120,
        )
        refused_after = time.perf_counter() - started
        time.sleep(0.1)
    after = _rss_mib(server.pid)
    assert r.status_code in (413, 422), (r.status_code, r.text[:300])
    assert r.json()["error"]["code"] in ("payload_too_large", "validation_error")
    assert len(r.content) < 64_000, "the refusal lists a bounded number of problems"
    assert refused_after < 10, refused_after
    if fmt == "qti":  # refused from the zip's directory or the first parse error
        assert refused_after < 2, refused_after
        message = r.json()["error"]["message"]
        assert "nothing was decompressed" in message or "DOCTYPE" in r.text, message
    assert probe.failures == 0
    assert max(probe.latencies) < 1.0, max(probe.latencies)
    assert _my_quizzes(server) == quizzes, "nothing is saved"
    record_measurements(
        f"import-bomb-{fmt}-{len(data)}",
        {
            "bomb": name,
            "bytes": len(data),
            "status": r.status_code,
            "refused_after_ms": round(refused_after * 1000, 1),
            "live_probes": len(probe.latencies),
            "live_max_ms": round(max(probe.latencies) * 1000, 1),
            "rss_before_mib": round(before, 1),
            "rss_after_mib": round(after, 1),
        },
    )
    assert after - before < 200, (before, after)
