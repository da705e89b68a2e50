"""The layerlab TUI: run Docker's commands and watch what they do to the union filesystem.

The app owns the subject and the wiring; each panel is a widget of its own.
Everything that touches the disk, the engine or runc runs in a thread worker
and comes back as a message; watchdog and the process poll do the same.
The first frame waits for nothing but Textual and the panels: the app is
made from a store root, and its engine (with all the store's machinery) is
made by the worker that reads the store after that frame; what only a
command, a lesson or help needs is imported when it is first needed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TextIO

from textual import events, on, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.keys import _character_to_key
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Tabs, Tree
from textual.widgets.input import Selection
from textual.worker import Worker, WorkerState, get_current_worker

from layerlab.errors import LayerlabError, NotFound, printed
from layerlab.layerfs import analysis
from layerlab.layerfs.unionfs import Change
from layerlab.presentation.humanize import plural
from layerlab.storage.snapshot import Snapshot, Subject
from layerlab.tui import bar_words, history, model, themes
from layerlab.tui.bar_status import BarStatus
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.command_queue import CommandQueue
from layerlab.tui.diagram import Diagram
from layerlab.tui.explain import Outcome, build_notes, explain
from layerlab.tui.explainer import Explainer
from layerlab.tui.layer_stack import LayerStack
from layerlab.tui.literal import shown
from layerlab.tui.logs_panel import LogsPanel
from layerlab.tui.messages import (
    CommandDone,
    SizeRead,
    StoreChanged,
    StoreLoaded,
    SubjectLoaded,
    while_running,
)
from layerlab.tui.metadata import MetadataPanel
from layerlab.tui.model import SubjectView
from layerlab.tui.outcome import execute, needs_terminal
from layerlab.tui.process_tree import IMAGE, NOT_RUNNING, ProcessPanel
from layerlab.tui.provenance_view import ProvenanceView
from layerlab.tui.reconcile import StoreFollower, store_news, subject_changed
from layerlab.tui.subject_bar import SubjectBar
from layerlab.tui.subject_list import SubjectList

if TYPE_CHECKING:
    from layerlab.commands.stdio import IO
    from layerlab.engine import Engine
    from layerlab.lessons.model import Lesson
    from layerlab.tui.event_log import EventLog
    from layerlab.tui.lesson_pane import LessonPane
    from layerlab.tui.output_log import OutputLog

PROC_POLL_SECONDS = 0.4
STORE_SETTLE_SECONDS = 0.1
SIZE_EVERY_SECONDS = 0.3  # writes in the writable layer re-measure it at most this often
EVENTS_PER_BATCH = 5  # a burst of new files is logged as its first few and a count
# Commands that change a container's record: after them the inspect tab comes forward.
LIFECYCLE = {"create", "run", "start", "stop", "kill", "pause", "unpause", "rename"}
STORE_RETRIES = 3  # a store read that failed is tried again this often before waiting for news
# What each worker group was doing, for the line that says one failed.
DOING = {
    "command": "running the command",
    "store": "reading the store",
    "subject": "reading the subject",
    "files": "reading the layer's files",
    "provenance": "tracing the file's layers",
    "procs": "reading the processes",
    "size": "measuring the writable layer",
    "watch": "watching the store",
    "signal": "sending the signal",
}


def error_line(error: BaseException | None) -> str:
    """One line for a failure: our own errors say it all; anything else names its type."""
    if isinstance(error, LayerlabError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class FirstScreen(Screen[None]):
    """The app's own screen, styled once before its first frame.

    Each widget is styled as it mounts; Textual then restyles the whole screen
    when it first becomes current, in case the CSS changed while it was away.
    The first time it was never away: that second pass would only delay the frame.
    Its focus starts in the command bar (Textual's default, the first focusable
    widget, would restyle the subject list in and out of focus on the way).
    """

    AUTO_FOCUS = "#command"
    _resumed = False

    def _on_screen_resume(self, event: events.ScreenResume) -> None:  # before Screen's own
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False


class LayerlabApp(App[None]):
    """Panels that follow one subject (a container or an image) and a command bar driving them."""

    CSS_PATH = "app.tcss"
    TITLE = "layerlab"
    # Textual types these as instance variables: no ClassVar here, or mypy objects.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012
    # Priority bindings run on the app's task as each key arrives, so focus has moved
    # before the next key is delivered (Escape then typing loses nothing).
    BINDINGS: ClassVar[list[BindingType]] = [
        # Shown in the footer: what fits 100 columns, with Ctrl+C's Stop. F1 lists them all.
        Binding("f1", "help", "Help", priority=True),
        Binding("f7", "lessons", "Lessons", priority=True),
        Binding("f8", "toggle_present", "Present", priority=True),
        Binding("f2", "toggle_subjects", "List", show=False, priority=True),
        Binding("f3", "panel('layers')", "Layers", priority=True),
        Binding("f4", "panel('files')", "Files", priority=True),
        Binding("f5", "panel('metadata')", "JSON", priority=True),
        Binding("f6", "panel('procs')", "Procs", priority=True),
        Binding("f12", "panel('output')", "Output", show=False, priority=True),
        Binding("shift+f12", "panel('events')", "Events", show=False, priority=True),
        Binding("f9", "lesson('paste')", "Paste command", show=False),
        Binding("f10", "lesson('hint')", "Hint", show=False),
        Binding("shift+f10", "lesson('solution')", "Solution", show=False),
        Binding("ctrl+n,shift+f9", "lesson('next')", "Next step", show=False),
        Binding("shift+f7", "lesson('fold')", "Fold lesson", show=False),
        Binding("ctrl+b", "lesson('back')", "Previous step", show=False),
        Binding("ctrl+r", "lesson('restart')", "Restart lesson", show=False),
        Binding("f11,ctrl+o", "maximize", "Max", show=False, priority=True),
        Binding("ctrl+c", "interrupt", "Stop", priority=True),
        Binding("escape", "to_bar", "Command", show=False, priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+t,shift+f8", "cycle_theme", "Theme", priority=True),
        Binding("ctrl+l", "clear_output", "Clear", show=False, priority=True),
        Binding("ctrl+g", "expand_output", "Output", show=False, priority=True),
        Binding("ctrl+y", "copy_host_path", "Copy path", show=False),  # said beside the path
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    subject: reactive[Subject | None] = reactive(None, init=False)

    def __init__(
        self,
        root: Path | None = None,
        lesson: Lesson | None = None,
        demo: float | None = None,
        history_path: Path | None = None,
        *,
        present: bool = False,
    ) -> None:
        super().__init__()
        self.root = root  # the learner's own store (None: LAYERLAB_ROOT or the default)
        self._home_engine: Engine | None = None  # made at its first use: after the first frame
        self._engine_lock = threading.Lock()
        self._lesson_engine: Engine | None = None  # a lesson's sandbox, while one is open
        self.lesson_pane: LessonPane | None = None
        self._first_lesson, self._demo_delay = lesson, demo  # `tui --lesson`, `demo`
        self._sandbox_closers: list[threading.Thread] = []  # sandboxes being removed
        self.history_path = history_path if history_path is not None else history.default_path()
        self.queue = CommandQueue()  # lines run one at a time, in the order typed
        self._running_io: IO | None = None  # the running command's IO: its cancel, its attach
        self.present = present  # presentation mode: what a projector needs, large
        themes.register(self)
        self.view: SubjectView | None = None
        self.snapshot: Snapshot | None = None  # the store as the panels show it (the watcher's)
        # The store's watcher: made and started in a worker (watchdog waits for the first frame).
        self._watching = True  # the engine's store is watched (until the app unmounts)
        self._store_follower = StoreFollower(self._store_wanted, self._store_changed)
        self._store_timer: Timer | None = None
        self._first_read_due = True  # the store is read once the first frame is painted
        self._store_failures = 0  # store reads failed in a row
        self._after_command: str | None = None  # the command whose effect is being shown
        self._to_top = False  # the next subject shown opens its writable (or top) layer
        self._size_timer: Timer | None = None  # a throttled re-read of the writable layer's size
        self.commands_done = 0  # how many commands have finished: what a script driving us waits on
        self.demo_failed: list[str] = []  # the steps a demo left with a failing check
        self.demo_exit = False  # `demo --exit`: quit once the demonstration is over
        # One event per running command: set, it ends a long wait (`logs -f`, `wait`, attached).
        self._cancels: dict[Worker[None], threading.Event] = {}
        self._cancels_lock = threading.Lock()
        self._completed: str | None = None  # the bar's value the hint above it speaks of
        self.crash: BaseException | None = None  # the error no handler caught: it ended the app

    def _handle_exception(self, error: Exception) -> None:
        """An error no handler caught ends the app, as Textual does; it is kept for its report."""
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        """After a crash, one line (`run_app`) and the traceback in a file, not Textual's
        screenful of traceback and locals."""
        if self.crash is None:
            super()._print_error_renderables()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return themes.VARIABLE_DEFAULTS

    @property
    def home_engine(self) -> Engine:
        """The learner's own store's engine, made at its first use: by the store's first
        read, in a worker after the first frame (so the engine's import is off it too)."""
        with self._engine_lock:
            if self._home_engine is None:
                from layerlab.engine import Engine

                self._home_engine = Engine(self.root)
            return self._home_engine

    @property
    def output_log(self) -> OutputLog:
        return self.logs.output

    @property
    def event_log(self) -> EventLog:
        return self.logs.events

    @property
    def engine(self) -> Engine:
        """What commands and reads go through: a lesson's sandbox, else the learner's store."""
        return self._lesson_engine or self.home_engine

    def get_default_screen(self) -> Screen[None]:
        """The first screen, born with the classes its size and mode give it.

        Set after its panels mounted (as Textual does on the first resize), each
        class would restyle every panel once more before the first frame.
        """
        width, height = self.size
        classes = [
            max((point for point in points if point[0] <= size), default=(0, ""))[1]
            for size, points in (
                (width, self.HORIZONTAL_BREAKPOINTS),
                (height, self.VERTICAL_BREAKPOINTS),
            )
        ]
        if self.present:
            classes.append("-present")
        return FirstScreen(id="_default", classes=" ".join(classes))

    def compose(self) -> ComposeResult:
        # Kept as attributes: workers and late messages reach them without querying the DOM.
        self.subject_bar = SubjectBar(id="subject")
        self.subject_list = SubjectList(id="subjects")
        self.layer_stack = LayerStack(id="layers")
        self.files_tree = ChangeTree(id="files")
        self.provenance_view = ProvenanceView(id="provenance")
        self.metadata_panel = MetadataPanel(id="metadata")
        self.diagram = Diagram(id="diagram")
        self.process_panel = ProcessPanel(id="procs")
        self.explainer = Explainer(id="explainer")
        self.logs = LogsPanel(id="logs")
        self.bar_status = BarStatus(self.queue, id="bar-status")
        self.command_bar = CommandBar(id="command", history_path=self.history_path)
        yield self.subject_bar
        with Horizontal(id="main"):
            yield self.subject_list
            with Vertical(id="centre"):
                yield self.layer_stack
                yield self.files_tree
                yield self.provenance_view
            with Vertical(id="right"):
                yield self.diagram
                yield self.metadata_panel
                yield self.process_panel
        yield self.explainer
        yield self.logs
        yield self.bar_status
        yield self.command_bar
        yield Footer(compact=True, show_command_palette=False)  # its keys fit 100 columns

    def on_mount(self) -> None:
        self.files_tree.border_title = "files"
        self.subject_list.border_title = "subjects"
        self._apply_present()
        self.command_bar.focus()
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        """Paint first: only once the panels are on the screen is the store read and watched
        (a worker's thread would slow the first frame down), the processes polled, a lesson
        opened; and the garbage collector, which `run_tui` holds off until then, resumes."""
        gc.enable()
        self._first_read_due = False
        self.set_interval(PROC_POLL_SECONDS, self.process_panel.poll)
        self.start_store_watch()
        self.load_store()
        if self._first_lesson is not None:
            self.open_lesson(self._first_lesson, demo=self._demo_delay)

    def on_unmount(self) -> None:
        self._cancel_commands()
        self._watching = False
        self._reconcile_store_watch()
        self._close_sandbox(wait=True)
        self.files_tree.follower.wanted = None
        self.files_tree.follower.reconcile()

    async def on_event(self, event: events.Event) -> None:
        """Escape typed quickly with the keys after it reaches us disguised: undo that.

        Textual's parser reads Escape and the key right after it as one `alt+key`,
        and Escape at the head of a longer burst (a paste, tmux send-keys) as `^`.
        Escape goes back to the command bar, and the key lands there. (A `^` means
        nothing outside a text field; in the bar it stays a character.) Any other
        printable key typed at a panel that has no use for it goes to the bar too.
        """
        if isinstance(event, events.Key) and not event.is_forwarded:
            char = event.character
            if event.key.startswith("alt+") and char and len(char) == 1 and char.isprintable():
                self.action_to_bar()
                name = char if char.isalnum() else _character_to_key(char)
                event = events.Key(name, char)
            elif event.key == "circumflex_accent" and not isinstance(self.focused, Input):
                self.action_to_bar()
                return
            elif self._typed_at_a_panel(event):  # a click (a browser's) moved the focus away
                self.screen.set_focus(self.command_bar)
        await super().on_event(event)

    def _typed_at_a_panel(self, event: events.Key) -> bool:
        """A printable key that no key of the focused panel takes: it is meant for the bar."""
        return (
            event.is_printable
            and isinstance(self.screen, FirstScreen)
            and not isinstance(self.focused, Input)
            and event.key not in self.screen.active_bindings
        )

    # --- actions ---------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit at once: a command still waiting (`logs -f`, `wait`, `run`) stops waiting."""
        self._cancel_commands()
        await super().action_quit()

    def action_help(self) -> None:
        from layerlab.tui.help_screen import HelpScreen  # markdown: only when asked for

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())

    def action_toggle_subjects(self) -> None:
        """Go to the list (showing it if hidden); from the list, hide it.

        It starts hidden on narrow screens.
        """
        if not self.subject_list.display or self.focused is self.subject_list:
            self.subject_list.toggle_class("-toggled")
        self.call_after_refresh(self._focus_subjects)

    def _focus_subjects(self) -> None:
        if self.subject_list.display:
            self.subject_list.focus()
        else:
            self.command_bar.focus()

    def action_toggle_present(self) -> None:
        """Presentation mode: the picture, the layer stack and the changes; the rest hidden."""
        self.present = not self.present
        self._apply_present()

    def _apply_present(self) -> None:
        self.screen.set_class(self.present, "-present")
        self.diagram.border_title = "the article's picture" + (
            " · F8 shows every panel" if self.present else " · F8 presents it"
        )

    def action_cycle_theme(self) -> None:
        self.theme = themes.next_theme(self.theme)

    def action_toggle_dark(self) -> None:
        """Dark and light only (scripts use it); Ctrl+T cycles in the high-contrast theme too."""
        self.theme = themes.LIGHT.name if self.current_theme.dark else themes.DARK.name

    def action_clear_output(self) -> None:
        self.output_log.clear()

    # --- lessons (the pane and the picker are modules of their own) --------------------
    def switch_engine(self, engine: Engine) -> None:
        """Read and run commands through another store: a lesson's sandbox, or back home."""
        if engine is self.engine:
            return
        self._lesson_engine = None if engine is self.home_engine else engine
        self.snapshot = None
        self.subject = None
        self.start_store_watch()
        self.load_store()

    def action_lessons(self) -> None:
        from layerlab.lessons.loader import LessonError, load_course
        from layerlab.lessons.progress import Progress
        from layerlab.tui.lesson_picker import LessonPicker

        try:
            course = load_course()
        except LessonError as exc:
            self.notify(
                shown(str(exc)), title="the course has problems", severity="error", markup=False
            )
            return
        current = self.lesson_pane.lesson.name if self.lesson_pane else None
        self.push_screen(LessonPicker(course, Progress.load(), current), self._picked)

    def _picked(self, choice: Lesson | str | None) -> None:
        from layerlab.lessons.model import Lesson
        from layerlab.tui.lesson_picker import LEAVE

        if choice == LEAVE:
            self.leave_lesson()
        elif isinstance(choice, Lesson):
            self.open_lesson(choice)

    def open_lesson(self, lesson: Lesson, demo: float | None = None) -> None:
        """Open a lesson on a clean sandbox of its own (the one open is closed first), with an
        empty output pane: what came before spoke of another store."""
        from layerlab.lessons.progress import Progress
        from layerlab.tui.lesson_pane import LessonPane

        self.leave_lesson()
        self.output_log.clear_in_turn()  # after the lines already on their way
        pane = LessonPane(lesson, Progress.load())
        self.lesson_pane = pane
        self.mount(pane)  # its on_mount makes the sandbox and switches us onto it
        self.explainer.text = (
            f"{lesson.title}: the lesson says what to type (F9 pastes it) and ticks each check "
            "as the store changes; Shift+F7 shows or folds the step's text, F10 gives a hint."
        )
        if demo is not None:
            self.run_worker(self._demo(pane, demo), group="demo", exit_on_error=False)
            pane.focus()  # space and → drive the demo; the command bar only shows the typing
        else:
            self.command_bar.focus()

    async def _demo(self, pane: LessonPane, delay: float) -> None:
        await pane.play(delay)
        if self.demo_exit:
            self.exit(return_code=1 if self.demo_failed else 0)

    def leave_lesson(self) -> None:
        """Back to the learner's own store; the lesson's sandbox is removed off the UI thread."""
        pane, self.lesson_pane = self.lesson_pane, None
        if pane is None:
            return
        self.workers.cancel_group(self, "demo")
        self.switch_engine(self.home_engine)
        self._close_sandbox(pane)
        pane.remove()

    def _close_sandbox(self, pane: LessonPane | None = None, wait: bool = False) -> None:
        pane = pane or self.lesson_pane
        sandbox = pane.release() if pane is not None else None
        if sandbox is not None:
            thread = threading.Thread(target=sandbox.close, name="lesson-close")
            thread.start()
            self._sandbox_closers.append(thread)
        if wait:
            for thread in self._sandbox_closers:
                thread.join()

    @property
    def lesson_closing(self) -> bool:
        """A lesson's sandbox is still being removed."""
        return any(thread.is_alive() for thread in self._sandbox_closers)

    def action_lesson(self, what: str) -> None:
        """F9 paste the next command, F10 a hint, Shift+F10 the solution, ^N/^B step, ^R restart."""
        pane = self.lesson_pane
        if pane is None:
            return
        if what == "paste":
            command = pane.next_command()
            if command:
                self.command_bar.value = command
                self.command_bar.cursor_position = len(command)
                self.command_bar.focus()
        elif what == "hint":
            pane.hint()
        elif what == "solution":
            pane.solution()
        elif what in ("next", "back"):
            pane.step_by(1 if what == "next" else -1)
        elif what == "restart":
            self.open_lesson(pane.lesson)
        elif what == "fold":
            pane.toggle_fold()

    def action_panel(self, name: str) -> None:
        """F3-F6, F12: go to a panel (the metadata tabs, so Left/Right switch them)."""
        tabs, tree = self.metadata_panel.tabs, self.process_panel.proc_tree
        if not (tabs.is_mounted and tree.is_mounted and self.logs.tabs.is_mounted):
            self.call_after_refresh(self.action_panel, name)  # they mount after the first frame
            return
        if name in ("output", "events"):
            self.logs.show_tab(name)
        target = {
            "layers": self.layer_stack,
            "files": self.files_tree,
            "metadata": tabs.query_one(Tabs),
            "procs": tree if tree.display else self.process_panel,
            "output": self.output_log,
            "events": self.event_log,
        }[name]
        if self.screen.maximized is not None:
            self.screen.minimize()
        self.screen.set_focus(target)  # now, not later: the next key goes there

    def action_maximize(self) -> None:
        """Fill the screen with the focused panel, or put it back.

        The files panel fills it with the panels around it: what a file is and where it is
        on the host (the provenance under the tree) is the point of picking one.
        """
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        elif screen.focused is self.files_tree and isinstance(self.files_tree.parent, Widget):
            screen.maximized = self.files_tree.parent  # the tree, its layers and provenance
        elif screen.focused is not None and screen.focused is not self.command_bar:
            screen.maximize(screen.focused)
        else:
            self.notify("go to a panel first (F3-F6, F12), then maximize it", timeout=3)

    def action_to_bar(self) -> None:
        """Escape: close help, put a maximized panel (or a lesson's prose) back, clear the
        queue, go to the bar."""
        if isinstance(self.screen, ModalScreen):
            self.screen.dismiss()
        elif self.screen.maximized is not None:
            self.screen.minimize()
        elif self.lesson_pane is not None and self.lesson_pane.reading:
            self.lesson_pane.toggle_fold()  # back to the panels, the step a strip above them
        dropped = self.queue.clear()
        if dropped:
            self.output_log.note(f"queue cleared: {plural(dropped, 'command')} will not run")
            self.bar_status.show_state()
        # Now, not with focus() (a callback queued behind the keys already typed).
        self.screen.set_focus(self.command_bar)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Ctrl+C is ours (and in the footer) only while a command runs."""
        if action == "interrupt":
            return self.queue.running is not None
        return True

    def action_interrupt(self) -> None:
        """Ctrl+C ends the running command as the CLI's Ctrl+C does.

        Attached to a container (`run`, `start -a`), SIGINT goes to it (Docker's
        sig-proxy); a process that ignores it runs on, and a second Ctrl+C stops
        waiting. `logs -f` and `wait` stop waiting at once.
        """
        cio = self._running_io
        if cio is None or cio.cancel is None:  # between commands, or an -it one
            return
        self.queue.interrupts += 1
        attached = cio.attached
        if attached is not None and self.queue.interrupts == 1:
            self.output_log.note("^C: SIGINT sent to the container (Ctrl+C again stops waiting)")
            self.send_signal(attached, signal.SIGINT)
        else:
            self.output_log.note("^C")
            cio.cancel.set()

    @work(thread=True, group="signal", exit_on_error=False)
    def send_signal(self, container_id: str, signum: int) -> None:
        with contextlib.suppress(LayerlabError):  # it may have ended meanwhile
            self.engine.kill(container_id, signum)

    def action_expand_output(self) -> None:
        """The output pane takes most of the screen (it grows with it), or goes back."""
        self.logs.toggle_class("-expanded")

    def action_copy_host_path(self) -> None:
        self.provenance_view.copy_host_path()

    # --- the command bar ----------------------------------------------------------------
    def on_command_bar_entered(self, message: CommandBar.Entered) -> None:
        """Each line waits its turn: one command at a time, in the order typed."""
        self.queue.add(message.line)
        self._next_command()

    def _next_command(self) -> None:
        """Start the next line if none runs; lines that run no command end at once."""
        while (line := self.queue.take()) is not None:
            if self._begin(line):
                break
            self.queue.finish()
        self.bar_status.show_state()
        self.refresh_bindings()  # Ctrl+C: in the footer while a command runs

    def _command_over(self) -> None:
        self.queue.finish()
        self._next_command()

    def on_command_bar_completed(self, message: CommandBar.Completed) -> None:
        self._completed = message.value
        alternatives = "  ".join(message.alternatives)
        self.bar_status.set_hint(
            f"Tab: {alternatives}" if message.alternatives else "Tab: nothing to complete here"
        )

    @on(Input.Changed, "#command")
    def _command_typed(self, message: Input.Changed) -> None:
        pane = self.lesson_pane
        if message.value and pane is not None and pane.reading:
            pane.toggle_fold()  # the bar was under the step's prose: the panels come back
        if self.bar_status.hint and message.value != self._completed:
            self._completed = None
            self.bar_status.set_hint("")

    def _bar_word(self, words: list[str]) -> bool:
        """`help`, `clear`, `exit`/`quit`, and a friendly line for words that are no command."""
        word = bar_words.bar_word(words)
        if word == "help":
            self.action_help()
        elif word == "clear":
            self.output_log.clear_in_turn()
        elif word is not None:
            self.exit()
        if word is not None:
            return True
        word = bar_words.not_a_command(words)
        if word is None:
            return False
        self.output_log.say(f"{word}: not a docker command here; F1 lists them")
        self._lesson_refused(shlex.join(words), f"Error: {word}: not a docker command")
        self.explainer.text = (
            f"{word} is not one of Docker's commands: the bar runs Docker's commands "
            "(a leading docker is fine), plus help, clear and exit. F1 lists them."
        )
        return True

    def _begin(self, line: str) -> bool:
        """Echo and parse a line; start its command. False: nothing runs (an error, a word)."""
        log = self.output_log
        log.command(line)
        self.logs.show_tab("output")
        try:
            words = shlex.split(line)
        except ValueError as exc:
            log.say(f"Error: {exc}")
            self._lesson_refused(line, f"Error: {exc}")
            return False
        if words and self._bar_word(words):
            return False
        from layerlab.commands import grammar  # the command line's grammar: at the first line typed

        parsed = io.StringIO()
        try:
            with contextlib.redirect_stdout(parsed), contextlib.redirect_stderr(parsed):
                ns = grammar.parse(words)
        except LayerlabError as exc:  # a usage error: bare, as Docker's CLI prints it
            log.say(printed(exc))
            self._lesson_refused(line, printed(exc))
            return False
        except SystemExit:  # --help / --version print and exit, as argparse does
            log.say(parsed.getvalue().rstrip("\n"))
            return False
        if ns.cmd is None or ns.cmd == "tui":
            log.say(grammar.build_parser().format_help().rstrip("\n"))
            return False
        self.metadata_panel.mark()
        if needs_terminal(ns):
            return self._run_in_terminal(line, ns)
        self.run_command(line, ns)
        return True

    def _lesson_refused(self, line: str, said: str) -> None:
        """A lesson's checks see a line that ran nothing as a failed command, as Docker's exit 1."""
        if self.lesson_pane is not None:
            self.lesson_pane.refused(line, said)

    @work(thread=True, group="command", exit_on_error=False)
    def run_command(self, line: str, ns: argparse.Namespace) -> None:
        from layerlab.commands.stdio import IO
        from layerlab.tui.output_log import LogStream, OutputLog

        log = self.output_log
        out: TextIO = LogStream(log)
        err: TextIO = LogStream(log, err=True)
        pane = self.lesson_pane
        if pane is not None:  # the lesson's `output_has` reads what the command printed
            out, err = pane.tee(out), pane.tee(err)
        cancel = threading.Event()
        worker = get_current_worker()
        with self._cancels_lock:
            self._cancels[worker] = cancel
            if worker.is_cancelled or not self.is_running:
                cancel.set()
        try:
            cio = IO(out, err, interactive=False, cancel=cancel)
            self._running_io = cio
            prepare = pane.prepare if pane is not None else None
            outcome = execute(self.engine, line, ns, cio, self.snapshot, prepare)
        finally:
            self._running_io = None
            with self._cancels_lock:
                self._cancels.pop(worker, None)
        out.flush()
        for note in build_notes(outcome.report.build_steps):  # in order, after the build's lines
            log.post_message(OutputLog.Line(note, False, note=True))
        if outcome.error:
            err.write(f"{outcome.said}\n")
        err.flush()
        if outcome.cancelled:
            log.post_message(
                OutputLog.Line("(stopped waiting: the container keeps running)", False)
            )
        if pane is not None:
            pane.ran(line, outcome.code, out, err)
        self.post_message(CommandDone(outcome=outcome))

    def _cancel_commands(self) -> None:
        """End every command's long wait: the app quits (or the worker was cancelled)."""
        with self._cancels_lock:
            for cancel in self._cancels.values():
                cancel.set()

    def _run_in_terminal(self, line: str, ns: argparse.Namespace) -> bool:
        """Hand the real terminal to the container (`-it`), then come back and catch up.

        This blocks the UI thread on purpose: the app is suspended and the
        terminal belongs to the container until it exits.
        """
        from layerlab.commands.stdio import IO

        log = self.output_log
        try:
            with self.suspend():
                cio = IO(sys.stdout, sys.stderr, interactive=True)
                prepare = self.lesson_pane.prepare if self.lesson_pane is not None else None
                outcome = execute(self.engine, line, ns, cio, self.snapshot, prepare)
        except SuspendNotSupported:
            log.say("Error: this terminal cannot be handed to a container (run -it needs a tty)")
            return False
        if outcome.said:
            log.say(outcome.said)
        log.note(f"the terminal is back from the container (exit code {outcome.code})")
        if self.lesson_pane is not None:  # what it printed went to the terminal, not to us
            self.lesson_pane.ran(line, outcome.code, io.StringIO(), io.StringIO())
        self.post_message(CommandDone(outcome=outcome))
        return True

    def on_command_done(self, message: CommandDone) -> None:
        outcome = message.outcome
        self.commands_done += 1
        events = self.event_log
        events.add(f"$ {outcome.line}  → exit {outcome.code}", "command")
        self.explainer.text = explain(outcome)
        self._after_command = outcome.ns.cmd
        self._to_top = True  # the files panel shows the subject's writable (or top) layer again
        # The store's listing comes from the watcher (StoreChanged), the one route that refreshes
        # it; here only the subject: the one the command made or worked on, read again.
        if outcome.subject is not None and outcome.subject != self.subject:
            self.subject = outcome.subject
        elif self.subject is not None:
            self.load_subject(self.subject)
        self._offer_busybox(outcome)
        self._command_over()

    def _offer_busybox(self, outcome: Outcome) -> None:
        """`run hello:v1 ...` with `hello:latest` here: offer the line on the nearest local
        image; `run ubuntu ...` has nothing to pull: offer it on busybox. Never another tag of
        the same name: Enter must not run an image the user did not mean.

        Into the bar only when it is empty and nothing waits (typing is never overwritten);
        else it is shown above the bar.
        """
        ns = outcome.ns
        image = getattr(ns, "image", None)
        if ns.cmd not in ("run", "create") or not image or "No such image" not in outcome.error:
            return
        refs = [ref for ref, _ in self.snapshot.images] if self.snapshot else []
        near = bar_words.nearest(image, [ref for ref in refs if not ref.startswith("<none>")])
        if near is not None:
            line = bar_words.on_image(outcome.line, image, near)
            why = f"There is no image {image} here; the nearest name is {near}."
        elif bar_words.local_repository(image, refs):
            return  # a tag that is not here, and nothing close: no guess
        else:
            line = bar_words.on_busybox(outcome.line, image)
            why = f"There is no registry here to pull {image} from; busybox is made locally."
        if line is None:
            return
        self.explainer.text = f"{why} Try: {line}"
        if not self.command_bar.value and not self.queue.waiting:
            # Selected: Enter runs it, an arrow key edits it, typing replaces it.
            self.command_bar.value = line
            self.command_bar.selection = Selection(0, len(line))
            image = near or "busybox"
            self.bar_status.set_hint(f"ready to edit: Enter runs it on {image}, typing replaces it")
            self._completed = line
        else:
            self.bar_status.set_hint(f"try: {line}")

    # --- the store ----------------------------------------------------------------------
    @work(thread=True, group="watch", exit_on_error=False)
    def start_store_watch(self) -> None:
        self._reconcile_store_watch()

    def _reconcile_store_watch(self) -> None:
        """Watch the store of the engine in use (none once unmounted); off the UI thread."""
        self._store_follower.reconcile()

    def _store_wanted(self) -> Engine | None:
        return self.engine if self._watching else None

    def _store_changed(self) -> None:  # on watchdog's thread
        self.post_message(StoreChanged())

    @while_running
    def on_store_changed(self, _: StoreChanged) -> None:
        """Let a burst of writes settle (one command writes several files), then read once."""
        if self._store_timer is None:
            self._store_timer = self.set_timer(STORE_SETTLE_SECONDS, self._store_settled)

    def _store_settled(self) -> None:
        self._store_timer = None
        self.load_store()

    @property
    def store_read_pending(self) -> bool:
        """A change to the store was seen (or the app just started) and its read has not
        started yet."""
        return self._store_timer is not None or self._first_read_due

    @work(thread=True, exclusive=True, group="store", exit_on_error=False)
    def load_store(self) -> None:
        snapshot = self.engine.snapshot()
        if not get_current_worker().is_cancelled:
            self.post_message(StoreLoaded(snapshot=snapshot))

    @while_running
    def on_store_loaded(self, message: StoreLoaded) -> None:
        if message.stale:
            return
        self._store_failures = 0
        self._apply_snapshot(message.snapshot)

    def _apply_snapshot(self, snapshot: Snapshot) -> None:
        previous, self.snapshot = self.snapshot, snapshot
        if self.lesson_pane is not None:
            self.lesson_pane.recheck()  # the store changed: the lesson's checks run again
        if previous is not None:
            for text, kind in store_news(previous, snapshot):
                self.event_log.add(text, kind)
        self.subject_list.show(snapshot, self.subject)
        self.command_bar.set_names(snapshot.names())
        subject = self.subject
        if subject is None:
            self.subject = model.latest(snapshot)  # start-up, or the last subject went
        elif subject_changed(previous, snapshot, subject):
            self.load_subject(subject)

    # --- the subject --------------------------------------------------------------------
    def on_subject_list_picked(self, message: SubjectList.Picked) -> None:
        self.subject = message.subject
        self.metadata_panel.mark()

    def watch_subject(self, subject: Subject | None) -> None:
        self._to_top = True
        self.provenance_view.clear()
        if subject is None:
            self.workers.cancel_group(self, "subject")
            self._show(None)
        else:
            self.load_subject(subject)

    @work(thread=True, exclusive=True, group="subject", exit_on_error=False)
    def load_subject(self, subject: Subject) -> None:
        try:
            view: SubjectView | None = model.load(self.engine, subject)
        except (NotFound, *analysis.GONE):  # removed, by us or another terminal, mid-read
            view = None
        if not get_current_worker().is_cancelled:
            self.post_message(SubjectLoaded(subject=subject, view=view))

    @while_running
    def on_subject_loaded(self, message: SubjectLoaded) -> None:
        if message.stale:
            return  # a newer read (of this subject or the one the user moved to) replaced it
        if message.view is None:  # gone: follow the most recent subject still listed
            self.subject = model.latest(self.snapshot, without=message.subject)
            return
        self._show(message.view)

    def _show(self, view: SubjectView | None) -> None:
        """Render a subject snapshot into every panel."""
        self.view = view
        self.subject_bar.view = view
        self.diagram.show(view)
        layers = self.layer_stack
        metadata = self.metadata_panel
        procs_panel = self.process_panel
        if view is None:
            self.workers.cancel_group(self, "files")
            procs_panel.unfollow()
            layers.show(())
            self.files_tree.set_mounts(())
            self.files_tree.begin("files", None)
            self.files_tree.load([])
            for key in ("image", "container", "oci", "layer"):
                metadata.show(key, None, None)
            self.files_tree.stop_following()
            return
        sid = view.subject.id
        metadata.show("image", view.inspect.get("Image", sid), view.image_config)
        is_container = view.subject.kind == "container"
        metadata.show("container", sid, view.inspect)
        metadata.show("oci", sid, view.bundle)
        to_top, self._to_top = self._to_top, False
        layers.show(view.layers, view.mounts, top=to_top)
        self.files_tree.set_mounts(view.mounts)
        if not is_container:
            procs_panel.unfollow(IMAGE)
            self.files_tree.stop_following()
        elif not view.running:
            procs_panel.unfollow(NOT_RUNNING)
        else:
            procs_panel.follow(view.pid)
        if self.snapshot is not None:
            self.subject_list.show(self.snapshot, view.subject)
        self._bring_up_news(view)

    def _bring_up_news(self, view: SubjectView) -> None:
        """After a command, show the document it changed: a new layer's json, or inspect."""
        command, self._after_command = self._after_command, None
        metadata = self.metadata_panel
        if command == "commit" and view.subject.kind == "image":
            metadata.bring_up("layer")  # the new layer, and its pointer to its parent
        elif command in LIFECYCLE and metadata.view("container").changed:
            metadata.bring_up("container")
        elif command == "inspect":  # what it printed, as a document beside the output
            metadata.bring_up("container" if view.subject.kind == "container" else "image")

    # --- layers and files ---------------------------------------------------------------
    def on_layer_stack_picked(self, message: LayerStack.Picked) -> None:
        self.metadata_panel.show("layer", message.row.key + str(message.row.path), message.row.meta)
        self.files_tree.open_layer(message.row)

    @while_running
    def on_change_tree_written(self, message: ChangeTree.Written) -> None:
        """A write in the live writable layer: its size follows (throttled), the news is logged."""
        if self._size_timer is None:
            self._size_timer = self.set_timer(SIZE_EVERY_SECONDS, self._measure_writable)
        name = self.view.name if self.view else "?"
        news = message.news
        for change in news[:EVENTS_PER_BATCH]:
            self.event_log.add(f"{name}: {change}", "added")
        if len(news) > EVENTS_PER_BATCH:
            self.event_log.add(f"{name}: and {len(news) - EVENTS_PER_BATCH} more entries", "added")

    def _measure_writable(self) -> None:
        self._size_timer = None
        view = self.view
        if view is not None and view.layers and view.layers[0].writable:
            self.measure_writable(view.layers[0].path, view.subject.id)

    @work(thread=True, exclusive=True, group="size", exit_on_error=False)
    def measure_writable(self, upper: Path, cid: str) -> None:
        try:
            size, _ = analysis.reread(self.engine.writable_layer(cid).size, (0, 0))
        except LayerlabError:  # the container went meanwhile
            return
        if not get_current_worker().is_cancelled:
            self.post_message(SizeRead(upper=upper, size=size))

    @while_running
    def on_size_read(self, message: SizeRead) -> None:
        view = self.view
        if message.stale or view is None or not view.layers:
            return
        top = view.layers[0]
        if top.writable and top.path == message.upper:
            self.layer_stack.set_writable_size(message.size)
            layers = (replace(top, size=message.size), *view.layers[1:])
            self.diagram.show(replace(view, layers=layers))  # the picture's size too

    def on_change_tree_counted(self, message: ChangeTree.Counted) -> None:
        if self.files_tree.live is not None:
            self.layer_stack.set_writable_files(message.count)

    @on(Tree.NodeHighlighted, "#files")
    @on(Tree.NodeSelected, "#files")
    def _file_highlighted(
        self, message: Tree.NodeHighlighted[Change] | Tree.NodeSelected[Change]
    ) -> None:
        change = message.node.data
        if change is not None and self.view is not None:
            self.provenance_view.trace(self.view, change.path)

    # --- workers that failed ------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure lands: a line that says so; the app stays up.

        Another terminal or a container may remove what a worker was reading; the
        next change to the store or the layer brings a fresh read.
        """
        worker = event.worker
        if event.state == WorkerState.CANCELLED and worker.group == "command":
            with self._cancels_lock:
                cancel = self._cancels.get(worker)
            if cancel is not None:
                cancel.set()  # its thread runs on until the command's wait sees this
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        doing = DOING.get(worker.group, worker.name or "working")
        reason = error_line(error)
        self.event_log.add(f"{doing} failed: {reason}", "failed")
        self.notify(
            shown(f"{doing} failed: {reason}"),
            title="layerlab",
            severity="warning",
            timeout=4,
            markup=False,
        )
        if worker.group == "store" and self._store_failures < STORE_RETRIES:
            self._store_failures += 1  # read again once the writes settle: they usually have
            self.post_message(StoreChanged())
        elif worker.group == "command":  # its CommandDone never came: the command is over
            self.commands_done += 1
            self.explainer.text = f"{doing} failed: {reason}. The TUI is still running."
            self._command_over()


def run_tui(
    root: Path,
    lesson: str | None = None,
    demo: float | None = None,
    present: bool = False,
    demo_exit: bool = False,
) -> int:
    """Open the TUI on the store at `root` (on a lesson, played by itself with `demo`, and
    left when it is over with `demo_exit`; `present`: presentation mode); the CLI's exit code:
    non-zero when the app crashed or a demonstrated step's checks did not pass."""
    chosen = None
    if lesson is not None:
        from layerlab.lessons.loader import find_lesson, load_course

        chosen = find_lesson(load_course(), lesson)
    app = LayerlabApp(root, chosen, demo, present=present)
    app.demo_exit = demo_exit
    return run_app(app)


def run_app(app: LayerlabApp, *, headless: bool = False) -> int:
    """Run the app; the CLI's exit code. A crash exits 1 with one line naming the file that
    holds its traceback; a demonstrated step whose checks did not pass exits 1 too."""
    # What the imports made lives as long as the app: no collection need walk it again. And
    # none runs before the first frame (a full one took ~20 ms of it); the app resumes them.
    gc.freeze()
    gc.disable()
    try:
        app.run(headless=headless)
    finally:
        gc.enable()  # on again (the first frame does it; an app that failed first may not)
    if app.crash is None:
        for step in app.demo_failed:
            print(f"demo: {step}: its checks did not pass", file=sys.stderr)
        return app.return_code or (1 if app.demo_failed else 0)
    import traceback

    text = "".join(traceback.format_exception(app.crash))
    where = crash_file(text)
    if where is None:  # nowhere to write it: the traceback itself, then the line
        print(text, file=sys.stderr, end="")
    said = f"traceback in {where}" if where else "traceback above"
    print(f"layerlab crashed: {error_line(app.crash)}; {said}", file=sys.stderr)
    return 1


def crash_file(text: str) -> Path | None:
    """Write a traceback to `$XDG_STATE_HOME/layerlab/crash-<time>-<pid>.txt` (else the
    temporary folder); its path, or None when neither can be written."""
    import tempfile

    name = time.strftime("crash-%Y%m%d-%H%M%S") + f"-{os.getpid()}.txt"
    for folder in (history.default_path().parent, Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        except OSError:
            continue
        return folder / name
    return None
