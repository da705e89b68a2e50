"""The process panel: the container's processes, read from its cgroup, as a tree."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from layerlab.procs import Proc

STATE_STYLE = {"running": "bold green", "sleeping": "", "frozen": "bold cyan", "zombie": "red"}
NOT_RUNNING = "No process space: a container that is not running is an image plus a writable layer."
IMAGE = "An image has no processes: it is only read-only layers. create adds a writable layer."


class ProcessPanel(Vertical):
    """In-container pid, host pid, state and command, parents above children.

    With no process space a note says why - the article's point - instead.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.procs: list[Proc] | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(NOT_RUNNING, style="italic dim"), id="procs-note")
        tree: Tree[Proc] = Tree("processes", id="procs-tree")
        tree.show_root = False
        yield tree

    def on_mount(self) -> None:
        self.border_title = "processes: pid inside · host pid · state"
        self.say(NOT_RUNNING)

    @property
    def proc_tree(self) -> Tree[Proc]:
        return self.query_one("#procs-tree", Tree)

    def say(self, message: str) -> None:
        """No processes to show, and why."""
        self.procs = None
        self.query_one("#procs-note", Static).update(Text(message, style="italic dim"))
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
        for proc in procs:
            label = Text.assemble(
                (f"{proc.ns_pid:>3} ", "bold"),
                (f"{proc.host_pid:>7} ", "dim"),
                (f"{proc.state:<8} ", STATE_STYLE.get(proc.state, "")),
                proc.command,
            )
            if proc.children:
                self._add(parent.add(label, proc), proc.children)
            else:
                parent.add_leaf(label, proc)
