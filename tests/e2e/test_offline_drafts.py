"""The default `make run` setup drafts correct questions from a page of text with no
network at all: `quiz serve` runs in a network namespace with only loopback
(``unshare --net``), proven unreachable from inside, and its draft is checked against the
source text here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from quizplatform.domain.drafts import normalise

DRILL = "tests.e2e.offline_drill"
SOURCE = Path(__file__).parents[1] / "fixtures" / "ai" / "photosynthesis.txt"
PREFIXES = re.compile(r"^(true or false|fill in the blank|complete the sentence)[^:]*:\s*", re.I)


def run_without_network(tmp: Path) -> dict[str, Any]:
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed for this drill"
    done = subprocess.run(
        [unshare, "--net", "--map-root-user", sys.executable, "-m", DRILL, str(tmp), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_offline_drafts_need_no_network(tmp_path: Path) -> None:
    result = run_without_network(tmp_path)
    assert "unreachable" in result["unreachable"]
    job, quiz = result["job"], result["quiz"]
    assert (job["status"], job["provider"], job["degraded"]) == ("succeeded", "offline", False)
    assert result["ai_health"]["chain"][0] == "offline"
    questions = quiz["questions"]
    assert len(questions) == 10
    assert len({q["type"] for q in questions}) >= 4  # a mix of the types asked for
    source = normalise(SOURCE.read_text())
    for q in questions:
        check_key_against_source(q, source)


def check_key_against_source(q: dict[str, Any], source: str) -> None:
    """The key is what the text says: a blank filled with it, or a true statement, is in
    the text; a choice question's key is one of its options."""
    prompt = PREFIXES.sub("", q["prompt"])
    kind = q["type"]
    if kind == "short_answer":
        filled = prompt.replace("_____", q["answers"][0]["text"])
        assert normalise(filled).rstrip(".") in source, q
    elif kind == "numeric":
        value = q["answers"][0]["value"]
        number = f"{value:g}" if value != int(value) else f"{int(value)}"
        assert number in source and "_____" in prompt, q
    elif kind == "true_false" and q["answer"]:
        assert normalise(prompt).rstrip(".") in source, q
    elif kind in ("single_choice", "multiple_choice"):
        keys = [o for o in q["options"] if o.get("correct") or o.get("weight", 0) > 0]
        assert keys and len(q["options"]) >= 3, q
        if kind == "single_choice" and "_____" in prompt:
            filled = prompt.replace("_____", keys[0]["text"])
            assert normalise(filled).rstrip(".") in source, q
