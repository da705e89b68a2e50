"""Docker's detach keys (Ctrl-P Ctrl-Q): the typed sequence that ends an attach to a
terminal and leaves the container running. One home for `attach` (the CLI copies
our input) and an attached `run -it`/`start -ai` (the shim copies it)."""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.errors import LayerlabError

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


class Scanner:
    """Typed input, chunk by chunk: what to deliver, and whether the keys were typed.

    A tail that may begin the sequence is held back until the next chunk says
    whether it does (then it is not delivered) or not (then it is)."""

    def __init__(self, keys: DetachKeys) -> None:
        self.sequence = keys.sequence
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """`data` typed (b"": the input ended, what was held is delivered)."""
        if not data:
            held, self.held = self.held, b""
            return held, False
        window = self.held + data
        at = window.find(self.sequence)
        if at >= 0:
            self.held = b""
            return window[:at], True
        keep = _pending(window, self.sequence)
        self.held = window[len(window) - keep :]
        return window[: len(window) - keep], False


def _pending(data: bytes, sequence: bytes) -> int:
    """How many bytes at the end of `data` are a start of `sequence`."""
    for size in range(min(len(sequence) - 1, len(data)), 0, -1):
        if sequence.startswith(data[-size:]):
            return size
    return 0
