"""The files panel: a layer's entries as A/C/D; the writable layer's kept live."""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
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
from layerlab.tui.listing import FILTER_NAMES, FILTERS, SORTS, Listing
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
FILL_ALL_UP_TO = 2000  # a bigger layer's folders get their entries only once unfolded
KEPT_ENTRIES = 150_000  # read-only layers' listings kept (they never change), in entries


class ChangeTree(Tree[Change]):
    """Entries of one layer against the layers beneath it: A added, C changed, D deleted.

    The entries are kept in a `Listing`; a folder's nodes are made when it is first
    unfolded (a layer of 60,000 files makes a few dozen nodes, not 60,000). `s` sorts by
    name or by size (largest first, a folder by its total), `f` keeps one kind of change.

    `open_layer()` reads a layer in a worker (the app's, so a failure lands where every
    worker's does). For the writable layer it follows the watch on the upperdir first:
    `apply()` takes the re-read paths, so a write inside the container changes one node
    rather than reloading the tree, and `Written` tells the app. New entries flash.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "view_file", "View file"),
        Binding("u", "toggle_union", "Union view"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("f", "cycle_filter", "Filter"),
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
        """Open `change`'s contents (`v`; Enter selects it: its provenance below)."""

        def __init__(self, change: Change) -> None:
            super().__init__()
            self.change = change

    class ReadAhead(Message):
        """A layer next to the one shown, read ahead (`prefetch`): its listing, to keep."""

        def __init__(self, row: LayerRow, listing: Listing) -> None:
            super().__init__()
            self.row, self.listing = row, listing

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
        self._by_path: dict[str, TreeNode[Change]] = {}  # the nodes made so far
        self._filled: set[str] = set()  # folders whose children are nodes now ("" the top)
        self.listing = Listing()  # every entry of the layer (or union) shown
        self.sort = SORTS[0]
        self.only: str | None = None  # the kind of change shown, or every kind
        self._title = "files"  # the layer shown (after the order and filter, in the title)
        # Read-only layers' listings, the last used last: going back to a layer is instant.
        self._kept: OrderedDict[tuple[Path, tuple[Path, ...], bool], Listing] = OrderedDict()
        self._queued: list[dict[str, Change | None]] = []
        self._loading = False
        self._flashing: set[str] = set()
        self._mounts: dict[str, Mounted] = {}  # mount point -> what the container has there
        self.row: LayerRow | None = None  # the layer shown
        self.follower = UpperFollower(self._upper_changed)  # the writable layer's watch
        self._changed_at = 0.0  # when the watcher last changed the live tree

    @property
    def reading(self) -> bool:
        """A layer is being read: the tree shows the one before it until it comes."""
        return self._loading

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
        kept = None if row.writable else self._kept.get((row.path, row.beneath, self.union))
        if kept is None:
            self._read(row, self.union)
            return
        self._kept.move_to_end((row.path, row.beneath, self.union))
        self.app.workers.cancel_group(self.app, "files")  # a read of the layer before this one
        self.stop_following()
        self.load(kept)

    def prefetch(self, rows: list[LayerRow]) -> None:
        """Read the layers next to the one shown (in a worker), so moving to one is instant;
        not in the union view, where each read is the whole image's."""
        wanted = [
            r for r in rows if not r.writable and (r.path, r.beneath, False) not in self._kept
        ]
        if self.union or not wanted:
            return

        def read() -> None:
            for row in wanted:
                listing = Listing(analysis.layer_changes(row.path, row.beneath))
                if get_current_worker().is_cancelled:
                    return
                self.post_message(self.ReadAhead(row, listing))

        self.app.run_worker(
            read, name="prefetch_files", group="prefetch", thread=True, exclusive=True,
            exit_on_error=False,
        )  # fmt: skip

    @while_running
    def on_change_tree_read_ahead(self, message: ReadAhead) -> None:
        message.stop()
        self._keep(message.row, False, message.listing)

    def _keep(self, row: LayerRow, union: bool, listing: Listing) -> None:
        """Keep a read-only layer's listing, forgetting the least recently shown past the cap."""
        if row.writable:
            return
        self._kept[(row.path, row.beneath, union)] = listing
        while sum(len(kept) for kept in self._kept.values()) > KEPT_ENTRIES and self._kept:
            self._kept.popitem(last=False)

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
        listing = Listing(read(row.path, row.beneath))
        if not get_current_worker().is_cancelled:
            self.post_message(FilesLoaded(row=row, union=union, listing=listing, started=started))

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
        self.load(message.listing)
        self._keep(message.row, message.union, message.listing)
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
        self._title = title
        self._retitle()
        self.live = live
        self._loading = True
        self._queued = []

    def load(self, changes: Listing | list[Change]) -> None:
        """Show a layer's entries (a new layer: folded as it comes, the cursor on top)."""
        self.listing = changes if isinstance(changes, Listing) else Listing(changes)
        self._flashing = set()
        self._rebuild(keep=False)
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
        placed = self.sort == "name" and self.only is None  # else the order is redone below
        for path, change in sorted(updates.items()):
            before = self.listing.entries.get(path)
            self.listing.update(path, change)
            node = self._by_path.get(path)
            if change is not None and before != change:
                news.append(change)
            if not placed:
                continue
            if change is None:
                if node is not None:
                    self._remove(node)
            elif node is None:
                self._add(change)
            else:
                node.data = change
        if not placed and updates:
            self._rebuild(keep=True)
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

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._rebuild(keep=True)

    def action_cycle_filter(self) -> None:
        self.only = FILTERS[(FILTERS.index(self.only) + 1) % len(FILTERS)]
        self._rebuild(keep=True)
        self._settle()

    def _retitle(self) -> None:
        """The title says the order and the filter first (seen at 80 columns), then the layer."""
        only = self.only
        shown = "all" if only is None else f"{FILTER_NAMES[only]} only ({self.listing.count(only)})"
        self.border_title = literal(Text(f"by {self.sort} · {shown} │ {self._title}"))

    def _rebuild(self, keep: bool) -> None:
        """Make the nodes again from the listing, in the order and filter chosen; with `keep`,
        the folders unfolded stay unfolded and the cursor stays on its entry."""
        unfolded = sorted(p for p, n in self._by_path.items() if n.is_expanded) if keep else []
        cursor = self.cursor_node.data if keep and self.cursor_node is not None else None
        self.clear()
        self._by_path, self._filled = {}, set()
        count = len(self.listing)
        self._fill(self.root, "", deep=count <= FILL_ALL_UP_TO)
        if count <= EXPAND_ALL_UP_TO:
            self.root.expand_all()
        else:
            self.root.expand()
        for path in unfolded:
            if path in self._by_path:
                self.unfold(self._by_path[path])
        if cursor is not None and cursor.path in self._by_path:
            self.move_cursor(self._by_path[cursor.path])
        self._retitle()

    def _fill(self, node: TreeNode[Change], folder: str, deep: bool) -> None:
        """Make the nodes of `folder`'s entries under `node` (and, `deep`, of their own)."""
        self._filled.add(folder)
        for change in self.listing.children(folder, self.sort, self.only):
            has = self.listing.has_children(change.path, self.only)
            child = node.add(Text(change.path.rpartition("/")[2]), change, allow_expand=has)
            self._by_path[change.path] = child
            if not has:
                self._filled.add(change.path)  # nothing to fill: a live entry lands in it
            elif deep:
                self._fill(child, change.path, deep)

    def unfold(self, node: TreeNode[Change]) -> None:
        """Unfold a folder, its entries made now if they were not yet."""
        if node.data is not None and node.data.path not in self._filled:
            self._fill(node, node.data.path, deep=False)
        node.expand()

    def _toggle_node(self, node: TreeNode[Change]) -> None:
        """A key or a click unfolds a folder: its entries are made first, so the frame that
        draws it unfolded draws them too."""
        if not node.is_expanded and node.data is not None and node.data.path not in self._filled:
            self._fill(node, node.data.path, deep=False)
        super()._toggle_node(node)

    def on_tree_node_expanded(self, message: Tree.NodeExpanded[Change]) -> None:
        """A folder unfolded another way (`expand_all`): its entries are made now."""
        node = message.node
        if node.tree is self and node.data is not None and node.data.path not in self._filled:
            self._fill(node, node.data.path, deep=False)

    def action_toggle_union(self) -> None:
        self.union = not self.union
        if self.row is not None:
            self.open_layer(self.row)

    def _settle(self) -> None:
        self.show_root = not self.root.children
        if not self.root.children:
            empty = EMPTY if not self.listing else f"nothing {FILTER_NAMES[self.only]} here"
            self.root.set_label(empty)
        self._retitle()
        self.post_message(self.Counted(len(self.listing)))

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

    def _add(self, change: Change) -> None:
        """A live entry, placed in name order under its folder if the folder's nodes are made
        (else it is made with them, from the listing, once the folder is unfolded)."""
        parent_path, _, name = change.path.rpartition("/")
        parent = self._by_path.get(parent_path, self.root) if parent_path else self.root
        if parent_path and parent_path not in self._by_path:
            return
        if parent is not self.root and not parent.allow_expand:
            parent.allow_expand = True
            parent.expand()
        if parent_path not in self._filled:
            return
        siblings = parent.children
        at = bisect.bisect_right(siblings, name, key=_name)
        node = parent.add_leaf(Text(name), change, before=at if at < len(siblings) else None)
        self._by_path[change.path] = node
        self._filled.add(change.path)

    def _remove(self, node: TreeNode[Change]) -> None:
        stack = [node]
        while stack:
            gone = stack.pop()
            if gone.data is not None:
                self._by_path.pop(gone.data.path, None)
                self._filled.discard(gone.data.path)
            stack += gone.children
        node.remove()

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
