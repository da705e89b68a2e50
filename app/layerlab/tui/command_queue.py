"""The command queue: lines run one at a time, in the order typed (no widget code here).

A teacher types faster than containers start; each line waits its turn, so
`exec x1 touch /a` never overtakes the `start x1` typed before it. The queue
knows the running line, when it started and how often Ctrl+C was pressed
for it, and says so in one status line (with a spinner frame).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SHOWN_WAITING = 3  # queued lines named in the status line; the rest are counted


class CommandQueue:
    """Lines waiting their turn, and the one running."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._waiting: deque[str] = deque()
        self.running: str | None = None
        self.started = 0.0
        self.interrupts = 0  # Ctrl+C presses while this line runs

    def add(self, line: str) -> None:
        self._waiting.append(line)

    @property
    def waiting(self) -> tuple[str, ...]:
        return tuple(self._waiting)

    @property
    def idle(self) -> bool:
        return self.running is None and not self._waiting

    def take(self) -> str | None:
        """The next line, now running; None while one runs or when none waits."""
        if self.running is not None or not self._waiting:
            return None
        self.running = self._waiting.popleft()
        self.started = self._clock()
        self.interrupts = 0
        return self.running

    def finish(self) -> None:
        self.running = None

    def clear(self) -> int:
        """Drop the waiting lines (the running one runs on); how many were dropped."""
        dropped = len(self._waiting)
        self._waiting.clear()
        return dropped

    def elapsed(self) -> float:
        return self._clock() - self.started if self.running is not None else 0.0

    def status(self) -> str:
        """One line: the running command with a spinner and its time, then what waits."""
        if self.running is None:
            return ""
        elapsed = self.elapsed()
        frame = SPINNER[int(elapsed * 10) % len(SPINNER)]
        parts = [f"{frame} {self.running}  {elapsed:.1f}s"]
        waiting = list(self._waiting)
        if waiting:
            named = " · ".join(waiting[:SHOWN_WAITING])
            more = len(waiting) - SHOWN_WAITING
            parts.append(f"next: {named}" + (f" (+{more})" if more > 0 else ""))
        parts.append("Ctrl+C stops it" + (" · Esc clears the queue" if waiting else ""))
        return "  │  ".join(parts)
