"""A file's contents, opened from the files panel: text as it is, binary as a hex summary, and
beside it the copy from the layer below that this layer changed or deleted (for two text
copies, the unified diff between them).

The content is untrusted: it is drawn as `Text` (never markup), its control characters as
their pictures (`literal`). It is read in a worker by `layerfs.contents`, which has no UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import get_current_worker

from layerlab.layerfs import contents
from layerlab.layerfs.contents import Contents, Copy
from layerlab.presentation.humanize import human_size
from layerlab.tui.literal import literal
from layerlab.tui.look import component_style
from layerlab.tui.messages import FileRead, while_running

SIDE_BY_SIDE_FROM = 120  # columns: narrower, the lower copy goes under this layer's
NOT_READ = {
    "dir": "a directory: select a file in it",
    "opaque": "an opaque directory: it hides what the layers below have here",
    "other": "a device, FIFO or socket: never read",
    "gone": "gone: removed (or replaced) while being read",
}
CLOSE_HINT = "Esc, q or v: close · ↑↓ PgUp PgDn: scroll · Tab: the other pane"
DIFF_PART = {
    "+": "added",
    "-": "removed",
    "@": "hunk",
}  # a diff line's look, by its first character


class FileBody(Static):
    """One pane: a copy's content, or the diff between two copies."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "file-body--note",
        "file-body--deleted",
        "file-body--added",
        "file-body--removed",
        "file-body--hunk",
    }
    """
    | Class | Description |
    | :- | :- |
    | `file-body--note` | What the copy is (size, kind) and where it was cut. |
    | `file-body--deleted` | A whiteout: deleted in this layer. |
    | `file-body--added`, `--removed`, `--hunk` | The diff's lines. |
    """
    DEFAULT_CSS = """
    FileBody {
        & > .file-body--note { color: $text-muted; text-style: italic; }
        & > .file-body--deleted { color: $text-error; text-style: bold; }
        & > .file-body--added { color: $text-success; }
        & > .file-body--removed { color: $text-error; }
        & > .file-body--hunk { color: $text-primary; }
    }
    """

    def style_of(self, part: str) -> Style:
        return component_style(self, f"file-body--{part}")

    def copy(self, copy: Copy | None) -> None:
        """Draw a copy: its content (cut at `contents.LIMIT`), or what it is when not a file."""
        note = self.style_of("note")
        if copy is None:
            self.update(Text("not in this layer's view", note))
        elif copy.kind == "whiteout":
            self.update(Text("deleted in this layer (a whiteout)", self.style_of("deleted")))
        elif copy.kind == "symlink":
            self.update(literal(Text.assemble(("symlink → ", note), copy.target)))
        elif copy.kind != "file":
            self.update(Text(NOT_READ.get(copy.kind, copy.kind), note))
        else:
            self.update(literal(_file(copy, note)))

    def diff(self, lines: list[str]) -> None:
        text = Text()
        for line in lines:
            part = DIFF_PART.get(line[:1])
            text.append(line + "\n", self.style_of(part) if part else "")
        self.update(literal(text) if lines else Text("the same text", self.style_of("note")))


def _file(copy: Copy, note: Style) -> Text:
    """A regular file: a line saying what it is, then its text or its first bytes in hex."""
    text = Text(f"{human_size(copy.size)} ({copy.size} bytes) · {copy.guess}\n", note)
    content = copy.text
    if content is not None:
        text.append(content)
        if copy.cut:
            shown = human_size(len(copy.head))
            text.append(f"\n… cut: the first {shown} of {human_size(copy.size)}", note)
        return text
    head = copy.head[: contents.HEX_BYTES]
    text.append("\n".join(contents.hex_lines(head)))
    if len(head) < copy.size:
        text.append(f"\n… the first {len(head)} bytes of {copy.size}", note)
    return text


class FileView(ModalScreen[None]):
    """A file of the layer shown in the files panel: this layer's copy, and the one below."""

    DEFAULT_CSS = """
    FileView {
        align: center middle;
        background: $background;
        & > #file-panes {
            width: 100%;
            height: 100%;
            layout: vertical;
            &.-side-by-side { layout: horizontal; }
        }
        & VerticalScroll {
            border: round $primary;
            border-title-color: $text;
            background: $surface;
            height: 1fr;
            width: 1fr;
            &:focus { border: round $accent; }
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,v", "dismiss", "Close"),
    ]

    def __init__(self, union: tuple[Path, ...], labels: dict[Path, str], path: str) -> None:
        super().__init__()
        self.union, self.labels, self.path = union, labels, path
        self.contents: Contents | None = None  # once read
        self.top, self.below = FileBody(id="top"), FileBody(id="below")

    def compose(self) -> ComposeResult:
        wide = self.app.size.width >= SIDE_BY_SIDE_FROM
        with Container(id="file-panes", classes="-side-by-side" if wide else ""):
            with VerticalScroll(id="top-pane"):
                yield self.top
            with VerticalScroll(id="below-pane"):
                yield self.below

    def on_mount(self) -> None:
        top_pane = self.query_one("#top-pane", VerticalScroll)
        top_pane.border_title = literal(Text(f"{self.path} · reading…"))
        top_pane.border_subtitle = CLOSE_HINT
        self.query_one("#below-pane").display = False
        top_pane.focus()
        self.app.run_worker(self._read, name="read_file", group="file", thread=True)

    def _read(self) -> None:
        found = contents.contents_of(self.union, self.path)
        if not get_current_worker().is_cancelled:
            self.post_message(FileRead(contents=found))

    @while_running
    def on_file_read(self, message: FileRead) -> None:
        self.contents = found = message.contents
        top_pane = self.query_one("#top-pane", VerticalScroll)
        below_pane = self.query_one("#below-pane", VerticalScroll)
        top_pane.border_title = literal(Text(f"{self.path} · {self._label(found.top)}"))
        self.top.copy(found.top)
        below = found.below
        below_pane.display = below is not None
        if below is None:
            return
        if found.top is not None and found.top.text is not None and below.text is not None:
            below_pane.border_title = literal(Text(f"diff -u {self._label(below)} → this layer"))
            self.below.diff(found.diff)
        else:
            below_pane.border_title = literal(Text(f"below: {self._label(below)}"))
            self.below.copy(below)

    def _label(self, copy: Copy | None) -> str:
        if copy is None:
            return "not here"
        return self.labels.get(copy.layer, str(copy.layer))
