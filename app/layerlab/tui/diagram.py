"""The article's pictures, live: an image, a container, a running container, as it draws them.

An image is a stack of read-only layers; a container is that stack plus one
writable layer on top; a running container adds a process space beside it. What is mounted over
the union (volumes, binds, tmpfs) is drawn under the stack, outside it.
`picture()` is a pure function from a `SubjectView` to a Rich renderable, so
it is tested without an app; `Diagram` is the widget that shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from layerlab.presentation.humanize import human_size, plural
from layerlab.storage.reference import short_id
from layerlab.tui.literal import literal, shown
from layerlab.tui.look import component_style, on_theme_change, panel_css
from layerlab.tui.model import LayerRow, SubjectView
from layerlab.tui.network_picture import namespaces, network_space
from layerlab.tui.outside import NOTE, describe

CAPTION = (
    "A layer id names one read-only layer (bottom: no parent); an image id (sha256:…) "
    "names an image. rmi takes an image id or name, never a layer id."
)
DRAWN_UP_TO = 12  # layers drawn one box each; a deeper image's middle is a count
EMPTY = "no subject yet: an image is a stack of read-only layers; create puts a writable one on top"
BESIDE_FROM = 56  # columns from which the process space is drawn beside the stack
PARTS = (
    "writable", "read-only", "bottom", "process", "frozen", "caption", "title", "id", "mount"
)  # fmt: skip


Styles = Callable[[str], Style]


def image_id(view: SubjectView) -> str:
    """The image's id (`sha256:…`): the subject itself, or the image a container was made from."""
    if view.subject.kind == "image":
        return view.subject.id
    return str(view.inspect.get("Image") or "")


def _short(any_id: str) -> str:
    return short_id(any_id) + "…"


def init_command(view: SubjectView) -> str:
    """Pid 1's command line, as the OCI config handed to runc has it."""
    args = (view.bundle or {}).get("process", {}).get("args") or []
    return shown(" ".join(str(a) for a in args)) or "?"


def header(view: SubjectView, s: Styles) -> Text:
    """Which subject, and the image id (told apart from the layer ids below it)."""
    if view.subject.kind == "image":
        text = Text.assemble(("image ", s("title")), (view.name, s("title")))
        text.append(f" = {plural(len(view.layers), 'read-only layer')}")
    else:
        text = Text.assemble(("container ", s("title")), (view.name, s("title")))
        text.append(f" = image {view.image_name} + a writable layer")
    text.append_text(Text.assemble("\nimage id ", (image_id(view)[:19] + "…", s("id"))))
    return text


def stack(view: SubjectView, s: Styles) -> Table:
    """One box per layer, the writable one on top, down to the bottom layer (no parent)."""
    table = Table(box=box.SQUARE, show_header=False, show_lines=True, expand=True, padding=(0, 1))
    table.add_column("layer", overflow="ellipsis", no_wrap=True)
    read_only = [row for row in view.layers if not row.writable]
    for row in _drawn(view.layers):
        if isinstance(row, int):
            table.add_row(Text(f"… {plural(row, 'more read-only layer')} …", s("read-only")))
            continue
        if row.writable:
            table.add_row(
                Text.assemble(
                    ("writable layer  RW  ", s("writable")),
                    (human_size(row.size), s("writable")),
                    f"\ncontainer {view.name}'s own files",
                )
            )
            continue
        line = Text.assemble("layer ", (_short(row.key), s("id")), ("  RO", s("read-only")))
        line.append("\n" + (row.created_by or "(no command recorded)"))
        if row is read_only[-1]:
            line.append("\nbottom layer: no parent", s("bottom"))
        table.add_row(literal(line))
    return table


def _drawn(layers: tuple[LayerRow, ...]) -> list[LayerRow | int]:
    """The layers drawn, top first: past `DRAWN_UP_TO`, the top ones, how many are left out,
    and the bottom one (a 125-layer image is a picture, not 375 lines to render)."""
    if len(layers) <= DRAWN_UP_TO:
        return list(layers)
    top = list(layers[: DRAWN_UP_TO - 1])
    return [*top, len(layers) - len(top) - 1, layers[-1]]


def process_space(view: SubjectView, s: Styles) -> Table:
    """The running container's isolated process space: pid 1 and whether it is frozen."""
    table = Table(box=box.ROUNDED, show_header=False, padding=(0, 1), expand=True)
    table.add_column("process space", overflow="fold")
    frozen = view.status == "paused"
    table.add_row(
        Text.assemble(
            ("process space\n", s("title")),
            ("pid 1 ", s("process")),
            init_command(view),
            "\n",
            ("frozen (paused)", s("frozen")) if frozen else ("running", s("process")),
        )
    )
    if view.namespaces:
        table.add_row(namespaces(view, s))
    return table


def running_side(view: SubjectView, s: Styles) -> RenderableType:
    """The process space, and the container's network namespace under it."""
    net = network_space(view, s)
    return process_space(view, s) if net is None else Group(process_space(view, s), net)


def outside(view: SubjectView, s: Styles) -> Table:
    """Volumes, binds and tmpfs: mounted over the union, so drawn apart from the layers."""
    table = Table(box=box.DOUBLE, show_header=False, padding=(0, 1), expand=True)
    table.add_column("mounts", overflow="fold")
    text = Text("mounted over the union\n", style=s("title"))
    for mount in view.mounts:
        text.append(shown(describe(mount)) + "\n", s("mount"))
    text.append(NOTE, s("caption"))
    table.add_row(text)
    return table


class Picture:
    """The drawing: the process space beside the stack when there is room, else below it."""

    def __init__(self, view: SubjectView, s: Styles) -> None:
        self.view, self.s = view, s

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        view, s = self.view, self.s
        yield header(view, s)
        layers: RenderableType = stack(view, s)
        if view.mounts:  # right under the stack, apart from it
            layers = Group(layers, outside(view, s))
        if not view.running:
            yield layers
        elif options.max_width >= BESIDE_FROM:
            beside = Table.grid(expand=True, padding=(0, 1))
            beside.add_column(ratio=3)
            beside.add_column(ratio=2)
            beside.add_row(layers, running_side(view, s))
            yield beside
        else:
            yield layers
            yield running_side(view, s)
        yield Text(CAPTION, style=s("caption"))


def picture(view: SubjectView | None, style: dict[str, Style] | None = None) -> RenderableType:
    """The subject drawn as the article draws it; `style` maps a part (PARTS) to its look."""
    look = style or {}

    def s(part: str) -> Style:
        return look.get(part, Style())

    if view is None:
        return Text(EMPTY, style=s("caption"))
    return Picture(view, s)


class Diagram(Static):
    """The current subject as the article's picture; it changes as commands run."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"diagram--{part}" for part in PARTS}
    """
    | Class | Description |
    | :- | :- |
    | `diagram--writable` | The writable layer. |
    | `diagram--read-only` | A read-only layer's `RO` mark. |
    | `diagram--bottom` | The bottom layer's mark (no parent). |
    | `diagram--process` | The process space's pid 1 and state. |
    | `diagram--frozen` | A paused container's frozen processes. |
    | `diagram--caption` | Which id is which. |
    | `diagram--title` | The subject's name, the process space's title. |
    | `diagram--id` | Layer and image ids. |
    | `diagram--mount` | A volume, bind or tmpfs, outside the layers. |
    """
    DEFAULT_CSS = (
        panel_css("Diagram")
        + """
    Diagram {
        padding: 0 1;
        & > .diagram--writable { color: $text-success; text-style: bold; }
        & > .diagram--read-only { color: $foreground; }
        & > .diagram--bottom { color: $text-warning; text-style: italic; }
        & > .diagram--process { color: $text-success; text-style: bold; }
        & > .diagram--frozen { color: $text-primary; text-style: bold; }
        & > .diagram--caption { color: $foreground; text-style: italic; }
        & > .diagram--title { text-style: bold; }
        & > .diagram--id { color: $text-primary; }
        & > .diagram--mount { color: $text-warning; text-style: bold; }
    }
    """
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: SubjectView | None = None

    def on_mount(self) -> None:
        on_theme_change(self, self._draw)
        self._draw()

    def show(self, view: SubjectView | None) -> None:
        self.view = view
        self._draw()

    def presenting(self, present: bool) -> None:
        """Its title says how F8 changes the screen: presentation mode shows it large."""
        self.border_title = "the article's picture" + (
            " · F8 shows every panel" if present else " · F8 presents it"
        )

    def _draw(self) -> None:
        styles = {part: component_style(self, f"diagram--{part}") for part in PARTS}
        self.update(picture(self.view, styles))
