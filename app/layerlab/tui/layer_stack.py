"""The layer stack: the writable layer on top, the read-only layers below it, down to the base.

Under the base, set apart, what is mounted over the union (volumes, binds,
tmpfs): beside the layers, never in them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import get_current_worker

from layerlab.layerfs import analysis
from layerlab.presentation.humanize import human_size
from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, on_theme_change, panel_css
from layerlab.tui.messages import LayerCounted, while_running
from layerlab.tui.model import LayerRow
from layerlab.tui.outside import NOTE, target

if TYPE_CHECKING:
    from layerlab.engine import Mounted

COUNTING = "…"  # a layer whose files are being counted
CREATED_BY_WIDTH = 42
MOUNT_WIDTH = 16
TITLE = "layers · top first"


def _created_by(row: LayerRow) -> str:
    text = row.created_by
    if len(text) <= CREATED_BY_WIDTH:
        return text
    if row.writable:  # a host path: its end says the most
        return "…" + text[-(CREATED_BY_WIDTH - 1) :]
    return text[: CREATED_BY_WIDTH - 1] + "…"


def _where(mount: Mounted) -> str:
    """`volume /data`: what and where, in about a layer id's width (the rest is further right)."""
    text = f"{mount.type} {mount.destination}"
    return text if len(text) <= MOUNT_WIDTH else text[: MOUNT_WIDTH - 1] + "…"


class LayerStack(DataTable[Text | str]):
    """One row per layer; moving the cursor picks the layer whose files and json are shown."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "layer-stack--writable",
        "layer-stack--read-only",
        "layer-stack--nothing",
        "layer-stack--mount",
    }
    """
    | Class | Description |
    | :- | :- |
    | `layer-stack--writable` | The writable layer's `RW` mark. |
    | `layer-stack--read-only` | A read-only layer's `RO` mark. |
    | `layer-stack--nothing` | A layer that hides nothing of the layers below. |
    | `layer-stack--mount` | A volume, bind or tmpfs: mounted over the union, not a layer. |
    """
    DEFAULT_CSS = (
        panel_css("LayerStack")
        + """
    LayerStack {
        & > .layer-stack--writable { color: $text-success; text-style: bold; }
        & > .layer-stack--read-only { color: $text-muted; }
        & > .layer-stack--nothing { color: $text-muted; }
        & > .layer-stack--mount { color: $text-warning; }
    }
    """
    )

    class Picked(Message):
        def __init__(self, row: LayerRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id)
        self.stack: tuple[LayerRow, ...] = ()
        self.mounts: tuple[Mounted, ...] = ()  # the rows under the layers: not layers
        self._picked: LayerRow | None = None
        self._live_files: int | None = None  # the writable layer's count, kept live
        self.note = ""  # where the layers come from, when not their own folders (`--docker`)

    def on_mount(self) -> None:
        self.border_title = TITLE + self.note
        self.add_column("", key="mode")
        self.add_column("layer", key="id")
        self.add_column("size", key="size")
        self.add_column("files", key="files")
        self.add_column("hides", key="hidden")
        self.add_column("created by · host path", key="created_by")
        on_theme_change(self, self._restyle)

    def _restyle(self) -> None:
        stack, self.stack = self.stack, ()
        live = self._live_files
        self.show(stack, self.mounts)
        if live is not None:
            self.set_writable_files(live)

    def show(
        self, layers: tuple[LayerRow, ...], mounts: tuple[Mounted, ...] = (), *, top: bool = False
    ) -> None:
        """Replace the rows, keeping the cursor on the same layer when it is still there.

        With `top` (a new subject, or after a command) the cursor goes to the top
        layer: the writable layer of a container, the newest layer of an image.
        """
        if layers == self.stack and mounts == self.mounts:
            if top and layers and self.cursor_row != 0:
                self.move_cursor(row=0)
                self._pick(layers[0])
            return  # a re-read that found nothing new: leave the table (and cursor) alone
        keep = None if top or self._picked is None else self._picked.key
        self.stack, self.mounts = layers, mounts
        under = " · under them, mounts: outside the layers" if mounts else ""
        self.border_title = TITLE + self.note + under
        self._live_files = None
        self.clear()
        writable = component_style(self, "layer-stack--writable")
        read_only = component_style(self, "layer-stack--read-only")
        nothing = component_style(self, "layer-stack--nothing")
        for row in layers:
            mode = Text("RW", style=writable) if row.writable else Text("RO", style=read_only)
            self.add_row(
                mode,
                Text(row.short_id),
                Text(human_size(row.size), justify="right"),
                *self._counts(row, nothing),
                literal(Text(_created_by(row))),
                key=row.key,
            )
        outside = component_style(self, "layer-stack--mount")
        for mount in mounts:
            self.add_row(
                "",
                Text(_where(mount), style=outside),
                "",
                "",
                "",
                Text(f"{target(mount)} · {NOTE}", style=outside),
                key=f"mount:{mount.destination}",
            )
        self._fit_columns()
        keys = [row.key for row in layers]
        index = keys.index(keep) if keep in keys else 0
        if layers:
            self.move_cursor(row=index)
            self._pick(layers[index])
        self._count([row for row in layers if row.files is None or row.hidden is None])

    @staticmethod
    def _counts(row: LayerRow, nothing: Style) -> tuple[Text, Text]:
        """The files and hides cells: `…` while the layer is being counted."""
        if row.files is None or row.hidden is None:
            return Text(COUNTING, justify="right"), Text(COUNTING, justify="right")
        hidden_style = "" if row.hidden else nothing
        return (
            Text(str(row.files), justify="right"),
            Text(human_size(row.hidden), justify="right", style=hidden_style),
        )

    def _count(self, rows: list[LayerRow]) -> None:
        """Count the layers the subject's read left uncounted (a big image's), top first."""
        if not rows:
            return

        def count() -> None:
            for row in rows:
                files, hidden = analysis.layer_stats(row.path, row.beneath)
                if get_current_worker().is_cancelled:
                    return
                self.post_message(LayerCounted(key=row.key, path=row.path, counts=(files, hidden)))

        self.app.run_worker(
            count, name="count_layers", group="stats", thread=True, exclusive=True,
            exit_on_error=False,
        )  # fmt: skip

    @while_running
    def on_layer_counted(self, message: LayerCounted) -> None:
        if message.stale:
            return
        for i, row in enumerate(self.stack):
            if (row.key, row.path) == (message.key, message.path):
                files, hidden = message.counts
                counted = replace(row, files=files, hidden=hidden)
                self.stack = (*self.stack[:i], counted, *self.stack[i + 1 :])
                nothing = component_style(self, "layer-stack--nothing")
                files_cell, hidden_cell = self._counts(counted, nothing)
                self.update_cell(row.key, "files", files_cell)
                self.update_cell(row.key, "hidden", hidden_cell)

    def _fit_columns(self) -> None:
        """Each column as wide as its widest cell, now, in the refresh that shows the rows.

        A DataTable works its widths out when its queue is idle: a frame painted before
        then (a loaded machine) drew the header at its labels' widths over rows that
        then moved. Never narrower than before, as the table's own reckoning."""
        for key, column in self.columns.items():
            cells = [Text(c) if isinstance(c, str) else c for c in self.get_column(key)]
            column.content_width = max(
                column.content_width, column.label.cell_len, *(c.cell_len for c in cells)
            )

    def set_writable_size(self, size: int) -> None:
        """The writable layer's size, kept live from its watcher (throttled by the app)."""
        if self.stack and self.stack[0].writable:
            self.update_cell("rw", "size", Text(human_size(size), justify="right"))

    def set_writable_files(self, count: int) -> None:
        """The writable layer's file count, kept live from the diff panel."""
        if self.stack and self.stack[0].writable:
            self._live_files = count
            self.update_cell("rw", "files", Text(str(count), justify="right"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if 0 <= event.cursor_row < len(self.stack):
            self._pick(self.stack[event.cursor_row])

    def _pick(self, row: LayerRow) -> None:
        """Announce a different layer (by identity: a re-read of the same one is not news)."""
        if self._picked is None or (row.key, row.path) != (self._picked.key, self._picked.path):
            self._picked = row
            self.post_message(self.Picked(row))
