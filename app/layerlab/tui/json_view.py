"""A JSON document, highlighted, with the values that changed since the last command marked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from layerlab.tui.look import component_style, on_theme_change

Path_ = tuple[str | int, ...]
HIGHLIGHT = JSONHighlighter()
# Rich's JSON highlighter names its parts; each is drawn with a component class of ours,
# so the theme (and its contrast) decides the colour, not Rich's default palette.
PART_CLASS = {
    "json.key": "json-view--key",
    "json.str": "json-view--string",
    "json.number": "json-view--number",
    "json.bool_true": "json-view--true",
    "json.bool_false": "json-view--false",
    "json.null": "json-view--null",
    "json.brace": "json-view--brace",
}


def json_lines(
    value: Any, path: Path_ = (), indent: int = 0, prefix: str = "", comma: str = ""
) -> Iterator[tuple[str, Path_, bool]]:
    """`json.dumps(value, indent=2)` line by line, with the path each shows and if it is a leaf."""
    pad = "  " * indent
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict) and value:
        items, open_, close = list(value.items()), "{", "}"
    elif isinstance(value, list) and value:
        items, open_, close = list(enumerate(value)), "[", "]"
    else:
        yield f"{pad}{prefix}{json.dumps(value)}{comma}", path, True
        return
    yield f"{pad}{prefix}{open_}", path, False
    for i, (key, child) in enumerate(items):
        key_prefix = json.dumps(key) + ": " if isinstance(value, dict) else ""
        yield from json_lines(
            child, (*path, key), indent + 1, key_prefix, "," if i < len(items) - 1 else ""
        )
    yield f"{pad}{close}{comma}", path, False


def leaves(value: Any) -> dict[Path_, Any]:
    """Every scalar (and empty container) of a document by its path: what changes are found in."""
    return {path: _at(value, path) for _, path, leaf in json_lines(value) if leaf}


def _at(value: Any, path: Path_) -> Any:
    for key in path:
        value = value[key]
    return value


class JsonView(Static):
    """Shows one document; `mark()` remembers it so the next version's changes stand out."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "json-view--changed",
        "json-view--note",
        "json-view--empty",
        *PART_CLASS.values(),
    }
    """
    | Class | Description |
    | :- | :- |
    | `json-view--changed` | A value the last command changed. |
    | `json-view--note` | What the changed value was (`← was ...`). |
    | `json-view--empty` | The line shown while there is no document. |
    | `json-view--key` ... `--brace` | A part of the document: keys, strings, numbers... |
    """
    DEFAULT_CSS = """
    JsonView {
        width: 1fr;  /* long values and `← was` notes wrap: nothing is cut */
        & > .json-view--changed { background: $warning; color: $background; text-style: bold; }
        & > .json-view--note { text-style: italic; }
        & > .json-view--empty { color: $text-muted; text-style: italic; }
        & > .json-view--key { color: $text-primary; text-style: bold; }
        & > .json-view--string { color: $text-success; }
        & > .json-view--number { color: $text-warning; }
        & > .json-view--true { color: $text-success; text-style: bold; }
        & > .json-view--false { color: $text-error; text-style: bold; }
        & > .json-view--null { color: $text-muted; text-style: italic; }
        & > .json-view--brace { color: $foreground; }
    }
    """

    def __init__(self, empty: str, *, id: str | None = None) -> None:
        super().__init__(empty, id=id)
        self.empty = empty
        self.identity: str | None = None
        self.data: Any = None
        self.changed: list[Path_] = []
        self._baseline: tuple[str | None, dict[Path_, Any]] = (None, {})

    def on_mount(self) -> None:
        on_theme_change(self, lambda: self._draw(reveal=False))
        self._draw(reveal=False)

    def _style(self, component: str) -> Any:
        return component_style(self, component)

    def mark(self) -> None:
        """Remember the document as it is now: later changes to it are highlighted."""
        self._baseline = (self.identity, leaves(self.data) if self.data is not None else {})

    def show(self, identity: str | None, data: Any) -> None:
        """Show `data` (what `identity` names: a container id, a layer id...); None: nothing."""
        self.identity, self.data = identity, data
        self._draw(reveal=True)

    def _draw(self, reveal: bool) -> None:
        data = self.data
        if data is None:
            self.changed = []
            self.update(Text(self.empty, style=self._style("json-view--empty")))
            return
        marked_for, old = self._baseline
        identity = self.identity
        changed_style, note_style = (
            self._style("json-view--changed"),
            self._style("json-view--note"),
        )
        parts = {name: self._style(component) for name, component in PART_CLASS.items()}
        compare = marked_for == identity and bool(old)
        text = Text()
        changed: list[Path_] = []
        for line, path, leaf in json_lines(data):
            row = HIGHLIGHT(Text(line))
            row.spans = [
                span._replace(style=parts.get(str(span.style), span.style)) for span in row.spans
            ]
            if compare and leaf and (path not in old or old[path] != _at(data, path)):
                changed.append(path)
                row.stylize(changed_style, len(line) - len(line.lstrip()))
                note = f"  ← was {json.dumps(old[path])}" if path in old else "  ← new"
                row.append(note, note_style)
            text.append_text(row)
            text.append("\n")
        self.changed = changed
        self.update(text)
        if changed and reveal:
            first = next(i for i, (_, path, _) in enumerate(json_lines(data)) if path in changed)
            self.call_after_refresh(self._reveal, first)

    def _reveal(self, line: int) -> None:
        """Scroll the first changed value into view: it is the news."""
        if isinstance(self.parent, Widget):
            self.parent.scroll_to(y=max(0, line - 1), animate=False)
