"""A small reader of the repository's Dockerfile for the deployment tests: instructions
with their stage, the ARG defaults, the runtime stage's ENV, HEALTHCHECK and commands."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BUILD_SCRIPT = ROOT / "scripts" / "build-runtime-env.sh"
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), its arguments as written, its stage."""

    keyword: str
    args: str
    stage: int  # 0 before the first FROM (global ARGs), then 1, 2, ...

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of the arguments, e.g. ``ENTRYPOINT ["quiz"]``."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value


def instructions(text: str | None = None) -> list[Instruction]:
    """The instructions of the Dockerfile (comments dropped, continuations joined)."""
    source = DOCKERFILE.read_text() if text is None else text
    logical: list[str] = []
    pending = ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stage = 0
    found: list[Instruction] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        found.append(Instruction(keyword.upper(), args.strip(), stage))
    return found


def stage_of(found: list[Instruction], stage: int) -> list[Instruction]:
    """The instructions of one stage (-1: the last, the image that is shipped)."""
    last = max(i.stage for i in found)
    wanted = last if stage < 0 else stage
    return [i for i in found if i.stage == wanted]


def pairs(args: str) -> dict[str, str]:
    """``KEY=value`` pairs of an ENV, ARG or LABEL instruction (quotes removed)."""
    values: dict[str, str] = {}
    for word in shlex.split(args):
        key, sep, value = word.partition("=")
        values[key] = value if sep else ""
    return values


def substitute(value: str, variables: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by their values (unknown names: left as is)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return _VARIABLE.sub(one, value)


def global_args(found: list[Instruction]) -> dict[str, str]:
    """The ARG defaults declared before the first FROM (usable in FROM lines)."""
    values: dict[str, str] = {}
    for i in found:
        if i.stage == 0 and i.keyword == "ARG":
            values.update(pairs(i.args))
    return values


def base_images(found: list[Instruction]) -> list[str]:
    """Each FROM's image with the global ARG defaults filled in (stage names resolved
    to nothing: a FROM naming an earlier stage is not a base image)."""
    names: set[str] = set()
    images: list[str] = []
    defaults = global_args(found)
    for i in found:
        if i.keyword != "FROM":
            continue
        words = [w for w in i.args.split() if not w.startswith("--")]
        image = substitute(words[0], defaults)
        if image not in names:
            images.append(image)
        if len(words) == 3 and words[1].upper() == "AS":
            names.add(words[2])
    return images


def runtime_env(build_args: dict[str, str]) -> dict[str, str]:
    """The ENV of the shipped stage, its ARGs filled with ``build_args`` or defaults;
    ``$PATH`` is left for the caller."""
    variables: dict[str, str] = {}
    env: dict[str, str] = {}
    for i in stage_of(instructions(), -1):
        if i.keyword == "ARG":
            for key, default in pairs(i.args).items():
                variables[key] = build_args.get(key, default)
        elif i.keyword == "ENV":
            for key, value in pairs(i.args).items():
                env[key] = substitute(value, variables)
    return env


def last(found: list[Instruction], keyword: str) -> Instruction:
    """The instruction that counts (the last of its kind) in the shipped stage."""
    matching = [i for i in stage_of(found, -1) if i.keyword == keyword]
    assert matching, f"the shipped stage has no {keyword}"
    return matching[-1]


def healthcheck_command(found: list[Instruction]) -> list[str]:
    """The exec-form command of the shipped stage's HEALTHCHECK (options skipped)."""
    args = last(found, "HEALTHCHECK").args
    _, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    value = json.loads(command)
    assert isinstance(value, list)
    return [str(v) for v in value]
