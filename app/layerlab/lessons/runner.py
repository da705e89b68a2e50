"""Running lessons: a throwaway store per lesson, commands through the CLI, checks on the engine.

`Sandbox` is a lesson's own store (a temporary `LAYERLAB_ROOT`) with a work
folder for the files a step writes and the tars `save -o` makes; it runs a
command line in-process through the CLI's grammar and a `dispatch` the caller
hands in (`layerlab.commands.handlers.dispatch`: the lessons package does not
import the handlers, which import it), and on `close` has its engine remove the
store (containers, mounts and all), then removes the folder. `LessonRun` walks
one lesson in a sandbox step by step (what the TUI drives); `run_auto` plays a
whole lesson unattended and says where it failed, as `file:line`.
"""

from __future__ import annotations

import argparse
import io as _io
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import psutil

from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError, printed
from layerlab.lessons.checks import (
    Baseline,
    CheckResult,
    Context,
    Outcome,
    evaluate_all,
    take_baseline,
)
from layerlab.lessons.loader import (
    PATH_FIELDS,
    command_problem,
    host_paths,
    missing_requirements,
    parse_command,
    parsed_problem,
    unsafe_path,
)
from layerlab.lessons.model import Command, Lesson, Step
from layerlab.lessons.registry import PLACEHOLDER, LessonRegistry
from layerlab.report import Report
from layerlab.storage.store import remove_tree

Dispatch = Callable[[Engine, argparse.Namespace, IO], Report]
CHECK_TIMEOUT = 20.0  # a hang guard while state settles (a `kill` lands), not a measure
POLL = 0.05


class Sandbox:
    """A lesson's own store and work folder, made in `parent` (the system's temp dir)."""

    def __init__(
        self, dispatch: Dispatch, parent: Path | None = None, cancel: threading.Event | None = None
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="layerlab-lesson-", dir=parent))
        self.root = self.dir / "store"
        self.workdir = self.dir / "work"
        self.workdir.mkdir()
        self.engine = Engine(self.root)
        self.dispatch = dispatch
        self.registry: LessonRegistry | None = None  # a lesson's own, once started
        self.closed = False
        # Set: a long wait (`wait`, an attached `run`) ends, as the CLI's Ctrl-C ends it.
        self.cancel = cancel or threading.Event()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_files(self, files: tuple[tuple[str, str], ...]) -> None:
        for name, text in files:
            if error := unsafe_path(name):  # the loader refused these already
                raise LayerlabError(f"{name}: {error}")
            target = self.workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.resolve().is_relative_to(self.workdir.resolve()):
                raise LayerlabError(f"{name}: leaves the lesson's work folder")
            target.write_text(text)

    def run(self, line: str) -> Outcome:
        """Run one command line as the CLI would, capturing its output and exit code."""
        out, err = _io.StringIO(), _io.StringIO()
        problem = command_problem(line, parse=False)
        if problem is not None:
            return Outcome(line, 125, "", f"Error: {problem}\n")
        try:
            ns = parse_command(line)  # a usage error or an unknown word: Docker's exit 1
            if (problem := parsed_problem(ns)) is not None:
                return Outcome(line, 125, "", f"Error: {problem}\n")
            self.anchor(ns)
            cio = IO(out, err, interactive=False, stdin=None, cancel=self.cancel)
            code = self.dispatch(self.engine, ns, cio).code
        except LayerlabError as exc:  # a usage error bare, as Docker's CLI prints it
            print(printed(exc), file=err)
            code = exc.exit_code
        except Exception as exc:  # a bug or an OS failure: the lesson shows it, never crashes
            print(f"Error: {type(exc).__name__}: {exc}", file=err)
            code = 125
        return Outcome(line, code, out.getvalue(), err.getvalue())

    def start_registry(self) -> None:
        """The lesson's registry on loopback, ended with the sandbox (LayerlabError: none)."""
        self.registry = LessonRegistry(self.dir / "registry")
        self.registry.start()

    def anchor(self, ns: argparse.Namespace) -> None:
        """Relative paths (`save -o busybox.tar`, `build .`) mean the lesson's work folder;
        `$REGISTRY` means the lesson's registry."""
        if self.registry is not None:
            _expand(ns, PLACEHOLDER, self.registry.host)
        local = host_paths(ns)
        for attr in PATH_FIELDS.get(ns.cmd, ()):
            value = getattr(ns, attr, None)
            if isinstance(value, str) and value in local:
                if error := unsafe_path(value):
                    raise LayerlabError(f"{value}: {error}")
                setattr(ns, attr, str(self.workdir / value))

    def close(self) -> None:
        """Remove the store through its engine (its containers stopped and removed, nothing
        left mounted), then the work folder."""
        if self.closed:
            return
        self.closed = True
        if self.registry is not None:
            self.registry.stop()
        self.engine.remove_store()
        remove_tree(self.dir)


def _expand(ns: argparse.Namespace, word: str, value: str) -> None:
    """`word` replaced by `value` in every argument of a parsed command."""
    for attr, arg in vars(ns).items():
        if isinstance(arg, str) and word in arg:
            setattr(ns, attr, arg.replace(word, value))
        elif isinstance(arg, list) and any(isinstance(a, str) and word in a for a in arg):
            setattr(ns, attr, [a.replace(word, value) if isinstance(a, str) else a for a in arg])


@dataclass
class LessonRun:
    """One lesson in one sandbox, a step at a time: what the TUI's lesson pane drives.

    `start()` writes the lesson's files and runs its setup; `begin(i)` enters
    step i (writes its files, notes the baseline); `type(line)` runs a command
    the learner typed; `results()` evaluates the step's checks now.
    """

    lesson: Lesson
    sandbox: Sandbox
    index: int = 0
    last: Outcome | None = None  # the last command typed in this step; None: none yet
    baseline: Baseline = field(default_factory=Baseline)
    done: set[int] = field(default_factory=set)  # the steps done; a skipped step never is

    @property
    def step(self) -> Step:
        return self.lesson.steps[self.index]

    def start(self) -> Command | None:
        """The lesson's start state; returns the setup command that failed, if one did (its
        registry that did not start: the lesson's first line)."""
        if self.lesson.registry:
            try:
                self.sandbox.start_registry()
            except LayerlabError as exc:
                self.last = Outcome("(the lesson's registry)", 1, "", f"{exc}\n")
                return Command("(the lesson's registry)", self.lesson.line)
        self.sandbox.write_files(self.lesson.files)
        for command in self.lesson.setup:
            outcome = self.sandbox.run(command.text)
            if outcome.code != 0:
                self.last = outcome
                return command
        self.begin(0)
        return None

    def begin(self, index: int) -> None:
        self.index = index
        self.last = None
        self.sandbox.write_files(self.step.files)
        self.baseline = take_baseline(self.sandbox.engine, self.sandbox.registry)

    def type(self, line: str) -> Outcome:
        self.last = self.sandbox.run(line)
        return self.last

    def context(self) -> Context:
        sandbox = self.sandbox
        return Context(sandbox.engine, self.last, self.baseline, sandbox.workdir, sandbox.registry)

    def results(self) -> list[CheckResult]:
        return evaluate_all(self.step.checks, self.context())

    def settle(self, timeout: float = CHECK_TIMEOUT) -> list[CheckResult]:
        """The checks once all pass, or once nothing is left to land (a process that ended
        but whose exit its shim has not recorded yet), or as they stand at the hang guard."""
        deadline = time.monotonic() + timeout
        while True:
            still = steady(self.sandbox.engine)
            results = self.results()
            ended = still or self.sandbox.cancel.is_set() or time.monotonic() > deadline
            if ended or all(r.ok for r in results):
                return results
            time.sleep(POLL)

    def judge(self, results: list[CheckResult]) -> bool:
        """Whether the step is done, noted if so: every check passes after a command typed
        in the step (a state that held before the learner did anything is not their work)."""
        ok = self.passes(results)
        if ok:
            self.done.add(self.index)
        return ok

    def passes(self, results: list[CheckResult]) -> bool:
        return self.last is not None and bool(results) and all(r.ok for r in results)

    @property
    def lesson_done(self) -> bool:
        """Every step done: a step skipped (Ctrl+N) keeps the lesson unfinished."""
        return len(self.done) == len(self.lesson.steps)


def steady(engine: Engine) -> bool:
    """No container between two states: each one the store says runs has its own command
    running (not a zombie its shim is about to record, not runc's init before its exec)."""
    for container in engine.containers(all=True):
        if not container.running:
            continue
        try:
            process = psutil.Process(int(container.state.get("Pid") or 0))
            if process.status() == psutil.STATUS_ZOMBIE or process.name().startswith("runc"):
                return False
        except (psutil.Error, ValueError):
            return False
    return True


@dataclass
class AutoResult:
    lesson: Lesson
    passed: bool
    skipped: bool = False
    where: str = ""  # file:line of the failure
    message: str = ""


def run_auto(
    lesson: Lesson,
    dispatch: Dispatch,
    out: TextIO,
    parent: Path | None = None,
    timeout: float = CHECK_TIMEOUT,
) -> AutoResult:
    """Play a lesson unattended in a sandbox: every step's commands, then its checks.

    Stops at the first failing check (or failing setup command), naming its
    `file:line`. A lesson that `requires` what the CLI lacks is skipped with a note.
    """
    missing = missing_requirements(lesson.requires)
    if missing:
        note = f"needs {', '.join(missing)}, which this layerlab does not have yet"
        print(f"{lesson.name}: skipped: {note}", file=out)
        return AutoResult(lesson, passed=True, skipped=True, where=lesson.where, message=note)
    print(f"{lesson.name}: {lesson.title}", file=out)
    with Sandbox(dispatch, parent) as sandbox:
        run = LessonRun(lesson, sandbox)
        failed = run.start()
        if failed is not None:
            where = f"{lesson.file}:{failed.line}"
            message = f"setup command {failed.text!r} exited {run.last.code if run.last else '?'}"
            _print_output(run.last, out)
            print(f"{where}: {message}", file=out)
            return AutoResult(lesson, False, where=where, message=message)
        for index, step in enumerate(lesson.steps):
            if index:
                run.begin(index)
            print(f"  step {index + 1}/{len(lesson.steps)}", file=out)
            for command in step.commands:
                outcome = run.type(command.text)
                print(f"    $ layerlab {command.text}  (exit {outcome.code})", file=out)
            results = run.settle(timeout)
            print_results(results, out, "    ")
            bad = next((r for r in results if not r.ok), None)
            if bad is not None:
                _print_output(run.last, out)
                print(f"{bad.check.where}: check failed: {bad}", file=out)
                return AutoResult(lesson, False, where=bad.check.where, message=str(bad))
    return AutoResult(lesson, True)


def print_results(results: list[CheckResult], out: TextIO, indent: str = "") -> None:
    for r in results:
        print(f"{indent}{'✔' if r.ok else '✘'} {r}", file=out)


def _print_output(outcome: Outcome | None, out: TextIO) -> None:
    if outcome is None:
        return
    print(f"    the last command, {outcome.line!r}, printed:", file=out)
    print_printed(outcome, out, "      ")


def print_printed(outcome: Outcome, out: TextIO, indent: str) -> None:
    """What a command printed, its last 20 lines."""
    for line in outcome.output.splitlines()[-20:]:
        print(f"{indent}{line}", file=out)


def run_all(
    lessons: list[Lesson], dispatch: Dispatch, out: TextIO, parent: Path | None = None
) -> list[AutoResult]:
    """Every lesson in order, stopping at the first that fails."""
    results = []
    for lesson in lessons:
        result = run_auto(lesson, dispatch, out, parent)
        results.append(result)
        if not result.passed:
            break
    return results


def temp_parent() -> Path | None:
    """Where sandboxes go: `$LAYERLAB_LESSON_TMP` if set, else the system's temp folder."""
    value = os.environ.get("LAYERLAB_LESSON_TMP")
    return Path(value) if value else None
