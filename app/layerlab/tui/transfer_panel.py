"""A pull or a push, drawn while it happens: the manifest, the config and each layer blob.

Each blob shows the three names a layer has side by side: the compressed digest the
registry knows it by, the `diff_id` of its uncompressed tar (the image config lists those)
and the chain id the store names the layer stack up to it by; then which blobs did not
travel (`Already exists`, `Layer already exists`, `Mounted from`) and how far the others are.
It reads the transfer records the engine hands over (`Engine.transfers()`), whoever runs the
transfer: the command bar or another terminal. A record vanishes when its transfer ends; the
last picture stays, marked ended, until the next command. `picture()` is a pure function of
the records and a width, tested without an app.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from layerlab.presentation.humanize import human_size
from layerlab.storage.reference import chain_id
from layerlab.tui.literal import shown
from layerlab.tui.look import component_style, on_theme_change, panel_css

if TYPE_CHECKING:
    from layerlab.registry.transfers import Blob, Transfer

PARTS = ("title", "id", "exists", "moving", "done", "caption", "bar")
EXISTS = ("Already exists", "Layer already exists", "Mounted from")  # blobs that did not travel
DONE = ("Download complete", "Pull complete", "Pushed")
CAPTION = (
    "blob: the compressed digest the registry names · diff_id: the uncompressed tar's "
    "(the config lists them) · chain id: this layer with all below it (the store's name). "
    "Same content, same digests: a blob already there never travels."
)
Styles = Callable[[str], Style]


def digest_width(width: int) -> int:
    """How many hex digits of a digest fit: 12 at 80 columns, more from 100."""
    if width < 96:
        return 12
    return 16 if width < 130 else 24


def short(digest: str, digits: int) -> str:
    """`sha256:abc…` as its first `digits` hex digits; '—' for no digest (yet)."""
    return digest.partition(":")[2][:digits] or "—"


def in_order(blobs: Sequence[Blob]) -> list[Blob]:
    """The config, then the layers bottom first, as a manifest lists them: followed by
    their chain ids (a push may record them top first, as Docker prints them); in the
    record's order while a chain id is still unknown."""
    config = [b for b in blobs if b.kind == "config"]
    layers = [b for b in blobs if b.kind != "config"]
    ordered: list[Blob] = []
    below: str | None = None
    while rest := [b for b in layers if b not in ordered]:
        nxt = next(
            (b for b in rest if b.chain_id and b.chain_id == chain_id(below, b.diff_id)), None
        )
        if nxt is None:
            return config + layers
        ordered.append(nxt)
        below = nxt.chain_id
    return config + ordered


def exists(blob: Blob) -> bool:
    """The blob did not travel: the other side had it (or mounted it from another repo)."""
    return blob.status.startswith(EXISTS)


def bar(blob: Blob, cells: int) -> str:
    """How far the blob has travelled, `cells` wide."""
    whole = blob.size or 1
    filled = cells if blob.status in DONE else min(cells, cells * blob.done // whole)
    return "█" * filled + "░" * (cells - filled)


def progress(blob: Blob, width: int, ended: bool, s: Styles) -> Text:
    """The blob's bar and Docker's word for its state (sizes too, when there is room); once
    the transfer ended, a state it was last seen in before it finished says so."""
    if exists(blob):
        return Text(shown(blob.status), style=s("exists"))
    done = blob.status in DONE
    if ended and not done:
        return Text(f"last seen: {shown(blob.status)}", style=s("caption"))
    cells = 8 if width < 96 else 12
    text = Text(bar(blob, cells), style=s("done" if done else "bar"))
    text.append(" " + shown(blob.status), style=s("done" if done else "moving"))
    if width >= 96 and blob.size and not done:
        text.append(f" {human_size(blob.done)}/{human_size(blob.size)}", style=s("caption"))
    return text


def blob_table(transfer: Transfer, width: int, ended: bool, s: Styles) -> Table:
    """One row per blob: the config, then the layers bottom first, as the manifest lists them."""
    digits = digest_width(width)
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, expand=True)
    for name in ("", "blob (compressed)", "diff_id", "chain id"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", header_style=s("caption"))
    table.add_column("", ratio=1, no_wrap=True, overflow="ellipsis")
    layer = 0
    for blob in in_order(transfer.blobs):
        if blob.kind == "config":
            kind, diff_id, chain = "config", Text("= image id", style=s("caption")), Text("")
        else:
            layer += 1
            kind = f"layer {layer}"
            diff_id = Text(short(blob.diff_id, digits), style=s("id"))
            chain = Text(short(blob.chain_id, digits), style=s("id"))
        digest = Text(short(blob.digest, digits), style=s("id"))
        table.add_row(kind, digest, diff_id, chain, progress(blob, width, ended, s))
    return table


def heading(transfer: Transfer, ended: bool, width: int, s: Styles) -> Text:
    """`pull REF` and its last line; the manifest's digest and media type."""
    text = Text.assemble((f"{transfer.verb} ", s("title")), (shown(transfer.reference), s("title")))
    if ended:
        text.append("  ended", s("done"))
    elif transfer.status:
        text.append("  " + shown(transfer.status), s("caption"))
    digest = short(transfer.manifest_digest, digest_width(width))
    text.append("\nmanifest ", s("caption"))
    text.append(digest, s("id"))
    if transfer.media_type:
        text.append("  " + shown(transfer.media_type))
    return text


def picture(
    transfers: Sequence[Transfer], width: int, ended: bool = False,
    style: dict[str, Style] | None = None,
) -> RenderableType:  # fmt: skip
    """The transfers drawn `width` columns wide; `style` maps a part (PARTS) to its look."""
    look = style or {}

    def s(part: str) -> Style:
        return look.get(part, Style())

    parts: list[RenderableType] = []
    for transfer in transfers:
        parts += [heading(transfer, ended, width, s), blob_table(transfer, width, ended, s)]
    parts.append(Text(CAPTION, style=s("caption")))
    return Group(*parts)


class TransferPanel(VerticalScroll):
    """The pulls and pushes under way (or the last one, ended), in place of the subject's
    panels while there is one to show."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"transfer-panel--{part}" for part in PARTS}
    """
    | Class | Description |
    | :- | :- |
    | `transfer-panel--title` | The verb and the reference. |
    | `transfer-panel--id` | Digests, diff_ids and chain ids. |
    | `transfer-panel--exists` | A blob that did not travel (already there, mounted). |
    | `transfer-panel--moving` | A blob on its way. |
    | `transfer-panel--done` | A blob that arrived; a transfer that ended. |
    | `transfer-panel--caption` | Column heads, sizes, which name is which. |
    | `transfer-panel--bar` | The part of a bar not yet travelled. |
    """
    DEFAULT_CSS = (
        panel_css("TransferPanel")
        + """
    TransferPanel {
        display: none;
        height: 1fr;
        padding: 0 1;
        scrollbar-size: 1 1;
        &.-shown { display: block; }
        & > .transfer-panel--title { text-style: bold; }
        & > .transfer-panel--id { color: $text-primary; }
        & > .transfer-panel--exists { color: $text-warning; text-style: bold; }
        & > .transfer-panel--moving { color: $foreground; }
        & > .transfer-panel--done { color: $text-success; }
        & > .transfer-panel--caption { color: $foreground; text-style: italic; }
        & > .transfer-panel--bar { color: $text-primary; }
    }
    """
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.transfers: tuple[Transfer, ...] = ()  # what is drawn (the last seen, once ended)
        self.ended = False
        self._picture = Static()

    def compose(self) -> ComposeResult:
        yield self._picture

    def on_mount(self) -> None:
        on_theme_change(self, self._draw)

    @property
    def showing(self) -> bool:
        return bool(self.transfers)

    def show(self, transfers: Sequence[Transfer]) -> None:
        """The records read now; none left after some were shown: those ended."""
        if transfers:
            self.transfers, self.ended = tuple(transfers), False
        elif self.transfers:
            self.ended = True
        self._draw()

    def dismiss(self) -> None:
        """The ended picture goes (a new command); one under way stays."""
        if self.ended:
            self.transfers, self.ended = (), False
            self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        self.set_class(self.showing, "-shown")
        if not self.showing:
            return
        verbs = sorted({t.verb for t in self.transfers})
        self.border_title = " and ".join(verbs) + (" · ended" if self.ended else " · live")
        styles = {part: component_style(self, f"transfer-panel--{part}") for part in PARTS}
        width = self.scrollable_content_region.width or self.size.width
        self._picture.update(picture(self.transfers, width, self.ended, styles))
