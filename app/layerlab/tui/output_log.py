"""The output log: what each command printed, as the CLI prints it."""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import RichLog

from layerlab.tui.literal import literal
from layerlab.tui.look import component_style, on_theme_change


class OutputLog(RichLog):
    """Command output in Docker's own columns; never parsed as markup (ids may hold brackets)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "output-log--command",
        "output-log--note",
        "output-log--error",
    }
    """
    | Class | Description |
    | :- | :- |
    | `output-log--command` | The command line, as typed. |
    | `output-log--note` | A note from the TUI, not the command's output. |
    | `output-log--error` | What the command wrote to stderr. |
    """
    DEFAULT_CSS = """
    OutputLog {
        & > .output-log--command { text-style: bold; }
        & > .output-log--note { color: $text-muted; text-style: italic; }
        & > .output-log--error { color: $text-error; }
    }
    """

    class Line(Message):
        """A line to show, in its turn: every line goes through the log's message queue, the
        command's own (posted from its worker) and the app's (a command's echo, an error,
        a note), so the next command's echo never overtakes the last one's output."""

        def __init__(
            self, text: str, err: bool = False, note: bool = False, command: bool = False
        ) -> None:
            super().__init__()
            self.text = text
            self.err = err
            self.note = note  # the TUI's own line (a build step explained), not the command's
            self.command = command  # a command line, as typed

    class Cleared(Message):
        """`clear` typed in the bar: in its turn too, after what came before it."""

    def __init__(self, first_note: str = "", *, id: str | None = None) -> None:
        # Wrapped, so no line is cut; Ctrl+G gives the pane most of the screen.
        super().__init__(
            wrap=True, min_width=20, markup=False, highlight=False, max_lines=5000, id=id
        )
        self._first_note = first_note  # written at mount: in its style, known only then
        self._written: deque[OutputLog.Line] = deque(maxlen=5000)  # to restyle them

    def on_mount(self) -> None:
        on_theme_change(self, self._restyle)
        if self._first_note:
            self.note(self._first_note)

    def command(self, line: str) -> None:
        self.post_message(self.Line("$ " + line, command=True))

    def note(self, text: str) -> None:
        self.post_message(self.Line(text, note=True))

    def say(self, text: str) -> None:
        self.post_message(self.Line(text))

    def clear_in_turn(self) -> None:
        self.post_message(self.Cleared())

    def on_output_log_line(self, message: Line) -> None:
        self._written.append(message)
        self.write(self._styled(message))

    def _styled(self, message: Line) -> Text:
        style = (
            self._component("output-log--command") if message.command
            else self._component("output-log--error") if message.err
            else self._component("output-log--note") if message.note
            else Style()
        )  # fmt: skip
        return literal(Text(message.text, style=style))

    def _restyle(self) -> None:
        """A line keeps the colours it was written in: in a new theme, write them all again."""
        self.clear()
        for message in self._written:
            self.write(self._styled(message))

    def on_output_log_cleared(self, _message: Cleared) -> None:
        self._written.clear()
        self.clear()

    def _component(self, name: str) -> Style:
        return component_style(self, name)


class LogStream(io.StringIO):
    """A text stream for the CLI's `IO`: each complete line becomes an `OutputLog.Line`.

    Written from the command's worker and from the pump threads that copy an
    attached container's output, so writes are serialized; posting a message
    is thread-safe.
    """

    def __init__(self, log: OutputLog, err: bool = False) -> None:
        super().__init__()
        self.log = log
        self.err = err
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        """Pass each complete line on; nothing is kept (no face parses what was printed)."""
        with self._lock:
            *lines, self._partial = (self._partial + s).split("\n")
        for line in lines:
            self.log.post_message(OutputLog.Line(line.expandtabs(), self.err))
        return len(s)

    def flush(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self.log.post_message(OutputLog.Line(line.expandtabs(), self.err))
