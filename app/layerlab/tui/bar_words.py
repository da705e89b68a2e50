"""What the command bar understands beside Docker's commands (no widget code here).

`help`, `clear`, `exit`/`quit` as a shell has them; a word that is no Docker
command (the article's `find / -name happiness.txt`) gets one friendly line;
an image there is no registry to pull (`run ubuntu ...`) gets the same line on
busybox, ready to edit; a typo of a local image's name (`hello:v1` for
`hello:latest`) gets the line on that image.
"""

from __future__ import annotations

import difflib
import shlex

from layerlab.commands.grammar import COMMANDS

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
    return on_image(line, image, "busybox", SHELLS)


def on_image(line: str, image: str, other: str, shells: dict[str, str] | None = None) -> str | None:
    """`line` with `image` replaced by `other` (and the shells named in `shells`); None if
    `image` is not in it."""
    words = shlex.split(line)
    if image not in words:
        return None
    at = words.index(image)
    rest = [(shells or {}).get(word, word) for word in words[at + 1 :]]
    return shlex.join([*words[:at], other, *rest])


def nearest(image: str, refs: list[str]) -> str | None:
    """The local image name (`name:tag`, or `name` for `:latest`) closest to `image`: a typo
    in its name or tag. None when none is close."""
    names = [ref.removesuffix(":latest") for ref in refs]
    found = difflib.get_close_matches(image, names, n=1, cutoff=0.6)
    return found[0] if found else None


def local_repository(image: str, refs: list[str]) -> bool:
    """`image`'s name (tag aside) names a local image: another tag of it, not a pull."""
    name = image.rpartition(":")[0] if ":" in image.rpartition("/")[2] else image
    return any(ref.rpartition(":")[0] == name for ref in refs)
