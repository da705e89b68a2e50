"""The layerlab TUI: run Docker's commands and watch what they do to the union filesystem.

The app composes the panels, holds the keys and owns the subject; the rest is
delegated: the panels that follow the subject (`subject_panels`, each panel a
widget that owns its reads), the command bar's lines (`command_runner`, running
them through `outcome`), the store's watch and reads (`store_reader`,
`reconcile`), the lesson open (`lesson_desk`). Everything that touches the disk,
the engine or runc runs in a thread worker of the app and comes back as a
message; watchdog and the process poll do the same. A worker's failure lands in
one handler here (`on_worker_state_changed`).
The first frame waits for nothing but Textual and the panels: the app is
made from a store root, and its engine (with all the store's machinery) is
made by the worker that reads the store after that frame; what only a
command, a lesson or help needs is imported when it is first needed.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.keys import _character_to_key
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Tabs
from textual.worker import Worker, WorkerState, get_current_worker

from layerlab.errors import LayerlabError, NotFound
from layerlab.layerfs import analysis
from layerlab.presentation.humanize import plural
from layerlab.storage.snapshot import Snapshot, Subject
from layerlab.tui import history, model, themes
from layerlab.tui.bar_status import BarStatus
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.command_bar import CommandBar
from layerlab.tui.command_queue import CommandQueue
from layerlab.tui.command_runner import CommandRunner
from layerlab.tui.explain import explain
from layerlab.tui.explainer import Explainer
from layerlab.tui.first_screen import FirstScreen
from layerlab.tui.lesson_desk import LESSONS_OFF, LessonDesk
from layerlab.tui.literal import shown
from layerlab.tui.logs_panel import LogsPanel
from layerlab.tui.messages import (
    CliDone,
    CommandDone,
    StoreChanged,
    StoreLoaded,
    SubjectLoaded,
    while_running,
)
from layerlab.tui.model import SubjectView
from layerlab.tui.reconcile import store_news, subject_changed
from layerlab.tui.store_reader import StoreReader
from layerlab.tui.subject_bar import SubjectBar
from layerlab.tui.subject_list import SubjectList
from layerlab.tui.subject_panels import SubjectPanels
from layerlab.tui.transfer_panel import TransferPanel

if TYPE_CHECKING:
    from layerlab.engine import Engine
    from layerlab.engine.daemon import DaemonSource
    from layerlab.lessons.model import Lesson
    from layerlab.tui.event_log import EventLog
    from layerlab.tui.lesson_pane import LessonPane
    from layerlab.tui.output_log import OutputLog
    from layerlab.tui.source import Source

PROC_POLL_SECONDS = 0.4
EVENTS_PER_BATCH = 5  # a burst of new files is logged as its first few and a count
# What each worker group was doing, for the line that says one failed.
DOING = {
    "command": "running the command",
    "store": "reading the store",
    "subject": "reading the subject",
    "files": "reading the layer's files",
    "stats": "counting the layers' files",
    "provenance": "tracing the file's layers",
    "procs": "reading the processes",
    "size": "measuring the writable layer",
    "watch": "watching the store",
    "signal": "sending the signal",
}


def daemon_welcome(daemon: DaemonSource) -> str:
    """What the explainer says first in `tui --docker`."""
    runs = (
        "Commands typed below run the docker CLI on it"
        if daemon.cli
        else "There is no docker CLI here: the bar is read-only"
    )
    return (
        f"This is the Docker daemon at {daemon.host}, read through its API: the panels follow "
        f"its events, and a running container's writable layer as it writes. {runs}. " + LESSONS_OFF
    )


def error_line(error: BaseException | None) -> str:
    """One line for a failure: our own errors say it all; anything else names its type."""
    if isinstance(error, LayerlabError):
        return str(error)
    return f"{type(error).__name__}: {error}"


# Priority bindings run on the app's task as each key arrives, so focus has moved
# before the next key is delivered (Escape then typing loses nothing).
KEYS: list[BindingType] = [
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


class LayerlabApp(App[None]):
    """Panels that follow one subject (a container or an image) and a command bar driving them."""

    CSS_PATH = "app.tcss"
    TITLE = "layerlab"
    # Textual types these as instance variables: no ClassVar here, or mypy objects.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = KEYS

    subject: reactive[Subject | None] = reactive(None, init=False)

    def __init__(
        self,
        root: Path | None = None,
        lesson: Lesson | None = None,
        demo: float | None = None,
        history_path: Path | None = None,
        *,
        present: bool = False,
        daemon: DaemonSource | None = None,
    ) -> None:
        super().__init__()
        self.daemon = daemon  # `tui --docker`: a real Docker daemon shown, not layerlab's store
        self.root = root  # the learner's own store (None: LAYERLAB_ROOT or the default)
        self._home_engine: Engine | None = None  # made at its first use: after the first frame
        self._engine_lock = threading.Lock()
        self._lesson_engine: Engine | None = None  # a lesson's sandbox, while one is open
        self.lessons = LessonDesk(self)  # the lesson open, its pane and its sandbox's end
        self._first_lesson, self._demo_delay = lesson, demo  # `tui --lesson`, `demo`
        self.history_path = history_path if history_path is not None else history.default_path()
        self.queue = CommandQueue()  # lines run one at a time, in the order typed
        self.runner = CommandRunner(self, self.queue)
        self.present = present  # presentation mode: what a projector needs, large
        themes.register(self)
        self.snapshot: Snapshot | None = None  # the store as the panels show it (the watcher's)
        # The store's watcher: made and started in a worker (watchdog waits for the first frame).
        self._watching = True  # the engine's store is watched (until the app unmounts)
        self.store = StoreReader(self, lambda: self.source, lambda: self._watching)
        self._after_command: str | None = None  # the command whose effect is being shown
        self._to_top = False  # the next subject shown opens its writable (or top) layer
        self.commands_done = 0  # how many commands have finished: what a script driving us waits on
        self.demo_failed: list[str] = []  # the steps a demo left with a failing check
        self.demo_exit = False  # `demo --exit`: quit once the demonstration is over
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

    @property
    def source(self) -> Source:
        """What the panels read: the Docker daemon shown (`--docker`), else the engine in use."""
        return self.daemon or self.engine

    def get_default_screen(self) -> Screen[None]:
        """The first screen, born with the classes its size and mode give it."""
        horizontal, vertical = self.HORIZONTAL_BREAKPOINTS, self.VERTICAL_BREAKPOINTS
        return FirstScreen.born(self.size, horizontal, vertical, self.present)

    def compose(self) -> ComposeResult:
        # Kept as attributes: workers and late messages reach them without querying the DOM.
        self.subject_bar = SubjectBar(id="subject")
        self.panels = panels = SubjectPanels(lambda: self.source, id="main")
        self.subject_list, self.layer_stack = panels.subject_list, panels.layer_stack
        self.files_tree, self.provenance_view = panels.files_tree, panels.provenance_view
        self.metadata_panel, self.diagram = panels.metadata_panel, panels.diagram
        self.process_panel = panels.process_panel
        if self.daemon is not None:  # named above the panels, with where its layers come from
            self.subject_bar.shown_from, self.layer_stack.note = self.daemon.names()
        self.transfer_panel = TransferPanel(id="transfers")
        self.explainer = Explainer(id="explainer")
        self.logs = LogsPanel(id="logs")
        self.bar_status = BarStatus(self.queue, id="bar-status")
        self.command_bar = CommandBar(id="command", history_path=self.history_path)
        yield self.subject_bar
        yield self.panels
        yield self.transfer_panel
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
        self.explainer.text = daemon_welcome(self.daemon) if self.daemon else ""  # "": WELCOME
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        """Paint first: only once the panels are on the screen is the store read and watched
        (a worker's thread would slow the first frame down), the processes polled, a lesson
        opened; and the garbage collector, which `run_tui` holds off until then, resumes."""
        gc.enable()
        self.set_interval(PROC_POLL_SECONDS, self.process_panel.poll)
        self.store.watch()
        self.store.read()
        if self._first_lesson is not None:
            self.lessons.open(self._first_lesson, demo=self._demo_delay)

    def on_unmount(self) -> None:
        self.runner.cancel_all()
        self._watching = False
        self._reconcile_store_watch()
        self.lessons.close_sandbox(wait=True)
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
        self.runner.cancel_all()
        await super().action_quit()

    def action_help(self) -> None:
        from layerlab.tui.help_screen import HelpScreen  # markdown: only when asked for

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
        else:
            self.push_screen(HelpScreen())

    def action_toggle_subjects(self) -> None:
        self.subject_list.toggle(self.command_bar)

    def action_toggle_present(self) -> None:
        """Presentation mode: the picture, the layer stack and the changes; the rest hidden."""
        self.present = not self.present
        self._apply_present()

    def _apply_present(self) -> None:
        self.screen.set_class(self.present, "-present")
        self.diagram.presenting(self.present)

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
        self.store.watch()
        self.store.read()

    @property
    def lesson_pane(self) -> LessonPane | None:
        return self.lessons.pane

    @property
    def lesson_closing(self) -> bool:
        """A lesson's sandbox is still being removed."""
        return self.lessons.closing

    def leave_lesson(self) -> None:
        self.lessons.leave()

    def action_lessons(self) -> None:
        self.lessons.pick()

    def action_lesson(self, what: str) -> None:
        self.lessons.act(what)

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
        self._show_transfers(dismiss=True)
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
        self.runner.interrupt()

    def action_expand_output(self) -> None:
        """The output pane takes most of the screen (it grows with it), or goes back."""
        self.logs.toggle_class("-expanded")

    def action_copy_host_path(self) -> None:
        self.provenance_view.copy_host_path()

    # --- the command bar (its lines run in `command_runner`) ------------------------------
    def on_command_bar_entered(self, message: CommandBar.Entered) -> None:
        self._show_transfers(dismiss=True)
        self.runner.add(message.line)

    def on_command_bar_completed(self, message: CommandBar.Completed) -> None:
        self.runner.completions(message.value, message.alternatives)

    @on(Input.Changed, "#command")
    def _command_typed(self, message: Input.Changed) -> None:
        self.runner.typed(message.value)

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
        self.runner.offer(outcome)
        self.runner.over()

    def on_cli_done(self, message: CliDone) -> None:
        """A line the docker CLI ran on the daemon shown: the panels follow its events."""
        self.commands_done += 1
        self.event_log.add(f"$ docker {message.line}  → exit {message.code}", "command")
        self.runner.over()

    # --- the store ----------------------------------------------------------------------
    def start_store_watch(self) -> None:
        self.store.watch()

    def load_store(self) -> None:
        self.store.read()

    def _reconcile_store_watch(self) -> None:
        """Watch the store of the engine in use (none once unmounted); off the UI thread."""
        self.store.follower.reconcile()

    @property
    def store_read_pending(self) -> bool:
        return self.store.pending

    @while_running
    def on_store_changed(self, _: StoreChanged) -> None:
        self.store.settle()

    @while_running
    def on_store_loaded(self, message: StoreLoaded) -> None:
        if message.stale:
            return
        self.store.failures = 0
        self.transfer_panel.show(message.transfers)
        self._show_transfers()
        self._apply_snapshot(message.snapshot)

    def _show_transfers(self, dismiss: bool = False) -> None:
        """A pull or push under way (or just ended) takes the subject's panels' place;
        `dismiss`: an ended one gives it back."""
        if dismiss:
            self.transfer_panel.dismiss()
        self.screen.set_class(self.transfer_panel.showing, "-transferring")

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
            view: SubjectView | None = model.load(self.source, subject)
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

    @property
    def view(self) -> SubjectView | None:
        """The subject's view the panels show."""
        return self.panels.view

    def _show(self, view: SubjectView | None) -> None:
        """Render a subject's view into every panel; after a command, bring up what it changed."""
        self.subject_bar.view = view
        if view is None:
            self.panels.show(None, self.snapshot, top=False)
            return
        top, self._to_top = self._to_top, False
        self.panels.show(view, self.snapshot, top=top)
        command, self._after_command = self._after_command, None
        self.metadata_panel.bring_up_news(command, view.subject.kind)

    @while_running
    def on_change_tree_written(self, message: ChangeTree.Written) -> None:
        """A write in the live writable layer: the news is logged."""
        name = self.view.name if self.view else "?"
        news = message.news
        for change in news[:EVENTS_PER_BATCH]:
            self.event_log.add(f"{name}: {change}", "added")
        if len(news) > EVENTS_PER_BATCH:
            self.event_log.add(f"{name}: and {len(news) - EVENTS_PER_BATCH} more entries", "added")

    # --- workers that failed ------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker's failure lands: a line that says so; the app stays up.

        Another terminal or a container may remove what a worker was reading; the
        next change to the store or the layer brings a fresh read.
        """
        worker = event.worker
        if event.state == WorkerState.CANCELLED and worker.group == "command":
            self.runner.cancelled(worker)
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
        if worker.group == "store":
            self.store.failed()
        elif worker.group == "command":  # its CommandDone never came: the command is over
            self.commands_done += 1
            self.explainer.text = f"{doing} failed: {reason}. The TUI is still running."
            self.runner.over()


def run_tui(
    root: Path,
    lesson: str | None = None,
    demo: float | None = None,
    present: bool = False,
    demo_exit: bool = False,
    docker: str | None = None,
) -> int:
    """Open the TUI on the store at `root` (on a lesson, played by itself with `demo`, and
    left when it is over with `demo_exit`; `present`: presentation mode), or on the Docker
    daemon at `docker` (`tui --docker [--host URL]`); the CLI's exit code: non-zero when the
    app crashed or a demonstrated step's checks did not pass."""
    chosen = None
    if lesson is not None:
        from layerlab.lessons.loader import find_lesson, load_course

        chosen = find_lesson(load_course(), lesson)
    daemon = None
    if docker is not None:  # `--docker`: the daemon at `docker` ("": DOCKER_HOST or the default)
        from layerlab.engine.daemon import DaemonSource

        daemon = DaemonSource(docker or None)  # the docker CLI's line when it does not answer
    app = LayerlabApp(root, chosen, demo, present=present, daemon=daemon)
    app.demo_exit = demo_exit
    try:
        return run_app(app)
    finally:
        if daemon is not None:
            daemon.close()


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
