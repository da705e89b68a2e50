"""`lesson try`: a learner's answer to one step, judged on real containers in a throwaway store.

The store is brought to the start of the step as a learner who followed the
lesson finds it (the lesson's files and setup, then every earlier step's
solution, less the steps `skip` names: a learner who skipped them), the
answer's commands run there in order, and the step's checks are judged as the
TUI judges them: done only when every check passes after the answer. The
sandbox is removed afterwards, also when Ctrl-C interrupts.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from layerlab.errors import LayerlabError
from layerlab.lessons.checks import CheckResult, Outcome
from layerlab.lessons.model import Lesson
from layerlab.lessons.runner import (
    CHECK_TIMEOUT,
    Dispatch,
    LessonRun,
    Sandbox,
    print_printed,
    print_results,
)


@dataclass(frozen=True)
class Attempt:
    """What the answer did: each command's outcome, the step's checks, and the verdict."""

    step: int  # 0-based
    outcomes: tuple[Outcome, ...]
    results: tuple[CheckResult, ...]
    done: bool
    broken: str = ""  # the lesson's own setup failed: `file:line: ...`


def attempt(
    lesson: Lesson,
    step: int,
    lines: Iterable[str],
    dispatch: Dispatch,
    parent: Path | None = None,
    skip: Iterable[int] = (),
    timeout: float = CHECK_TIMEOUT,
) -> Attempt:
    """Judge `lines` typed at the start of step `step` (0-based); `skip`: earlier steps
    (0-based) whose solution is left out."""
    if not 0 <= step < len(lesson.steps):
        last = len(lesson.steps)
        raise LayerlabError(f"lesson {lesson.name} has steps 1 to {last}, not {step + 1}")
    skipped = set(skip)
    if bad := sorted(i + 1 for i in skipped if not 0 <= i < step):
        raise LayerlabError(f"--skip {bad[0]}: only a step before step {step + 1}")
    cancel = threading.Event()
    with _interrupts_cancel(cancel), Sandbox(dispatch, parent, cancel) as sandbox:
        result = _judge(LessonRun(lesson, sandbox), step, lines, skipped, timeout)
    if cancel.is_set():
        raise KeyboardInterrupt  # the sandbox is gone: exit 130, as Ctrl-C does
    return result


def _judge(
    run: LessonRun, step: int, lines: Iterable[str], skipped: set[int], timeout: float
) -> Attempt:
    lesson, cancel = run.lesson, run.sandbox.cancel
    failed = run.start()
    if failed is not None:
        code = run.last.code if run.last else "?"
        broken = f"{lesson.file}:{failed.line}: setup command {failed.text!r} exited {code}"
        return Attempt(step, (), (), False, broken)
    for index in range(step):
        if index:
            run.begin(index)
        if index not in skipped:
            for command in lesson.steps[index].commands:
                if not cancel.is_set():
                    run.type(command.text)
            run.settle(timeout)
    if step:
        run.begin(step)
    outcomes = tuple(run.type(line) for line in lines if not cancel.is_set())
    results = run.settle(timeout)
    return Attempt(step, outcomes, tuple(results), run.judge(results))


@contextlib.contextmanager
def _interrupts_cancel(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C ends the command that runs as the CLI's does (a wait stops), never in the middle
    of a change to the store (a start cut short would leave a shim writing into the removed
    sandbox), and no further command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: cancel.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def report(lesson: Lesson, result: Attempt, out: TextIO) -> None:
    """Each command with its exit code and what it printed, each check ✔/✘, the verdict."""
    number = result.step + 1
    where = f"{lesson.file}:{lesson.steps[result.step].line}"
    print(f"{lesson.name}, step {number} of {len(lesson.steps)} ({where})", file=out)
    if result.broken:
        print(f"the lesson's start state failed: {result.broken}", file=out)
        return
    for outcome in result.outcomes:
        print(f"$ {outcome.line}  (exit {outcome.code})", file=out)
        print_printed(outcome, out, "    ")
    print_results(list(result.results), out)
    print(f"step {number}: {'done' if result.done else 'not done'}", file=out)
