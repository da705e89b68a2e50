"""The lesson pane: one lesson, a step at a time, in a store of its own.

The pane owns the lesson's `Sandbox` (a throwaway store and work folder) and
its `LessonRun`; while it is open the app reads and runs commands through the
sandbox's engine (`LayerlabApp.switch_engine`), so the learner's own store is
never touched. The app hands the pane each command it runs (`prepare` anchors
relative paths in the lesson's work folder; `tee` and `ran` keep what the
command printed, for `output_has`); the checks re-run after each command, on
every store change and once a second (a process may end by itself).

The demonstration (`play`) types each command into the command bar a
character at a time, runs it, waits for the step's checks, and pauses
between steps: space pauses and resumes, → goes on at once.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from typing import ClassVar, Protocol, TextIO, cast

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.worker import get_current_worker

from layerlab.commands.handlers import dispatch
from layerlab.engine import Engine
from layerlab.lessons.checks import CheckResult, Outcome
from layerlab.lessons.model import Lesson
from layerlab.lessons.progress import Progress
from layerlab.lessons.runner import LessonRun, Sandbox, temp_parent
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.look import component_style, on_theme_change

RECHECK_SECONDS = 1.0
DEMO_CHECK_TIMEOUT = 20.0  # a hang guard while a step's state lands, not a measure
KEYS = (
    "F9 paste command · F10 hint · ⇧F10 solution · ⇧F9/^N next · ^B back · ^R restart · "
    "⇧F7 fold · F7 lessons"
)
FOLDED_KEYS = "⇧F7 read the step · F10 hint · ⇧F10 solution · ⇧F9 next · ^B back"
FOLDED_CHECK = 90  # a check's characters at most, folded (its "now" may be a whole JSON)
# Below this size the pane folds into a strip above the panels (⇧F7 unfolds it).
ROOMY = (140, 40)


class LessonHost(Protocol):
    """What the pane needs of the app (`LayerlabApp`), which imports the pane."""

    command_bar: CommandBar
    commands_done: int
    demo_failed: list[str]  # "lesson step N" for each step a demo left with a failing check

    def switch_engine(self, engine: Engine) -> None: ...


class Tee(io.StringIO):
    """A command's output stream that also keeps what it wrote (for `output_has`)."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, s: str) -> int:
        self.inner.write(s)
        return super().write(s)

    def flush(self) -> None:
        self.inner.flush()


class LessonPane(Vertical, can_focus=True):
    """Step n of m, the prose, the command to type, the live checks, hints and solution."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "lesson-pane--ok",
        "lesson-pane--failed",
        "lesson-pane--done",
        "lesson-pane--command",
        "lesson-pane--head",
        "lesson-pane--keys",
    }
    """
    | Class | Description |
    | :- | :- |
    | `lesson-pane--ok` | A check that passes (its ✔). |
    | `lesson-pane--failed` | A check that fails (its ✘), and a setup that failed. |
    | `lesson-pane--done` | "step done", "lesson done!". |
    | `lesson-pane--command` | The command to type. |
    | `lesson-pane--head` | The lesson's name and step. |
    | `lesson-pane--keys` | The keys, beside the step in the strip. |
    """
    DEFAULT_CSS = """
    LessonPane {
        dock: right;
        width: 46%;
        max-width: 64;
        border-left: vkey $accent 50%;
        background: $surface;
        padding: 0 1;
        &:focus { background: $boost; }
        & > .lesson-pane--ok { color: $text-success; }
        & > .lesson-pane--failed { color: $text-error; text-style: bold; }
        & > .lesson-pane--done { color: $text-success; text-style: bold; }
        & > .lesson-pane--command { text-style: bold; }
        & > .lesson-pane--head { text-style: bold; color: $text-accent; }
        & > .lesson-pane--keys { color: $text-muted; }
        #lesson-prose-box { height: 1fr; min-height: 4; }
        #lesson-prose { margin: 0; padding: 0; }
        #lesson-command { margin-top: 1; }
        #lesson-checks { height: auto; margin-top: 1; }
        #lesson-help { height: auto; max-height: 10; margin: 0; padding: 0; }
        #lesson-keys { color: $text-muted; height: auto; }
        /* Unfolded on a cramped screen: the step to read, over the panels. */
        &.-reading { width: 100%; max-width: 100%; border-left: none; }
        /* Folded: a strip above the panels - the step, the command, the checks. */
        &.-folded {
            dock: top;
            width: 100%;
            max-width: 100%;
            height: auto;
            max-height: 50%;
            border-left: none;
            background: $boost;
            #lesson-prose-box, #lesson-keys { display: none; }
            #lesson-command, #lesson-checks { margin-top: 0; }
            #lesson-head { text-wrap: nowrap; text-overflow: ellipsis; }
            #lesson-checks { max-height: 3; }
            #lesson-help { max-height: 4; overflow-y: auto; }
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause/resume", show=False),
        Binding("right", "skip", "Next now", show=False),
    ]

    class Ready(Message):
        """The lesson's start state is set up (or its setup failed)."""

        def __init__(self, run: LessonRun, failed: str | None) -> None:
            super().__init__()
            self.run = run
            self.failed = failed

    class Checked(Message):
        def __init__(self, run: LessonRun, index: int, results: list[CheckResult]) -> None:
            super().__init__()
            self.run = run
            self.index = index
            self.results = results

    class Begun(Message):
        """A step began: its files are written and its baseline taken."""

        def __init__(self, run: LessonRun) -> None:
            super().__init__()
            self.run = run

    class Ran(Message):
        def __init__(self, outcome: Outcome) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, lesson: Lesson, progress: Progress, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lesson = lesson
        self.progress = progress
        self.sandbox: Sandbox | None = None
        self.run: LessonRun | None = None
        self.ready = False
        self.results: list[CheckResult] = []
        self.hints_shown = 0
        self.solution_shown = False
        self.typed = 0  # commands that succeeded in this step: F9 pastes the next one
        self.help_text = ""  # the hints (and solution) shown, as Markdown
        self.setup_failed = False
        self.demo_done = False
        self.paused = False
        self._skip = asyncio.Event()
        self._checks_run = 0  # check evaluations shown: what a demo waits on
        self._cramped_at = False  # the size class the fold was last chosen for

    @property
    def host(self) -> LessonHost:
        return cast(LessonHost, self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="lesson-head")
        with VerticalScroll(id="lesson-prose-box"):
            yield Markdown(id="lesson-prose")
        yield Static(id="lesson-command")
        yield Static(id="lesson-checks")
        yield Markdown(id="lesson-help")
        yield Static(Text(KEYS), id="lesson-keys")

    def on_mount(self) -> None:
        self.border_title = self.lesson.title
        self.set_interval(RECHECK_SECONDS, self.recheck)
        on_theme_change(self, self._restyle)
        self._fold(self._cramped())
        self.begin()

    def on_unmount(self) -> None:
        self.screen.remove_class("-lesson-strip")

    # --- folded or not ------------------------------------------------------------------
    def _cramped(self) -> bool:
        width, height = self.app.size
        return width < ROOMY[0] or height < ROOMY[1]

    def on_resize(self, _: events.Resize) -> None:
        """The terminal changed size: fold below `ROOMY`, unless ⇧F7 chose for this size."""
        cramped = self._cramped()
        if cramped != self._cramped_at:
            self._fold(cramped)

    def toggle_fold(self) -> None:
        """⇧F7: the whole step (its prose) or the strip; kept until the size class changes."""
        self._fold(not self.has_class("-folded"), keep=self._cramped())

    @property
    def reading(self) -> bool:
        """Unfolded over the panels (a cramped screen): Escape folds it back."""
        return self.has_class("-reading")

    def _fold(self, folded: bool, keep: bool | None = None) -> None:
        self._cramped_at = self._cramped() if keep is None else keep
        self.set_class(folded, "-folded")
        self.set_class(not folded and self._cramped(), "-reading")
        self.screen.set_class(folded, "-lesson-strip")  # app.tcss makes room for the strip
        self._show_head()
        self._show_checks()

    # --- the sandbox ---------------------------------------------------------------------
    def begin(self) -> None:
        """A fresh sandbox, the app switched onto it, then the lesson's setup (in a worker)."""
        self.ready = False
        self.sandbox = Sandbox(dispatch, temp_parent())
        self.host.switch_engine(self.sandbox.engine)
        self.run = LessonRun(self.lesson, self.sandbox)
        self._show_step()
        self.query_one("#lesson-checks", Static).update(
            Text("setting up the lesson's start state…")
        )
        self._setup(self.run)

    def _setup(self, run: LessonRun) -> None:
        def setup() -> None:
            failed = run.start()
            self.post_message(self.Ready(run, failed.text if failed is not None else None))

        self.app.run_worker(setup, thread=True, group="lesson-setup", exit_on_error=False)

    def on_lesson_pane_ready(self, message: LessonPane.Ready) -> None:
        if message.run is not self.run:
            return
        self.ready = True
        self.setup_failed = message.failed is not None
        if message.failed is not None:
            failed = Text("the lesson's setup failed: ", self._style("failed"))
            self.query_one("#lesson-checks", Static).update(failed.append(message.failed))
            return
        self.goto(0)

    def release(self) -> Sandbox | None:
        """Hand the sandbox over to be closed (the caller closes it off the UI thread)."""
        sandbox, self.sandbox, self.run = self.sandbox, None, None
        return sandbox

    # --- what the app hands us ----------------------------------------------------------
    def prepare(self, ns: argparse.Namespace) -> None:
        """On the command's worker: relative paths mean the lesson's work folder."""
        if self.sandbox is not None:
            self.sandbox.anchor(ns)

    def tee(self, stream: TextIO) -> TextIO:
        return Tee(stream)

    def ran(self, line: str, code: int, out: TextIO, err: TextIO) -> None:
        """On the command's worker, once it finished: it is the step's last command now."""
        text = out.getvalue() if isinstance(out, Tee) else ""
        errors = err.getvalue() if isinstance(err, Tee) else ""
        self.post_message(self.Ran(Outcome(line, code, text, errors)))

    def refused(self, line: str, said: str) -> None:
        """A line the bar ran nothing for (a usage error, an unknown word): a failed command,
        which printed `said`."""
        self.post_message(self.Ran(Outcome(line, 1, "", f"{said}\n")))

    def on_lesson_pane_ran(self, message: LessonPane.Ran) -> None:
        if self.run is None:
            return
        self.run.last = message.outcome
        if message.outcome.code == 0:  # F9 pastes a command that failed (a typo) again
            self.typed += 1
        self._show_command()
        self.recheck()

    # --- the checks ---------------------------------------------------------------------
    def recheck(self) -> None:
        run = self.run
        if run is None or not self.ready or not self.is_mounted:
            return
        index = run.index

        def evaluate() -> None:
            results = run.results()
            if not get_current_worker().is_cancelled:
                self.post_message(self.Checked(run, index, results))

        self.app.run_worker(
            evaluate, thread=True, exclusive=True, group="lesson", exit_on_error=False
        )

    def on_lesson_pane_checked(self, message: LessonPane.Checked) -> None:
        run = self.run
        if message.run is not run or run is None or message.index != run.index:
            return
        self.results = message.results
        self._checks_run += 1
        finished = run.judge(message.results) and run.lesson_done
        if finished and self.lesson.name not in self.progress.done:
            self.progress.finish(self.lesson.name)
        self._show_head()
        self._show_checks()

    def _style(self, part: str) -> Style:
        return component_style(self, f"lesson-pane--{part}")

    def _restyle(self) -> None:
        self._show_head()
        self._show_checks()
        self._show_command()

    def _show_checks(self) -> None:
        """Each check's goal and what is there now: plain text, whatever a command printed.

        Folded, the checks flow on a line or two: a passing one by its goal alone.
        """
        run = self.run
        if run is None or not self.results:
            return
        folded = self.has_class("-folded")
        parts = []
        for result in self.results:
            style = self._style("ok" if result.ok else "failed")
            said = result.goal if folded and result.ok else str(result)
            said = " ".join(said.split())  # a multi-line "now" (inspect's JSON) on one line
            if folded and len(said) > FOLDED_CHECK:
                said = said[: FOLDED_CHECK - 1] + "…"
            parts.append(Text.assemble(("✔ " if result.ok else "✘ ", style), said))
        if self.passed and not folded:  # folded, the head says it
            parts.append(self._done())
        checks = Text("   " if folded else "\n").join(parts)
        self.query_one("#lesson-checks", Static).update(checks)

    def _done(self) -> Text:
        """Step done; the lesson only when every step is (a step skipped with Ctrl+N is not)."""
        run = self.run
        if run is not None and run.lesson_done:
            return Text("lesson done!", self._style("done")).append(" F7 picks the next one")
        done = Text("step done", self._style("done"))
        if run is not None and run.index == len(self.lesson.steps) - 1:
            undone = [str(i + 1) for i in range(len(self.lesson.steps)) if i not in run.done]
            return done.append(f" — not done yet: step {', '.join(undone)} (Ctrl+B goes back)")
        return done.append(" — ⇧F9 or Ctrl+N: next step")

    @property
    def passed(self) -> bool:
        """The step is done: its checks pass after a command typed in it."""
        return self.run is not None and self.run.passes(self.results)

    # --- steps, hints, solution ---------------------------------------------------------
    def goto(self, index: int) -> None:
        run = self.run
        if run is None or not self.ready or not 0 <= index < len(self.lesson.steps):
            return
        self.results = []
        self.hints_shown = 0
        self.solution_shown = False
        self.typed = 0
        self.ready = False

        def begin() -> None:
            run.begin(index)
            self.post_message(self.Begun(run))

        self.app.run_worker(begin, thread=True, group="lesson-setup", exit_on_error=False)
        run.index = index  # shown at once; `begin` sets it again with its baseline
        self.progress.at(self.lesson.name, index)
        self._show_step()

    def on_lesson_pane_begun(self, message: LessonPane.Begun) -> None:
        if message.run is self.run:
            self.ready = True
            self.recheck()

    def step_by(self, delta: int) -> None:
        if self.run is not None:
            self.goto(self.run.index + delta)

    def hint(self) -> None:
        run = self.run
        if run is None:
            return
        hints = run.step.hints
        if self.hints_shown < len(hints):
            self.hints_shown += 1
        elif not hints:
            self.solution_shown = True  # no hints: the solution is the help there is
        self._show_help()

    def solution(self) -> None:
        self.solution_shown = True
        self._show_help()

    def next_command(self) -> str | None:
        if self.run is None:
            return None
        commands = self.run.step.commands
        return commands[min(self.typed, len(commands) - 1)].text if commands else None

    def _show_step(self) -> None:
        run = self.run
        if run is None:
            return
        self._show_head()
        self.query_one("#lesson-prose", Markdown).update(run.step.prose)
        self.query_one("#lesson-checks", Static).update("")
        self._show_command()
        self._show_help()

    def _show_head(self) -> None:
        """The lesson and the step; folded, beside them the keys, or "step done" (one row)."""
        run = self.run
        if run is None:
            return
        steps = len(self.lesson.steps)
        done = " · done before" if self.lesson.name in self.progress.done else ""
        head = Text(f"{self.lesson.name} · step {run.index + 1} of {steps}{done}", end="")
        head.stylize(self._style("head"))
        if self.has_class("-folded"):
            head.append("   ")
            head.append_text(
                self._done() if self.passed else Text(FOLDED_KEYS, self._style("keys"))
            )
        self.query_one("#lesson-head", Static).update(head)

    def _show_command(self) -> None:
        command = self.next_command()
        self.query_one("#lesson-command", Static).update(
            Text.assemble("type: ", (command, self._style("command")), "  (F9 pastes it)")
            if command
            else Text()
        )

    def _show_help(self) -> None:
        run = self.run
        if run is None:
            return
        step = run.step
        parts = [f"**hint {i + 1}/{len(step.hints)}:** {h}" for i, h in enumerate(step.hints)]
        shown = parts[: self.hints_shown]
        if self.solution_shown:
            solution = step.solution or "\n".join(f"`{c.text}`" for c in step.commands)
            shown.append(f"**solution:** {solution}")
        self.help_text = "\n\n".join(shown)
        self.query_one("#lesson-help", Markdown).update(self.help_text)

    # --- the demonstration --------------------------------------------------------------
    def action_pause(self) -> None:
        self.paused = not self.paused
        self.notify("demo paused: space resumes" if self.paused else "demo resumed", timeout=2)

    def action_skip(self) -> None:
        self._skip.set()

    async def play(self, delay: float) -> None:
        """Type every step's commands visibly, run them, then pause `delay` seconds a step."""
        app = self.host
        while not self.ready:
            await asyncio.sleep(0.05)
        if self.setup_failed:
            app.demo_failed.append(f"{self.lesson.name} setup")
            return
        bar = app.command_bar
        per_char = min(0.05, delay / 20)
        for index in range(len(self.lesson.steps)):
            if index:
                self.goto(index)
                while not self.ready:
                    await asyncio.sleep(0.05)
            run = self.run
            if run is None:
                return
            for command in run.step.commands:
                await self._wait_unpaused()
                bar.value = ""
                for ch in command.text:
                    bar.value += ch
                    bar.cursor_position = len(bar.value)
                    await asyncio.sleep(per_char)
                done = app.commands_done
                bar.submit_line()
                while app.commands_done <= done:
                    await asyncio.sleep(0.05)
            seen = self._checks_run
            deadline = time.monotonic() + DEMO_CHECK_TIMEOUT
            while (self._checks_run == seen or not self.passed) and time.monotonic() < deadline:
                if self._checks_run != seen and not self.passed:
                    seen = self._checks_run
                    self.recheck()
                await asyncio.sleep(0.05)
            if not self.passed:
                app.demo_failed.append(f"{self.lesson.name} step {index + 1}")
            await self._pause_between(delay)
        self.demo_done = True
        self.notify("the demonstration is over: the lesson is yours now", timeout=4)

    async def _wait_unpaused(self) -> None:
        while self.paused:
            await asyncio.sleep(0.05)

    async def _pause_between(self, delay: float) -> None:
        self._skip.clear()
        deadline = time.monotonic() + delay
        while (self.paused or time.monotonic() < deadline) and not self._skip.is_set():
            await asyncio.sleep(0.05)
