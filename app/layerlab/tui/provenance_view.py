"""Provenance: for a path of the merged view, the layer that supplies it and what it shadows."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static
from textual.worker import get_current_worker

from layerlab.layerfs import analysis
from layerlab.layerfs.analysis import Provenance
from layerlab.tui.literal import literal, shown
from layerlab.tui.look import component_style, on_theme_change
from layerlab.tui.messages import ProvenanceLoaded, while_running
from layerlab.tui.model import SubjectView

COPY_KEY = "ctrl+y"  # the app's binding that copies the host path
HINT = "select a file: which layer supplies it, which copies it shadows"
# Diff lines by their first character, and the component class each is drawn with.
DIFF_CLASS = {
    "+": "provenance-view--added",
    "-": "provenance-view--removed",
    "@": "provenance-view--hunk",
}

Styles = Callable[[str], Style]


def describe(path: str, entries: list[tuple[str, str]], style: Styles | None = None) -> Text:
    """`/etc/passwd ← the writable layer; shadows layer 3f2a1b4c5d6e (file)`.

    `style` maps a part (path, deleted, supplied, opaque, lower) to its style.
    """
    look: Styles = style or (lambda _part: Style())
    text = Text.assemble((path, look("path")), " ")
    if not entries:
        return text.append("is not in the merged view", look("absent"))
    top, kind = entries[0]
    rest = ", ".join(f"{label} ({k})" for label, k in entries[1:])
    if kind == "whiteout":
        text.append(f"is deleted: a whiteout in {top} hides it", look("deleted"))
        return text.append(f"; below it: {rest}" if rest else "", look("lower"))
    if kind == "dir" and rest:
        return text.append(f"← a directory merged from {top}, {rest}")
    text.append(f"← {top} ({kind})", look("supplied"))
    if kind == "opaque":
        text.append("; opaque: the layers below are hidden here", look("opaque"))
    return text.append(f"; shadows {rest}" if rest else "; no lower copy", look("lower"))


class ProvenanceView(Static):
    """A line or two under the file tree; for a changed text file, its diff below them."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "provenance-view--hint",
        "provenance-view--path",
        "provenance-view--host",
        "provenance-view--absent",
        "provenance-view--deleted",
        "provenance-view--supplied",
        "provenance-view--opaque",
        "provenance-view--lower",
        "provenance-view--added",
        "provenance-view--removed",
        "provenance-view--hunk",
    }
    """
    | Class | Description |
    | :- | :- |
    | `provenance-view--hint` | What to do before a file is selected. |
    | `provenance-view--path` | The path. |
    | `provenance-view--host` | Where that copy is on the host (the layer's diff/). |
    | `provenance-view--absent` | A path not in the merged view. |
    | `provenance-view--deleted` | A path a whiteout deletes. |
    | `provenance-view--supplied` | The layer that supplies the path. |
    | `provenance-view--opaque` | The note on an opaque directory. |
    | `provenance-view--lower` | The lower copies it shadows. |
    | `provenance-view--added`, `--removed`, `--hunk` | The content diff's lines. |
    """
    DEFAULT_CSS = """
    ProvenanceView {
        padding: 0 1;
        & > .provenance-view--hint { color: $text-muted; text-style: italic; }
        & > .provenance-view--path { text-style: bold; }
        & > .provenance-view--host { text-style: none; }
        & > .provenance-view--absent { text-style: italic; }
        & > .provenance-view--deleted { color: $text-error; }
        & > .provenance-view--supplied { color: $text-success; }
        & > .provenance-view--opaque { color: $text-warning; }
        & > .provenance-view--lower { color: $text-muted; }
        & > .provenance-view--added { color: $text-success; }
        & > .provenance-view--removed { color: $text-error; }
        & > .provenance-view--hunk { color: $text-primary; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.provenance: Provenance | None = None

    def on_mount(self) -> None:
        on_theme_change(self, self._draw)
        self._draw()

    def _part(self, part: str) -> Style:
        return component_style(self, f"provenance-view--{part}")

    def show(self, provenance: Provenance) -> None:
        self.provenance = provenance
        self._draw()

    def trace(self, view: SubjectView, path: str) -> None:
        """Trace `path` of the subject's merged view through its layers, in a worker."""

        def read() -> None:
            provenance = analysis.provenance_of(view.union, view.labels, path)
            if not get_current_worker().is_cancelled:
                self.post_message(ProvenanceLoaded(provenance=provenance))

        self.app.run_worker(
            read,
            name="load_provenance",
            group="provenance",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    @while_running
    def on_provenance_loaded(self, message: ProvenanceLoaded) -> None:
        if not message.stale:
            self.show(message.provenance)

    def copy_host_path(self) -> None:
        """Copy where the selected file really is (OSC 52): the article's `find /` moment."""
        provenance = self.provenance
        if provenance is None or not provenance.host:
            self.notify("select a file first: its host path is what gets copied", timeout=3)
            return
        self.app.copy_to_clipboard(provenance.host)
        self.notify(shown(provenance.host), title="copied the host path", timeout=4, markup=False)

    def clear(self) -> None:
        """Back to the hint: the subject changed, so the last path's story is another's."""
        if self.provenance is not None:
            self.provenance = None
            self._draw()

    def _draw(self) -> None:
        provenance = self.provenance
        if provenance is None:
            self.update(Text(HINT, style=self._part("hint")))
            return
        text = describe(provenance.path, provenance.entries, self._part)
        if provenance.host:  # the article's `find / -name happiness.txt`: whole, never cut
            text.append("\non the host: ", self._part("lower"))
            text.append(provenance.host, self._part("host"))
            text.append(f"  ({COPY_KEY} copies it)", self._part("lower"))
        lower = self._part("lower")
        for line in provenance.diff:
            component = DIFF_CLASS.get(line[:1])
            style = component_style(self, component) if component else lower
            text.append("\n" + line, style)
        self.update(literal(text))
