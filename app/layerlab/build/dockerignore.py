""".dockerignore: Docker's pattern matcher (moby's patternmatcher), for `build`'s context."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import BuildError


@dataclass(frozen=True, repr=False)
class _Pattern:
    """One .dockerignore line, compiled."""

    text: str
    exclusion: bool
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    """moby/patternmatcher: `*` and `?` stay within a name, `**` crosses any number of them."""
    out = ["^"]
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if in_class:
            if ch == "]":
                in_class = False
            if ch == "\\" and i + 1 < len(pattern):
                out.append("\\" + pattern[i + 1])
                i += 2
                continue
            out.append(ch)
        elif ch == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                if pattern[i + 1 : i + 2] == "/":
                    i += 1
                out.append(".*" if i + 1 >= len(pattern) else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            in_class = True
            out.append("[")
        elif ch == "\\":
            out.append("\\" + pattern[i + 1] if i + 1 < len(pattern) else "\\\\")
            i += 1
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.S)


class IgnoreMatcher:
    """Which context paths .dockerignore leaves out; the last matching pattern wins."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:].strip()
                if not text:
                    raise BuildError('illegal exclusion pattern: "!"')
            text = posixpath.normpath(text)
            if len(text) > 1 and text.startswith("/"):
                text = text.lstrip("/") or "/"
            try:
                regex = _compile(text)
            except re.error:
                raise BuildError(f"syntax error in .dockerignore pattern: {raw.strip()}") from None
            self.patterns.append(_Pattern(text, exclusion, regex))

    @classmethod
    def read(cls, path: Path) -> IgnoreMatcher:
        try:
            text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
        except FileNotFoundError:
            return cls([])
        except OSError as exc:
            raise BuildError(f"Error reading .dockerignore: {exc.strerror}") from None
        return cls([line for line in text.splitlines() if not line.startswith("#")])

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, rel: str) -> bool:
        """`rel` (slash-separated, relative to the context) is left out of the context."""
        if not rel or rel == ".":
            return False
        parts = rel.split("/")
        parents = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = bool(pattern.regex.match(rel)) or any(pattern.regex.match(p) for p in parents)
            if hit:
                matched = not pattern.exclusion
        return matched
