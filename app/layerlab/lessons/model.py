"""What a lesson is once loaded: typed, immutable records a face can show and a runner can run.

A `Lesson` is steps; a `Step` has prose (Markdown), the command lines to type,
declarative `Check`s against the engine, progressive hints and a solution.
Every record keeps the line of the lesson file it came from, so a failure
names `file:line`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lesson file, printed as `file:line: message`."""

    file: Path
    line: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Check:
    """One declarative check: its kind (a key of `checks.CHECKS`) and its arguments."""

    kind: str
    args: dict[str, str | int]
    file: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One command line to type (`docker` or `layerlab` in front is accepted)."""

    text: str
    line: int


@dataclass(frozen=True)
class NearMiss:
    """A wrong answer the step must refuse: commands typed at its start, optionally by a
    learner who skipped earlier steps (`skip`, 0-based: their commands are left out)."""

    commands: tuple[Command, ...]
    line: int
    skip: tuple[int, ...] = ()


@dataclass(frozen=True)
class Step:
    prose: str  # Markdown
    commands: tuple[Command, ...]
    checks: tuple[Check, ...]
    hints: tuple[str, ...]  # shown one at a time
    solution: str  # Markdown; the commands are the solution when the file gives none
    line: int
    files: tuple[tuple[str, str], ...] = ()  # (relative path, text) written when the step begins
    near_misses: tuple[NearMiss, ...] = ()  # what `lesson try` proves the checks refuse


@dataclass(frozen=True)
class Lesson:
    name: str  # the file name without its order prefix and suffix: `01-images.yaml` -> `images`
    title: str
    file: Path
    steps: tuple[Step, ...]
    summary: str = ""
    requires: tuple[str, ...] = ()  # commands or flags it needs, e.g. `cp`, `run -v`
    setup: tuple[Command, ...] = ()  # run before step 1, unseen: the lesson's start state
    files: tuple[tuple[str, str], ...] = ()  # written before the setup runs
    registry: bool = False  # a registry of its own on loopback, `$REGISTRY` in its commands
    line: int = 1
    order: str = field(default="")  # the file's stem, which orders the course

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def split_command(text: str) -> list[str]:
    """The words of a command line, without a leading `docker` or `layerlab` (ValueError: a
    quote left open)."""
    words = shlex.split(text)
    if words and words[0] in ("docker", "layerlab"):
        words = words[1:]
    return words
