"""`attach`'s input: our stdin copied into a running container's, and Docker's detach keys.

The copy runs in a thread of its own (a read on a terminal blocks) while the command
follows the container's output; the detach keys are looked for in what is typed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import BinaryIO

from layerlab.runtime.detachkeys import DetachKeys, Scanner

CHUNK = 65536


def copy_input(
    source: BinaryIO,
    target: BinaryIO,
    keys: DetachKeys | None,
    on_detach: Callable[[], None],
) -> threading.Thread:
    """Copy `source` into `target` until it ends (then `target` is closed) or, with `keys`,
    until they are typed: what came before them is delivered, they and the rest are not."""

    def run() -> None:
        scanner = Scanner(keys) if keys is not None else None
        with contextlib.closing(target):
            while True:
                try:
                    data = os.read(source.fileno(), CHUNK)
                except OSError:
                    return
                if not data:
                    return
                if scanner is not None:
                    data, detached = scanner.feed(data)
                    if detached:
                        _write(target, data)
                        on_detach()
                        return
                if not _write(target, data):
                    return

    thread = threading.Thread(target=run, name="attach-input", daemon=True)
    thread.start()
    return thread


def _write(target: BinaryIO, data: bytes) -> bool:
    try:
        target.write(data)
    except OSError:  # the container (its shim) is gone
        return False
    return True
