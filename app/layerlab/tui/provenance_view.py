"""Provenance: for a path of the merged view, the layer that supplies it and what it shadows."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from layerlab.analysis import Provenance

HINT = "select a file: which layer supplies it, which copies it shadows"


def describe(path: str, entries: list[tuple[str, str]]) -> Text:
    """`/etc/passwd ← the writable layer; shadows layer 3f2a1b4c5d6e (file)`."""
    text = Text.assemble((path, "bold"), " ")
    if not entries:
        return text.append("is not in the merged view", "italic")
    top, kind = entries[0]
    rest = ", ".join(f"{label} ({k})" for label, k in entries[1:])
    if kind == "whiteout":
        text.append(f"is deleted: a whiteout in {top} hides it", "red")
        return text.append(f"; below it: {rest}" if rest else "", "dim")
    if kind == "dir" and rest:
        return text.append(f"← a directory merged from {top}, {rest}")
    text.append(f"← {top} ({kind})", "green")
    if kind == "opaque":
        text.append("; opaque: the layers below are hidden here", "yellow")
    return text.append(f"; shadows {rest}" if rest else "; no lower copy", "dim")


DIFF_STYLE = {"+": "green", "-": "red", "@": "cyan"}


class ProvenanceView(Static):
    """A line or two under the file tree; for a changed text file, its diff below them."""

    def on_mount(self) -> None:
        self.update(Text(HINT, style="italic dim"))

    def show(self, provenance: Provenance) -> None:
        text = describe(provenance.path, provenance.entries)
        for line in provenance.diff:
            text.append("\n" + line, DIFF_STYLE.get(line[:1], "dim"))
        self.update(text)
