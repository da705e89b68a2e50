"""The output log: what each command printed, as the CLI prints it."""

from __future__ import annotations

import io
import threading

from rich.text import Text
from textual.message import Message
from textual.widgets import RichLog


class OutputLog(RichLog):
    """Command output in Docker's own columns; never parsed as markup (ids may hold brackets)."""

    class Line(Message):
        def __init__(self, text: str, err: bool) -> None:
            super().__init__()
            self.text = text
            self.err = err

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(wrap=False, markup=False, highlight=False, max_lines=5000, id=id)

    def command(self, line: str) -> None:
        self.write(Text("$ " + line, style="bold"))

    def note(self, text: str) -> None:
        self.write(Text(text, style="italic dim"))

    def on_output_log_line(self, message: Line) -> None:
        self.write(Text(message.text, style="red" if message.err else ""))


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
        """Keep everything (`getvalue()` finds the ids a command printed) and pass lines on."""
        with self._lock:
            super().write(s)
            *lines, self._partial = (self._partial + s).split("\n")
        for line in lines:
            self.log.post_message(OutputLog.Line(line.expandtabs(), self.err))
        return len(s)

    def flush(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self.log.post_message(OutputLog.Line(line.expandtabs(), self.err))
