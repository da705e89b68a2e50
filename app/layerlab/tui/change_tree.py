"""The files panel: a layer's entries as A/C/D; the writable layer's kept live."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from layerlab.unionfs import Change

KIND_STYLE = {"A": "bold green", "C": "bold yellow", "D": "bold red", " ": ""}  # dive's colours
FLASH_SECONDS = 1.5
FLASH_UP_TO = 50  # a burst bigger than this is news as a count, not as blinking lines
EXPAND_ALL_UP_TO = 200


class ChangeTree(Tree[Change]):
    """Entries of one layer against the layers beneath it: A added, C changed, D deleted.

    For the writable layer it follows the watch on the upperdir: `apply()`
    takes the re-read paths, so a write inside the container changes one node
    rather than reloading the tree. New entries flash.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "toggle_union", "Union view"),
    ]

    class UnionToggled(Message):
        """The user switched between the layer's own entries and the merged view below it."""

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

    def begin(self, title: str, live: Path | None) -> None:
        """A new layer is being read; updates until `load()` are queued, not lost."""
        self.border_title = title
        self.live = live
        self._loading = True
        self._queued = []

    def load(self, changes: list[Change]) -> None:
        self.clear()
        self._by_path = {}
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
            for path in paths:
                self._relabel(path, flash=True)
            self.set_timer(FLASH_SECONDS, lambda: self._unflash(paths))
        self._settle()
        return news

    def action_toggle_union(self) -> None:
        self.union = not self.union
        self.post_message(self.UnionToggled())

    def _settle(self) -> None:
        self.show_root = not self._by_path
        if not self._by_path:
            self.root.set_label(Text("empty: nothing written yet", style="italic dim"))
        self.post_message(self.Counted(len(self._by_path)))

    def _label(self, change: Change, flash: bool = False) -> Text:
        name = change.path.rpartition("/")[2]
        text = Text.assemble((change.kind, KIND_STYLE[change.kind]), " ", name)
        if change.kind == " ":  # shows through from a layer beneath
            text.stylize("dim")
        if change.kind == "D":
            text.append("  whiteout: deleted here, hides the layers' copy below", "italic red")
        elif change.opaque:
            text.append("  opaque: hides what the layers below have here", "italic yellow")
        if flash:
            text.stylize("reverse")
        return text

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
        node = parent.add_leaf(
            self._label(change), change, before=at if at < len(siblings) else None
        )
        self._by_path[change.path] = node
        return node

    def _remove(self, path: str, node: TreeNode[Change]) -> None:
        node.remove()
        for key in [k for k in self._by_path if k == path or k.startswith(path + "/")]:
            del self._by_path[key]

    def _relabel(self, path: str, flash: bool = False) -> None:
        node = self._by_path.get(path)
        if node is not None and node.data is not None:
            node.set_label(self._label(node.data, flash))

    def _unflash(self, paths: list[str]) -> None:
        for path in paths:
            self._relabel(path)


def _name(node: TreeNode[Change]) -> str:
    return node.data.path.rpartition("/")[2] if node.data else ""
