"""The files panel: a layer's entries as A/C/D; the writable layer's kept live."""

from __future__ import annotations

import bisect
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from layerlab.layerfs import analysis
from layerlab.layerfs.unionfs import Change
from layerlab.presentation.humanize import human_size
from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, panel_css
from layerlab.tui.messages import FilesLoaded, UpperChanged, while_running
from layerlab.tui.model import LayerRow
from layerlab.tui.outside import what
from layerlab.tui.reconcile import UpperFollower

if TYPE_CHECKING:
    from layerlab.engine import Mounted

# The component class each kind of entry is drawn with (dive's colours, from the theme).
KIND_CLASS = {
    "A": "change-tree--added",
    "C": "change-tree--changed",
    "D": "change-tree--deleted",
    " ": "change-tree--through",
}
EMPTY = "empty: nothing written yet"
TOGGLE_STYLE = Style.from_meta({"toggle": True})  # as Tree marks its expand icon: a click toggles
FLASH_SECONDS = 1.5
FLASH_UP_TO = 50  # a burst bigger than this is news as a count, not as blinking lines
EXPAND_ALL_UP_TO = 200


class ChangeTree(Tree[Change]):
    """Entries of one layer against the layers beneath it: A added, C changed, D deleted.

    `open_layer()` reads a layer in a worker (the app's, so a failure lands where every
    worker's does). For the writable layer it follows the watch on the upperdir first:
    `apply()` takes the re-read paths, so a write inside the container changes one node
    rather than reloading the tree, and `Written` tells the app. New entries flash.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "view_file", "View file"),
        Binding("enter", "open_entry", "View file", show=False),
        Binding("u", "toggle_union", "Union view"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "change-tree--added",
        "change-tree--changed",
        "change-tree--deleted",
        "change-tree--through",
        "change-tree--whiteout",
        "change-tree--opaque",
        "change-tree--flash",
        "change-tree--empty",
        "change-tree--mount",
    }
    """
    | Class | Description |
    | :- | :- |
    | `change-tree--added` | An entry added by this layer (A). |
    | `change-tree--changed` | An entry that exists below and changed here (C). |
    | `change-tree--deleted` | A whiteout: deleted here (D). |
    | `change-tree--through` | In the union view, what shows through from below. |
    | `change-tree--whiteout` | The note on a whiteout. |
    | `change-tree--opaque` | The note on an opaque directory. |
    | `change-tree--flash` | A new entry, for a moment. |
    | `change-tree--empty` | The line an empty layer shows. |
    | `change-tree--mount` | The note on a mount point: its files are outside the layers. |
    """
    DEFAULT_CSS = (
        panel_css("ChangeTree")
        + """
    ChangeTree {
        & > .change-tree--added { color: $text-success; text-style: bold; }
        & > .change-tree--changed { color: $text-warning; text-style: bold; }
        & > .change-tree--deleted { color: $text-error; text-style: bold; }
        & > .change-tree--through { color: $text-muted; }
        & > .change-tree--whiteout { color: $text-error; text-style: italic; }
        & > .change-tree--opaque { color: $text-warning; text-style: italic; }
        & > .change-tree--flash { text-style: reverse; }
        & > .change-tree--empty { color: $text-muted; text-style: italic; }
        & > .change-tree--mount { color: $text-warning; text-style: italic; }
    }
    """
    )

    class Written(Message):
        """The live writable layer changed: `news`, the entries that appeared or changed kind."""

        def __init__(self, news: list[Change]) -> None:
            super().__init__()
            self.news = news

    class ViewFile(Message):
        """Open `change`'s contents (`v`, or Enter on a file)."""

        def __init__(self, change: Change) -> None:
            super().__init__()
            self.change = change

    class Counted(Message):
        """How many entries the layer has now (every name in it is one)."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("/", id=id)
        self.show_root = False
        self.live: Path | None = None  # the upperdir being followed, if any
        self.union = False  # the merged view from this layer down, or just its own entries
        self._by_path: dict[str, TreeNode[Change]] = {}
        self._queued: list[dict[str, Change | None]] = []
        self._loading = False
        self._flashing: set[str] = set()
        self._mounts: dict[str, Mounted] = {}  # mount point -> what the container has there
        self.row: LayerRow | None = None  # the layer shown
        self.follower = UpperFollower(self._upper_changed)  # the writable layer's watch
        self._changed_at = 0.0  # when the watcher last changed the live tree

    def open_layer(self, row: LayerRow) -> None:
        """Show a layer's files: its own entries, or with `u` the merged view from it down."""
        title = (
            f"writable layer (live) · {row.path}"
            if row.writable
            else f"layer {row.short_id} · {row.created_by}"
        )
        if self.union:
            title = "union from " + title
        self.begin(title, row.path if row.writable else None)
        self.border_subtitle = (
            f"hides {human_size(row.hidden)} of the layers below: still stored, still shipped"
            if row.hidden
            else ""
        )
        self.row = row
        self.follower.wanted = (row.path, row.beneath) if row.writable else None
        self._read(row, self.union)

    def _read(self, row: LayerRow, union: bool) -> None:
        self.app.run_worker(
            partial(self._load, row, union),
            name="load_files",
            group="files",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _load(self, row: LayerRow, union: bool) -> None:
        """Read a layer's A/C/D; for the writable layer, watch it first so no write is missed."""
        self.follower.reconcile()
        started = time.monotonic()
        read = analysis.union_changes if union else analysis.layer_changes
        changes = read(row.path, row.beneath)
        if not get_current_worker().is_cancelled:
            self.post_message(FilesLoaded(row=row, union=union, changes=changes, started=started))

    def stop_following(self) -> None:
        """No layer is live now: its watch stops (in a worker: stopping joins threads)."""
        self.follower.wanted = None
        self.app.run_worker(
            self.follower.reconcile, thread=True, group="watch", exit_on_error=False
        )

    def _upper_changed(self, upper: Path, updates: dict[str, Change | None]) -> None:
        self.post_message(UpperChanged(upper, updates))  # from watchdog's thread

    @while_running
    def on_files_loaded(self, message: FilesLoaded) -> None:
        if message.stale:  # every new layer or view starts a new read, cancelling this one
            return
        self.load(message.changes)
        if self.live is not None and self._changed_at > message.started:
            # The watcher applied a change while this read ran: the read may predate it
            # (a file it listed is gone now). Read again; once writes stop, this converges.
            self._read(message.row, message.union)

    @while_running
    def on_upper_changed(self, message: UpperChanged) -> None:
        if self.live != message.upper:
            return
        self._changed_at = time.monotonic()
        self.post_message(self.Written(self.apply(message.updates)))

    def set_mounts(self, mounts: tuple[Mounted, ...]) -> None:
        """The container's mounts: their mount points say that their files are not here."""
        by_point = {mount.destination: mount for mount in mounts}
        if by_point != self._mounts:
            self._mounts = by_point
            self._invalidate()  # the lines drawn are cached: draw them again

    def begin(self, title: str, live: Path | None) -> None:
        """A new layer is being read; updates until `load()` are queued, not lost."""
        self.border_title = literal(Text(title))
        self.live = live
        self._loading = True
        self._queued = []

    def load(self, changes: list[Change]) -> None:
        self.clear()
        self._by_path = {}
        self._flashing = set()
        for change in sorted(changes, key=lambda c: c.path):
            self._add(change, live=False)
        if len(self._by_path) <= EXPAND_ALL_UP_TO:
            self.root.expand_all()
        else:
            self.root.expand()
        self._loading = False
        queued, self._queued = self._queued, []
        for updates in queued:
            self.apply(updates)
        self._settle()

    def apply(self, updates: dict[str, Change | None]) -> list[Change]:
        """Apply re-read paths (None: gone); returns the entries that appeared or changed kind."""
        if self._loading:
            self._queued.append(updates)
            return []
        news: list[Change] = []
        for path, change in sorted(updates.items()):
            node = self._by_path.get(path)
            if change is None:
                if node is not None:
                    self._remove(path, node)
            elif node is None:
                self._add(change, live=True)
                news.append(change)
            elif node.data != change:
                node.data = change
                news.append(change)
        if len(news) <= FLASH_UP_TO:
            paths = [change.path for change in news]
            self._flash(paths, True)
            self.set_timer(FLASH_SECONDS, lambda: self._flash(paths, False))
        self._settle()
        return news

    def action_view_file(self) -> None:
        node = self.cursor_node
        if node is not None and node.data is not None:
            self.post_message(self.ViewFile(node.data))

    def action_open_entry(self) -> None:
        """Enter opens a file's contents; on a directory it folds or unfolds, as ever (a
        click still only selects: the provenance below says what a file is)."""
        node = self.cursor_node
        if node is not None and node.data is not None and not node.allow_expand:
            self.action_view_file()
        else:
            self.action_select_cursor()

    def action_toggle_union(self) -> None:
        self.union = not self.union
        if self.row is not None:
            self.open_layer(self.row)

    def _settle(self) -> None:
        self.show_root = not self._by_path
        if not self._by_path:
            self.root.set_label(EMPTY)
        self.post_message(self.Counted(len(self._by_path)))

    def render_label(self, node: TreeNode[Change], base_style: Style, style: Style) -> Text:
        """An entry's kind and name in its kind's style, from the theme at render time."""
        change = node.data
        if change is None:  # the root, shown only when the layer is empty
            text = Text(str(node.label), style=self._style("change-tree--empty"))
        else:
            text = self._entry(change)
        text.stylize(style)
        if node.allow_expand:
            prefix = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
            text = Text.assemble((prefix, base_style + TOGGLE_STYLE), text)
        return text

    def _entry(self, change: Change) -> Text:
        kind_style = self._style(KIND_CLASS[change.kind])
        parent, _, name = change.path.rpartition("/")
        if not parent:  # at the top: the path as `docker diff` prints it
            name = change.path
        if change.kind == " ":  # shows through from a layer beneath
            text = Text.assemble((" ", kind_style), " ", (name, kind_style))
        else:
            text = Text.assemble((change.kind, kind_style), " ", name)
        if change.kind == "D":
            # short, never cut: the provenance line below says what it hides
            note = "  hidden by the opaque folder" if change.masked else "  whiteout"
            text.append(note, self._style("change-tree--whiteout"))
        elif change.opaque:
            note = "  opaque: hides what the layers below have here"
            text.append(note, self._style("change-tree--opaque"))
        mount = self._mounts.get(change.path) if self.live is not None else None
        if mount is not None:  # only the writable layer has the mount point
            note = f"  {what(mount)} mounted here: outside the layers"
            text.append(note, self._style("change-tree--mount"))
        if change.path in self._flashing:
            text.stylize(self._style("change-tree--flash"))
        return literal(text)

    def _style(self, component: str) -> Style:
        return component_style(self, component)

    def _add(self, change: Change, live: bool) -> TreeNode[Change]:
        """Add under its parent in name order; a full load comes sorted, a live one is placed."""
        parent_path, _, name = change.path.rpartition("/")
        parent = self._by_path.get(parent_path, self.root)
        if parent is not self.root and not parent.allow_expand:
            parent.allow_expand = True
            if live:
                parent.expand()
        siblings = parent.children
        at = bisect.bisect_right(siblings, name, key=_name) if live else len(siblings)
        node = parent.add_leaf(Text(name), change, before=at if at < len(siblings) else None)
        self._by_path[change.path] = node
        return node

    def _remove(self, path: str, node: TreeNode[Change]) -> None:
        node.remove()
        for key in [k for k in self._by_path if k == path or k.startswith(path + "/")]:
            del self._by_path[key]

    def _flash(self, paths: list[str], on: bool) -> None:
        for path in paths:
            node = self._by_path.get(path)
            if on:
                self._flashing.add(path)
            else:
                self._flashing.discard(path)
            if node is not None:
                node.refresh()


def _name(node: TreeNode[Change]) -> str:
    return node.data.path.rpartition("/")[2] if node.data else ""
