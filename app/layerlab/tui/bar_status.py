"""The line above the command bar: the running command (spinner, time), the queue, a hint.

Hidden while there is nothing to say, so a settled screen looks as before.
The hint is what Tab found (the alternatives) or a line the TUI offers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from layerlab.tui.command_queue import CommandQueue
from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, on_theme_change

TICK_SECONDS = 0.1


class BarStatus(Static):
    """Shows `queue.status()` while a command runs, and a one-line hint."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"bar-status--running", "bar-status--hint"}
    """
    | Class | Description |
    | :- | :- |
    | `bar-status--running` | The running command, its time and the queue. |
    | `bar-status--hint` | Completion alternatives, or a line offered to edit. |
    """
    DEFAULT_CSS = """
    BarStatus {
        height: auto;
        max-height: 2;
        padding: 0 1;
        display: none;
        background: $boost;
        &.-shown { display: block; }
        & > .bar-status--running { color: $text-warning; text-style: bold; }
        & > .bar-status--hint { color: $text-accent; }
    }
    """

    def __init__(self, queue: CommandQueue, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.queue = queue
        self.hint = ""
        self._timer: Timer | None = None

    def on_mount(self) -> None:
        on_theme_change(self, self.show_state)

    def set_hint(self, hint: str) -> None:
        self.hint = hint
        self.show_state()

    def show_state(self) -> None:
        """Render the queue and the hint; tick the spinner only while a command runs."""
        running = not self.queue.idle
        if running and self._timer is None:
            self._timer = self.set_interval(TICK_SECONDS, self.show_state)
        elif not running and self._timer is not None:
            self._timer.stop()
            self._timer = None
        text = Text(no_wrap=True, overflow="ellipsis")
        if running:
            text.append(self.queue.status(), component_style(self, "bar-status--running"))
        if self.hint:
            if text:
                text.append("\n")
            text.append(self.hint, component_style(self, "bar-status--hint"))
        self.set_class(bool(text), "-shown")
        self.update(literal(text))
