"""What the command bar understands beside Docker's commands (no widget code here).

`help`, `clear`, `exit`/`quit` as a shell has them; a word that is no Docker
command (the article's `find / -name happiness.txt`) gets one friendly line;
an image there is no registry to pull (`run ubuntu ...`) gets the same line on
busybox, ready to edit.
"""

from __future__ import annotations

import shlex

from layerlab.cli.grammar import COMMANDS

BAR_WORDS = ("help", "clear", "exit", "quit")
# The article's shells, as busybox names them.
SHELLS = {"bash": "sh", "/bin/bash": "sh", "/usr/bin/bash": "sh"}


def bar_word(words: list[str]) -> str | None:
    """The bar word `words` is (`help`, `clear`, `exit`, `quit`), else None."""
    rest = words[1:] if words[:1] == ["docker"] else words
    return rest[0] if len(rest) == 1 and rest[0] in BAR_WORDS else None


def not_a_command(words: list[str]) -> str | None:
    """The first word when it is no Docker command (nor an option), else None."""
    rest = words[1:] if words[:1] == ["docker"] else words
    if not rest or rest[0] in COMMANDS or rest[0].startswith("-"):
        return None
    return rest[0]


def on_busybox(line: str, image: str) -> str | None:
    """`line` with `image` replaced by busybox (and bash by sh); None if it is not there."""
    words = shlex.split(line)
    if image not in words:
        return None
    at = words.index(image)
    rest = [SHELLS.get(word, word) for word in words[at + 1 :]]
    return shlex.join([*words[:at], "busybox", *rest])
