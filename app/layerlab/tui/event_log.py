"""The event log: every change the app saw, with the time it saw it."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog


class EventLog(RichLog):
    """Commands, container state changes, layers made and removed, files appearing: timestamped."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=2000, id=id)

    def add(self, text: str, style: str = "") -> None:
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d} "
        self.write(Text.assemble((stamp, "dim"), (text, style)))
