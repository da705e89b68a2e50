"""The command bar's history, kept between sessions in the user's XDG state directory.

`$XDG_STATE_HOME/layerlab/history` (default `~/.local/state/layerlab/history`),
one line per command, newest last, at most `LIMIT` lines. A history that cannot
be read or written (a read-only home), or that is no regular file, is simply not
kept: never an error.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from layerlab.errors import LayerlabError
from layerlab.hostfile import regular_or_absent, write_text

LIMIT = 1000


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "layerlab" / "history"


def load(path: Path, limit: int = LIMIT) -> list[str]:
    """The newest `limit` lines; a file grown past twice that is trimmed on the way."""
    if not regular_or_absent(path):
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 2 * limit:
        _rewrite(path, lines[-limit:])
    return lines[-limit:]


def append(path: Path, line: str) -> None:
    """Add one line (appending, so two sessions at once both keep theirs)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not regular_or_absent(path):
            return
        with path.open("a", encoding="utf-8") as f:
            f.write(line.replace("\n", " ") + "\n")


def _rewrite(path: Path, lines: list[str]) -> None:
    with contextlib.suppress(OSError, LayerlabError):
        write_text(path, "".join(line + "\n" for line in lines), "history")
