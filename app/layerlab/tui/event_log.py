"""The event log: every change the app saw, with the time it saw it."""

from __future__ import annotations

import time
from collections import deque
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import RichLog

from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, on_theme_change


class EventLog(RichLog):
    """Commands, container state changes, layers made and removed, files appearing: timestamped."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-log--time",
        "event-log--command",
        "event-log--added",
        "event-log--removed",
        "event-log--failed",
    }
    """
    | Class | Description |
    | :- | :- |
    | `event-log--time` | The time an event was seen. |
    | `event-log--command` | A command and its exit code. |
    | `event-log--added` | Something appeared: a file in the writable layer. |
    | `event-log--removed` | Something went: a container, an image. |
    | `event-log--failed` | A read that failed (the app carries on). |
    """
    DEFAULT_CSS = """
    EventLog {
        & > .event-log--time { color: $text-muted; }
        & > .event-log--command { text-style: bold; }
        & > .event-log--added { color: $text-success; }
        & > .event-log--removed { color: $text-error; }
        & > .event-log--failed { color: $text-error; text-style: italic; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=2000, id=id)
        self._written: deque[tuple[str, str, str]] = deque(maxlen=2000)  # to restyle them

    def on_mount(self) -> None:
        on_theme_change(self, self._restyle)

    def add(self, text: str, kind: str = "") -> None:
        """Log `text`; `kind` (command, added, removed, failed) picks its style."""
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d} "
        self._written.append((stamp, text, kind))
        self.write(self._styled(stamp, text, kind))

    def _styled(self, stamp: str, text: str, kind: str) -> Text:
        style = self._component(f"event-log--{kind}") if kind else Style()
        return literal(Text.assemble((stamp, self._component("event-log--time")), (text, style)))

    def _restyle(self) -> None:
        """A line keeps the colours it was written in: in a new theme, write them all again."""
        self.clear()
        for line in self._written:
            self.write(self._styled(*line))

    def _component(self, name: str) -> Style:
        return component_style(self, name)
