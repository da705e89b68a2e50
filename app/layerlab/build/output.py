"""What a build prints: the step lines, and each RUN's output into the same stream, as
Docker's; with `-q` all of it is kept aside and shown only if the build fails."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any, TextIO

# A container's stdin, stdout and stderr: an fd, a file, or None to inherit ours.
Stdio = tuple[int | IO[Any] | None, int | IO[Any] | None, int | IO[Any] | None]


class BuildOutput:
    """`out` gets the step lines (a buffer under `-q`), `run_output` a RUN's output
    (None: `out`'s own file), `err` the buffer of a failed quiet build."""

    def __init__(
        self,
        quiet: bool,
        out: TextIO | None,
        err: TextIO | None,
        run_output: int | IO[Any] | None,
    ) -> None:
        self.quiet = quiet
        self.buffer: io.StringIO | None = io.StringIO() if quiet else None
        self.out: TextIO = self.buffer or out or sys.stdout
        self.err = err
        self.run_output = run_output
        self._sink: IO[bytes] | None = None

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    @contextlib.contextmanager
    def run_stdio(self) -> Iterator[Stdio]:
        """Where a RUN's stdout and stderr go: both into the build output, as Docker's."""
        if self.quiet:  # kept aside, shown only if the build fails
            if self._sink is None:
                self._sink = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            yield (subprocess.DEVNULL, self._sink.fileno(), self._sink.fileno())
            self._collect_run_output()
            return
        target = self.run_output
        if target is None:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                target = self.out.fileno()
        if target is not None:
            yield (subprocess.DEVNULL, target, target)
            return
        from layerlab.runtime.pipes import pump_into  # rare: a stream without a file descriptor

        with pump_into(self.out) as fd:
            yield (subprocess.DEVNULL, fd, fd)

    def _collect_run_output(self) -> None:
        if self._sink is not None and self.buffer is not None:
            self._sink.seek(0)
            self.buffer.write(self._sink.read().decode(errors="replace"))
            self._sink.seek(0)
            self._sink.truncate()

    def dump_quiet(self) -> None:
        """-q: the output is shown only when the build fails."""
        if self.buffer is not None:
            err = self.err or sys.stderr
            err.write(self.buffer.getvalue())
            err.flush()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
