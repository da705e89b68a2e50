"""The process panel: the container's processes, read from its cgroup, as a tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.lazy import Lazy
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState, get_current_worker

from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, on_theme_change, panel_css
from layerlab.tui.messages import ProcsLoaded, while_running

if TYPE_CHECKING:
    from layerlab.runtime.procs import Proc

STATES = ("running", "sleeping", "frozen", "zombie")  # each has a component class
NOT_RUNNING = "No process space: a container that is not running is an image plus a writable layer."
IMAGE = "An image has no processes: it is only read-only layers. create adds a writable layer."


class ProcessPanel(Vertical):
    """In-container pid, host pid, state and command, parents above children.

    With no process space a note says why - the article's point - instead. The
    panel reads the processes itself, in the app's workers, on each `poll()`.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "process-panel--note",
        "process-panel--pid",
        "process-panel--host-pid",
        *(f"process-panel--{state}" for state in STATES),
    }
    """
    | Class | Description |
    | :- | :- |
    | `process-panel--note` | Why there are no processes. |
    | `process-panel--pid` | The pid inside the container's pid namespace. |
    | `process-panel--host-pid` | The same process's pid on the host. |
    | `process-panel--running` ... `--zombie` | A process state; frozen is a paused container. |
    """
    DEFAULT_CSS = (
        panel_css("ProcessPanel")
        + """
    ProcessPanel {
        & > .process-panel--note { color: $text-muted; text-style: italic; }
        & > .process-panel--pid { text-style: bold; }
        & > .process-panel--host-pid { color: $text-muted; }
        & > .process-panel--running { color: $text-success; text-style: bold; }
        & > .process-panel--frozen { color: $text-primary; text-style: bold; }
        & > .process-panel--zombie { color: $text-error; }
        & > #procs-note { padding: 0 1; }
        & > #procs-tree { display: none; background: $surface; }
        &.-running > #procs-note { display: none; }
        &.-running > #procs-tree { display: block; }
    }
    """
    )

    can_focus = True  # F6 reaches the panel even with no process to list

    def __init__(self, read: Callable[[int], list[Proc]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._read_procs = read  # the engine's read API: the processes of a container's pid
        self.procs: list[Proc] | None = None
        self._said = NOT_RUNNING
        # Made up front, not queried: a process read can land before this panel is
        # composed, or while the app tears it down.
        self.note = Static(NOT_RUNNING, id="procs-note")
        self.proc_tree: Tree[Proc] = Tree("processes", id="procs-tree")
        self.proc_tree.show_root = False
        self.pid: int | None = None  # the host pid of the followed container's init
        self._reading: tuple[int, Worker[None]] | None = None  # (pid, the read under way)

    def follow(self, pid: int | None) -> None:
        """Follow the process space of the container whose init has host pid `pid`."""
        self.pid = pid
        self.poll()

    def unfollow(self, why: str | None = None) -> None:
        """No process space to follow (`why` says so): the reads under way are dropped."""
        self.pid = None
        self.app.workers.cancel_group(self.app, "procs")
        if why is not None:
            self.say(why)

    def poll(self) -> None:
        """Read the processes, unless a read of the same process space is under way.

        Starting a read cancels the one before (its result would be dropped as
        stale), so a poll that outpaced slow reads - a loaded machine - would
        starve the panel of every result.
        """
        pid = self.pid
        if not pid:
            return
        reading = self._reading
        if reading is not None and reading[0] == pid:
            worker = reading[1]
            if (
                worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
                and not worker.is_cancelled
            ):
                return
        read = self.app.run_worker(
            lambda: self._read(pid),
            name="read_procs",
            group="procs",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )
        self._reading = (pid, read)

    def _read(self, pid: int) -> None:
        found = self._read_procs(pid)
        if not get_current_worker().is_cancelled:
            self.post_message(ProcsLoaded(pid=pid, procs=found))

    @while_running
    def on_procs_loaded(self, message: ProcsLoaded) -> None:
        if not message.stale:  # a subject with no process space cancels the reads (`unfollow`)
            self.show(message.procs)

    def compose(self) -> ComposeResult:
        """The note in the first frame; the tree (hidden until a process runs) right after."""
        yield self.note
        yield Lazy(self.proc_tree)

    def on_mount(self) -> None:
        self.border_title = "processes: pid inside · host pid · state"
        self._restyle()  # what arrived before the mount, drawn in the theme's colours
        on_theme_change(self, self._restyle)

    def _restyle(self) -> None:
        if self.procs is None:
            self.say(self._said)
        else:
            procs, self.procs = self.procs, None
            self.show(procs)

    def _component(self, name: str) -> Style:
        return component_style(self, name)

    def say(self, message: str) -> None:
        """No processes to show, and why."""
        self.procs = None
        self._said = message
        note = Text(message, style=self._component("process-panel--note"))
        self.note.update(note)
        self.set_class(False, "-running")

    def show(self, procs: list[Proc]) -> None:
        if procs == self.procs:
            return  # unchanged: keep the cursor where it is
        if not procs:
            self.say(NOT_RUNNING)
            return
        self.procs = procs
        self.set_class(True, "-running")
        tree = self.proc_tree
        tree.clear()
        self._add(tree.root, procs)
        tree.root.expand_all()

    def _add(self, parent: TreeNode[Proc], procs: list[Proc]) -> None:
        pid, host_pid = (
            self._component("process-panel--pid"),
            self._component("process-panel--host-pid"),
        )
        for proc in procs:
            state = self._component(f"process-panel--{proc.state}") if proc.state in STATES else ""
            label = Text.assemble(
                (f"{proc.ns_pid:>3} ", pid),
                (f"{proc.host_pid:>7} ", host_pid),
                (f"{proc.state:<8} ", state),
                proc.command,
            )
            literal(label)
            if proc.children:
                self._add(parent.add(label, proc), proc.children)
            else:
                parent.add_leaf(label, proc)
