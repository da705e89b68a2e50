"""The terminal and streams a command runs with, and how a container is attached to them.

`IO` says what a face hands a command: where its output goes, whether the real
terminal is ours (`interactive`), and the standard input it may read as data
(`stdin`, None where there is none, as in the TUI's command bar), and the event
that ends its long waits early (`cancel`: `Cancelled`, exit code 130).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from layerlab.engine import Engine, Stdio
from layerlab.errors import ClientError, LayerlabError
from layerlab.hostfile import open_output
from layerlab.runtime.pipes import pump_into


@dataclass
class IO:
    out: TextIO
    err: TextIO
    interactive: bool = True  # False in the TUI: `-it` needs the real terminal
    stdin: BinaryIO | None = None  # what `build -f -`, `load`, `import -` read; None: nothing
    # Set by the face to end a long wait (`logs -f`, `wait`, attached `run`/`start`): the TUI
    # sets it when it quits; the container keeps running.
    cancel: threading.Event | None = None
    # The container attached right now (set while attached): where the TUI's Ctrl+C sends
    # SIGINT, as the CLI's sig-proxy does.
    attached: str | None = None


def no_stdin(command: str, reads: str, instead: str) -> LayerlabError:
    """The one-line refusal of a command that reads standard input where there is none."""
    return LayerlabError(
        f'"{command}" reads {reads} from standard input, which is not available here '
        f"(the TUI's command bar has none): {instead}"
    )


def _require_terminal(io: IO) -> None:
    if not io.interactive or not sys.stdin.isatty():
        raise ClientError("the input device is not a TTY", exit_code=1)


@contextlib.contextmanager
def _binary_output(
    path: str | None, io: IO, failed: str = "failed to save image"
) -> Iterator[BinaryIO]:
    """`-o FILE`, else STDOUT - never a terminal, as Docker refuses too.

    FILE is written through `hostfile.open_output`: a failed command leaves it as it
    was, and a device is refused, never replaced.
    """
    if path:
        with open_output(Path(path), failed) as f:
            yield f
        return
    if not io.interactive or io.out.isatty():
        raise LayerlabError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    io.out.flush()
    yield io.out.buffer


@contextlib.contextmanager
def _stdio(io: IO) -> Iterator[Stdio]:
    """File descriptors for a container's attached stdio.

    A real terminal or file is handed over as is; a stream without one (the
    TUI's output log) gets a pipe whose far end is copied into it.
    """
    if io.interactive:
        yield (None, None, None)
        return
    with pump_into(io.out) as out_fd, pump_into(io.err) as err_fd:
        yield (subprocess.DEVNULL, out_fd, err_fd)


# What Docker's sig-proxy forwards to the container (all but CHLD, PIPE, URG, WINCH):
# a SIGHUP from a closed terminal reaches the container instead of killing only us.
PROXIED_SIGNALS = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
)  # fmt: skip


@contextlib.contextmanager
def _attached(
    engine: Engine, container_id: str, io: IO, raw: bool, sig_proxy: bool = True
) -> Iterator[None]:
    """While attached: a raw terminal for `-it`, else Ctrl-C forwarded as Docker's sig-proxy
    (`attach --sig-proxy=false`: not forwarded, Ctrl-C ends only the attach)."""
    if not io.interactive:  # the TUI: no terminal of ours; its Ctrl+C reads `io.attached`
        io.attached = container_id
        try:
            yield
        finally:
            io.attached = None
        return
    if raw:
        import termios  # only `-it` puts the terminal in raw mode
        import tty

        saved = termios.tcgetattr(0)
        tty.setraw(0)
        try:
            yield
        finally:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        return
    if not sig_proxy:
        yield
        return

    def proxy(signum: int, _frame: object) -> None:
        with contextlib.suppress(LayerlabError):
            engine.kill(container_id, signum)

    previous = {s: signal.signal(s, proxy) for s in PROXIED_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
