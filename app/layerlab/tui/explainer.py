"""The explainer: what the last command did to the union filesystem, in a sentence or two."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from layerlab.tui.literal import literal

WELCOME = (
    "Welcome! Type [b]docker create busybox sleep 600[/b] to put a writable layer on an image, "
    "then [b]docker start <name>[/b] to give it a process space. F1 explains the panels."
)


class Explainer(Static):
    """Says what changed, so the panels' movement has a meaning."""

    DEFAULT_CSS = """
    Explainer {
        padding: 0 1;
        background: $explainer-background;  /* a tint that stays one in 256 colours */
    }
    """

    text: reactive[str] = reactive("")

    def on_mount(self) -> None:
        self.update(Text.from_markup(WELCOME))

    def watch_text(self, text: str) -> None:
        if text:
            self.update(literal(Text(text)))
