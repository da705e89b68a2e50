"""A pull's or a push's progress as Docker's client prints it (docker/cli's jsonmessage), read
from the transfer's record (`registry/transfers.py`) each time it changes.

On a terminal each layer has a line, `<12-hex>: Downloading [==>   ] 1.2MB/5MB`, redrawn
in place with cursor movement (up to its line, clear it, write, back down). Elsewhere
(a pipe, a file) each state change is a plain line, and the states that carry a bar
(`Downloading`, `Extracting`) are not printed, as Docker's client leaves them out.
"""

from __future__ import annotations

import shutil
import threading
import time
from typing import TYPE_CHECKING, TextIO

from layerlab.presentation.humanize import human_size
from layerlab.storage.reference import short_id

if TYPE_CHECKING:
    from layerlab.registry.transfers import Blob, Transfer

WITH_BAR = frozenset({"Downloading", "Extracting", "Pushing"})
BAR_WIDTH = 110  # Docker draws the bar only on a terminal wider than this


def bar(done: int, total: int, started: float, width: int, now: float) -> str:
    """JSONProgress.String(): `[====>   ] 1.2MB/5MB 3s` (the bar on a wide terminal)."""
    if done <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(done):>8}"
    filled = min(int(done / total * 100) // 2, 50)
    box = f"[{'=' * filled}>{' ' * (50 - filled)}] " if width > BAR_WIDTH else ""
    numbers = f"{human_size(done):>8}/{human_size(total)}"
    if done > total:
        numbers = f"{human_size(done):>8}"
    left = ""
    if done > 0 and filled < 50 and width > 50:
        seconds = int((total - done) * (now - started) / done)
        left = f" {_go_duration(seconds)}"
    return box + numbers + left


def _go_duration(seconds: int) -> str:
    """Go's time.Duration.String() for whole seconds: `3s`, `1m5s`, `2h0m1s`."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class PullPrinter:
    """Prints plain lines (`say`) and the layers' lines (`observe`, given the record)."""

    def __init__(self, out: TextIO, terminal: bool) -> None:
        self.out = out
        self.terminal = terminal
        self.width = shutil.get_terminal_size().columns if terminal else 0
        self._rows: dict[str, int] = {}  # a layer's short id -> its line (terminal)
        self._shown: dict[str, tuple[str, int]] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        """A line without an id: printed below the layers' lines, which it closes."""
        with self._lock:
            self._rows.clear()
            self.out.write(line + "\n")
            self.out.flush()

    def observe(self, transfer: Transfer) -> None:
        with self._lock:
            for blob in transfer.blobs:
                if blob.kind == "layer" and blob.status:
                    # Docker names a layer by its blob when pulling, by its diff_id when pushing
                    self._blob(blob, blob.diff_id if transfer.verb == "push" else blob.digest)
            self.out.flush()

    def _blob(self, blob: Blob, name: str) -> None:
        key = short_id(name)
        state = (blob.status, blob.done if blob.status in WITH_BAR else 0)
        if self._shown.get(key) == state:
            return
        changed = self._shown.get(key, ("", 0))[0] != blob.status
        self._shown[key] = state
        if changed:
            self._started[key] = time.time()
        if not self.terminal:
            if changed and blob.status not in WITH_BAR:
                self.out.write(f"{key}: {blob.status}\n")
            return
        text = blob.status
        if blob.status in WITH_BAR:
            progress = bar(blob.done, blob.size, self._started[key], self.width, time.time())
            text = f"{text} {progress}"
        self._draw(key, text)

    def _draw(self, key: str, text: str) -> None:
        """Docker's redraw: a new id gets a new line; up to the id's line, clear, write,
        back down."""
        if key not in self._rows:
            self._rows[key] = len(self._rows)
            self.out.write("\n")
        up = len(self._rows) - self._rows[key]
        self.out.write(f"\x1b[{up}A\x1b[2K\r{key}: {text}\r\x1b[{up}B")
