"""Text from outside (output, names, paths, labels, what was typed), drawn as it is.

It is never parsed as markup (it is always a `Text`), and a control character
in it is drawn as its picture (`␛`), never sent to the terminal: an escape
sequence printed by a container must not recolour or move the TUI.
"""

from __future__ import annotations

from rich.text import Text

# Each C0 control but tab and newline, and DEL, as its Unicode control picture (one for one).
PICTURES = {code: 0x2400 + code for code in range(32) if code not in (9, 10)} | {0x7F: 0x2421}


def shown(text: str) -> str:
    """`text` with its control characters drawn, one character for one."""
    return text.translate(PICTURES)


def literal(text: Text) -> Text:
    """`text` (built from outside strings) with its control characters drawn; spans kept."""
    drawn = shown(text.plain)
    if drawn != text.plain:
        text.plain = drawn  # the same length: every span still covers what it did
    return text
