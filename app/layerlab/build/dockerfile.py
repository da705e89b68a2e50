"""The Dockerfile: bytes parsed into stages of instructions, checked before any step runs.

Lines are joined (continuations, comments, the escape directive), checked, and
the argument forms of ENV/LABEL, ARG, COPY/ADD, HEALTHCHECK, ONBUILD and FROM
read as Docker's parser reads them, so a typo fails the build with Docker's
message and line number before step 1. `--build-arg` values are parsed here
too: they meet the Dockerfile's ARGs.

A Dockerfile is untrusted: every pass is linear in its size (a 10 MB line is
read once, never rebuilt a character at a time), and an error quotes at most a
short prefix of what it was given. (This replaced dockerfile-parse, whose
continuation joining is quadratic and which loaded `logging` into every build.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from layerlab.build.instructions import json_array, name_values, parse_healthcheck, parse_onbuild
from layerlab.build.lexer import clip, parse_words
from layerlab.errors import BuildError, LayerlabError

KNOWN = frozenset(
    "FROM RUN CMD ENTRYPOINT ENV ARG WORKDIR COPY ADD LABEL USER EXPOSE VOLUME STOPSIGNAL "
    "SHELL MAINTAINER HEALTHCHECK ONBUILD".split()
)
STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9-_.]*$")


@dataclass(repr=False, eq=False)  # cheap to define: this module loads on every build
class Instruction:
    """One instruction, continuation lines joined."""

    keyword: str  # upper-case
    args: str  # the arguments as written, continuation lines joined
    original: str  # what `Step N/M :` prints
    line: int  # 1-based

    def error(self, message: str) -> BuildError:
        return BuildError(f"Dockerfile:{self.line}: {message}")


@dataclass(repr=False, eq=False)
class Stage:
    """A FROM and the instructions after it."""

    index: int
    base: str
    name: str | None
    source: Instruction
    steps: list[Instruction] = field(default_factory=list)


@dataclass(repr=False, eq=False)
class Dockerfile:
    """The parsed file: ARGs before the first FROM, then the stages."""

    meta_args: list[Instruction]
    stages: list[Stage]
    escape: str


_ESCAPE_DIRECTIVE = re.compile(r"^\s*#\s*escape\s*=\s*(\\|`)\s*$", re.I)
_DIRECTIVE = re.compile(r"^\s*#\s*[a-z][a-z0-9]*\s*=", re.I)


def _escape_token(lines: list[str]) -> str:
    for line in lines:
        match = _ESCAPE_DIRECTIVE.match(line)
        if match:
            return match.group(1)
        if not _DIRECTIVE.match(line):
            break
    return "\\"


def _logical_lines(lines: list[str], escape: str) -> Iterator[tuple[int, str]]:
    """(1-based first line, text) of each instruction, as Docker's parser joins them.

    A line whose last non-blank character is the escape token continues on the
    next; comment lines and empty lines inside a continuation are skipped; the
    first line loses its leading blanks, continuation lines keep theirs. One
    pass, the parts joined once: linear in the Dockerfile's size.
    """
    index, count = 0, len(lines)
    while index < count:
        line = lines[index].lstrip()
        index += 1
        if not line or line.startswith("#"):
            continue
        start = index
        parts: list[str] = []
        while True:
            stripped = line.rstrip(" \t")
            if not stripped.endswith(escape):
                parts.append(line)
                break
            parts.append(stripped[: -len(escape)])
            while index < count and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
            if index >= count:
                break
            line = lines[index]
            index += 1
        yield start, "".join(parts)


def parse_dockerfile(data: bytes, name: str = "Dockerfile") -> Dockerfile:
    """Bytes -> stages of instructions, every syntax error found before any step runs."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BuildError(f"the Dockerfile ({name}) is not a text file") from None
    lines = text.splitlines()
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lines):
        raise BuildError(f"the Dockerfile ({name}) cannot be empty")
    escape = _escape_token(lines)

    meta_args: list[Instruction] = []
    stages: list[Stage] = []
    for number, line in _logical_lines(lines, escape):
        if not line.strip():  # only an escape, continued into nothing: Docker's words
            raise BuildError(f"Dockerfile:{number}: unknown instruction: ")
        written, *rest = line.split(None, 1)
        keyword = written.upper()
        value = rest[0].strip() if rest else ""
        inst = Instruction(keyword, value, f"{written} {value}", number)
        if keyword not in KNOWN:
            raise inst.error(f"unknown instruction: {clip(written)}")
        if not value:
            raise inst.error(f"{keyword} requires at least one argument")
        if keyword == "FROM":
            stages.append(_parse_from(inst, len(stages), stages))
        elif not stages:
            if keyword != "ARG":
                raise inst.error(
                    f"{keyword} before the first FROM: no build stage in current context"
                )
            parse_arg_words(inst, escape)
            meta_args.append(inst)
        else:
            validate(inst, escape)
            stages[-1].steps.append(inst)
    if not stages:
        raise BuildError(f"the Dockerfile ({name}) has no FROM: no build stage")
    return Dockerfile(meta_args, stages, escape)


def _parse_from(inst: Instruction, index: int, earlier: list[Stage]) -> Stage:
    words = [w for w in inst.args.split() if not w.startswith("--platform=")]
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        raise inst.error("FROM requires either one or three arguments")
    name = words[2].lower() if len(words) == 3 else None
    if name is not None:
        if not STAGE_NAME_RE.match(name):
            raise inst.error(
                f'invalid name for build stage: "{clip(words[2])}", name can\'t start with a '
                "number or contain symbols"
            )
        if any(stage.name == name for stage in earlier):
            raise inst.error(f"duplicate name {name}")
    return Stage(index, words[0], name, inst)


def validate(inst: Instruction, escape: str) -> None:
    """Syntax checks that need no state, so a typo fails the build before step 1."""
    keyword = inst.keyword
    if keyword in ("ENV", "LABEL"):
        parse_name_val(inst, escape)
    elif keyword == "ARG":
        parse_arg_words(inst, escape)
    elif keyword in ("COPY", "ADD"):
        split_copy_args(inst)
    elif keyword == "SHELL" and json_array(inst.args) is None:
        raise inst.error("SHELL requires the arguments to be in JSON form")
    elif keyword == "HEALTHCHECK":
        try:
            parse_healthcheck(inst.args)
        except LayerlabError as exc:
            raise inst.error(str(exc)) from None
    elif keyword == "ONBUILD":
        parse_trigger(inst)


def parse_trigger(inst: Instruction) -> str:
    """ONBUILD's trigger as stored: checked here as an instruction of its own would be."""
    try:
        trigger = parse_onbuild(inst.args)
    except LayerlabError as exc:
        raise inst.error(str(exc)) from None
    keyword = trigger.split(None, 1)[0].upper()
    if keyword not in KNOWN:
        raise inst.error(f"unknown instruction: {clip(keyword)}")
    return trigger


def trigger_instruction(trigger: str, line: int, escape: str) -> Instruction:
    """An ONBUILD trigger of the base image as the instruction it runs, at FROM's `line`,
    checked as Docker's initializeStage checks it."""
    written, *rest = trigger.split(None, 1) or [""]
    value = rest[0].strip() if rest else ""
    inst = Instruction(written.upper(), value, trigger, line)
    if inst.keyword == "ONBUILD":
        raise inst.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if inst.keyword in ("MAINTAINER", "FROM"):
        raise inst.error(f"{inst.keyword} isn't allowed as an ONBUILD trigger")
    if inst.keyword not in KNOWN:
        raise inst.error(f"unknown instruction: {clip(written)}")
    if not value:
        raise inst.error(f"{inst.keyword} requires at least one argument")
    validate(inst, escape)
    return inst


def read_dockerfile(context: Path, dockerfile: str | None, text: bytes | None) -> tuple[str, bytes]:
    """(its name for messages, its bytes): `dockerfile` (-f) is relative to the current
    directory; `text` is one read from stdin (-f -)."""
    if text is not None:
        return "Dockerfile", text
    if dockerfile:
        path = Path(dockerfile).absolute()
        name = dockerfile
    else:
        path = context / "Dockerfile"
        if not path.exists() and (context / "dockerfile").exists():
            path = context / "dockerfile"
        name = path.name
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise BuildError(f"the Dockerfile ({name}) is a directory") from None
    except OSError:
        raise BuildError(f"Cannot locate specified Dockerfile: {name}") from None
    return name, data


def parse_name_val(inst: Instruction, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL arguments: `K=V K2="v 2"` (quotes still in), or the legacy `K some value`."""
    try:
        return name_values(parse_words(inst.args, escape), inst.args, inst.keyword)
    except LayerlabError as exc:
        raise inst.error(str(exc)) from None


def parse_arg_words(inst: Instruction, escape: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for word in parse_words(inst.args, escape):
        key, sep, value = word.partition("=")
        if not key:
            raise inst.error("ARG names can not be blank")
        pairs.append((key, value if sep else None))
    if not pairs:
        raise inst.error("ARG requires at least one argument")
    return pairs


def split_copy_args(inst: Instruction) -> tuple[dict[str, str], list[str]]:
    """`[--chown=u:g] [--from=x] src... dest`, the shell or the JSON form."""
    rest = inst.args
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, sep, value = flag[2:].partition("=")
        allowed = ("chown", "from") if inst.keyword == "COPY" else ("chown",)
        if name == "chmod":
            raise inst.error("the --chmod option requires BuildKit")
        if name not in allowed or not sep:
            raise inst.error(
                f"Unknown flag: {clip(name)}" if name not in allowed else f"--{name} needs a value"
            )
        flags[name] = value
    words = json_array(rest)
    if words is None:
        words = rest.split()
    if len(words) < 2:
        raise inst.error(
            f"{inst.keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined."
        )
    return flags, words


def parse_build_args(values: list[str]) -> dict[str, str | None]:
    """`--build-arg K=V`; a bare `K` takes $K from our environment, or stays unset."""
    args: dict[str, str | None] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise BuildError(
                f'invalid argument "{value}" for "--build-arg" flag: '
                f"invalid environment variable: {value}",
                exit_code=125,
            )
        args[key] = val if sep else os.environ.get(key)
    return args
