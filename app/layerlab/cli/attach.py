"""`attach`'s input: our stdin copied into a running container's, and Docker's detach keys.

The copy runs in a thread of its own (a read on a terminal blocks) while the command
follows the container's output; the detach keys are looked for in what is typed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from layerlab.errors import LayerlabError

CHUNK = 65536
# Docker's control-key names: `ctrl-a` .. `ctrl-z`, `ctrl-@`, `ctrl-[`, `ctrl-\`, ...
_CONTROLS = {**{chr(c): c - 96 for c in range(97, 123)}, "@": 0, "[": 27, "\\": 28, "]": 29,
             "^": 30, "_": 31}  # fmt: skip


@dataclass(frozen=True)
class DetachKeys:
    """The key sequence that ends an attach and leaves the container running."""

    sequence: bytes = b"\x10\x11"  # Docker's default: ctrl-p,ctrl-q

    @classmethod
    def parse(cls, text: str | None) -> DetachKeys:
        """Docker's `--detach-keys`: `ctrl-p,ctrl-q`, `a`, `ctrl-a,b` (term.ToBytes)."""
        if not text:
            return cls()
        found = bytearray()
        for key in text.split(","):
            name = key.lower()
            if len(key) == 1:
                found.append(ord(key))
            elif name.startswith("ctrl-") and name[5:] in _CONTROLS:
                found.append(_CONTROLS[name[5:]])
            else:
                raise LayerlabError(f"Invalid detach keys ({text}) provided", exit_code=1)
        return cls(bytes(found))


def copy_input(
    source: BinaryIO,
    target: BinaryIO,
    keys: DetachKeys | None,
    on_detach: Callable[[], None],
) -> threading.Thread:
    """Copy `source` into `target` until it ends (then `target` is closed) or, with `keys`,
    until they are typed: what came before them is delivered, they and the rest are not."""

    def run() -> None:
        typed = b""  # the end of the input so far that may begin the detach keys
        with contextlib.closing(target):
            while True:
                try:
                    data = os.read(source.fileno(), CHUNK)
                except OSError:
                    return
                if not data:
                    return
                if keys is not None:
                    window = typed + data
                    at = window.find(keys.sequence)
                    if at >= 0:
                        _write(target, window[:at])
                        on_detach()
                        return
                    keep = _pending(window, keys.sequence)
                    data, typed = window[: len(window) - keep], window[len(window) - keep :]
                if not _write(target, data):
                    return

    thread = threading.Thread(target=run, name="attach-input", daemon=True)
    thread.start()
    return thread


def _pending(data: bytes, sequence: bytes) -> int:
    """How many bytes at the end of `data` are a start of `sequence` (held back a while)."""
    for size in range(min(len(sequence) - 1, len(data)), 0, -1):
        if sequence.startswith(data[-size:]):
            return size
    return 0


def _write(target: BinaryIO, data: bytes) -> bool:
    try:
        target.write(data)
    except OSError:  # the container (its shim) is gone
        return False
    return True
