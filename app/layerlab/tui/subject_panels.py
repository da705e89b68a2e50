"""The panels that follow one subject, side by side: the list, the layers and their files,
the article's picture, the JSON documents and the processes.

`show()` renders a subject's view into every panel. The panels' own messages are
handled here, where the panels are: a layer picked opens its files and its json,
a file highlighted is traced through the layers, a write in the live writable
layer has its size measured again (throttled), and its entry count follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Tree
from textual.worker import get_current_worker

from layerlab.errors import LayerlabError
from layerlab.layerfs import analysis
from layerlab.layerfs.unionfs import Change
from layerlab.storage.snapshot import Snapshot
from layerlab.tui.change_tree import ChangeTree
from layerlab.tui.diagram import Diagram
from layerlab.tui.layer_stack import LayerStack
from layerlab.tui.messages import SizeRead, while_running
from layerlab.tui.metadata import MetadataPanel
from layerlab.tui.model import SubjectView
from layerlab.tui.process_tree import IMAGE, NOT_RUNNING, ProcessPanel
from layerlab.tui.provenance_view import ProvenanceView
from layerlab.tui.subject_list import SubjectList

if TYPE_CHECKING:
    from layerlab.tui.source import Source

SIZE_EVERY_SECONDS = 0.3  # writes in the writable layer re-measure it at most this often


class SubjectPanels(Horizontal):
    """The subjects list, then the layer stack, files and provenance, then the picture, the
    metadata and the processes; `source()` is what the app reads through now."""

    def __init__(self, source: Callable[[], Source], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._source = source
        self.view: SubjectView | None = None  # what the panels show
        self._size_timer: Timer | None = None  # a throttled re-read of the writable layer's size
        # Kept as attributes: workers and late messages reach them without querying the DOM.
        self.subject_list = SubjectList(id="subjects")
        self.layer_stack = LayerStack(id="layers")
        self.files_tree = ChangeTree(id="files")
        self.provenance_view = ProvenanceView(id="provenance")
        self.metadata_panel = MetadataPanel(id="metadata")
        self.diagram = Diagram(id="diagram")
        self.process_panel = ProcessPanel(lambda pid: source().processes(pid), id="procs")

    def compose(self) -> ComposeResult:
        yield self.subject_list
        with Vertical(id="centre"):
            yield self.layer_stack
            yield self.files_tree
            yield self.provenance_view
        with Vertical(id="right"):
            yield self.diagram
            yield self.metadata_panel
            yield self.process_panel

    def show(self, view: SubjectView | None, snapshot: Snapshot | None, top: bool) -> None:
        """Render a subject's view into every panel; `top`: open its writable (or top) layer."""
        self.view = view
        self.diagram.show(view)
        layers, files = self.layer_stack, self.files_tree
        metadata, procs = self.metadata_panel, self.process_panel
        if view is None:
            self.app.workers.cancel_group(self.app, "files")
            procs.unfollow()
            layers.show(())
            files.set_mounts(())
            files.begin("files", None)
            files.load([])
            for key in ("image", "container", "oci", "layer", "manifest"):
                metadata.show(key, None, None)
            files.stop_following()
            return
        sid = view.subject.id
        metadata.show("image", view.inspect.get("Image", sid), view.image_config)
        metadata.show("container", sid, view.inspect)
        metadata.show("oci", sid, view.bundle)
        metadata.show("manifest", view.inspect.get("Image", sid), view.manifest)
        layers.show(view.layers, view.mounts, top=top)
        files.set_mounts(view.mounts)
        if view.subject.kind != "container":
            procs.unfollow(IMAGE)
            files.stop_following()
        elif not view.running:
            procs.unfollow(NOT_RUNNING)
        else:
            procs.follow(view.pid)
        if snapshot is not None:
            self.subject_list.show(snapshot, view.subject)

    # --- layers and files ---------------------------------------------------------------
    def on_layer_stack_picked(self, message: LayerStack.Picked) -> None:
        self.metadata_panel.show("layer", message.row.key + str(message.row.path), message.row.meta)
        self.files_tree.open_layer(message.row)
        stack = self.layer_stack.stack
        if message.row in stack:  # the layers above and below it: where the cursor goes next
            at = stack.index(message.row)
            self.files_tree.prefetch([*stack[at + 1 : at + 2], *stack[max(at - 1, 0) : at]])

    @on(Tree.NodeHighlighted, "#files")
    @on(Tree.NodeSelected, "#files")
    def _file_highlighted(
        self, message: Tree.NodeHighlighted[Change] | Tree.NodeSelected[Change]
    ) -> None:
        change = message.node.data
        if change is not None and self.view is not None:
            self.provenance_view.trace(self.view, change.path)

    def on_change_tree_view_file(self, message: ChangeTree.ViewFile) -> None:
        """A file's contents, from the layer the files panel shows down, over the panels."""
        from layerlab.tui.file_view import FileView  # only once a file is opened

        row, view = self.files_tree.row, self.view
        if row is not None and view is not None:
            labels = view.labels
            self.app.push_screen(FileView((row.path, *row.beneath), labels, message.change.path))

    def on_change_tree_counted(self, message: ChangeTree.Counted) -> None:
        if self.files_tree.live is not None:
            self.layer_stack.set_writable_files(message.count)

    @while_running
    def on_change_tree_written(self, _: ChangeTree.Written) -> None:
        """A write in the live writable layer: its size follows, throttled."""
        if self._size_timer is None:
            self._size_timer = self.set_timer(SIZE_EVERY_SECONDS, self._measure_writable)

    def _measure_writable(self) -> None:
        self._size_timer = None
        view = self.view
        if view is not None and view.layers and view.layers[0].writable:
            upper, cid = view.layers[0].path, view.subject.id
            self.app.run_worker(
                lambda: self._measure(upper, cid),
                name="measure_writable",
                group="size",
                thread=True,
                exclusive=True,
                exit_on_error=False,
            )

    def _measure(self, upper: Path, cid: str) -> None:
        try:
            size, _ = analysis.reread(self._source().writable_layer(cid).size, (0, 0))
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
