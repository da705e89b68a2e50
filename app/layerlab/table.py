"""Docker's tables: Go's text/tabwriter as `docker ps` configures it (minwidth 10, padding 3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MIN_WIDTH = 10
PADDING = 3


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Every column but the last padded to max(width + 3, 10); lines end in newline."""
    lines = [list(headers), *(list(r) for r in rows)]
    ncols = max(len(line) for line in lines)
    widths = [
        max(MIN_WIDTH, max((len(line[i]) for line in lines if i < len(line)), default=0) + PADDING)
        for i in range(ncols - 1)
    ]
    out = []
    for line in lines:
        cells = [c.ljust(widths[i]) if i < len(line) - 1 else c for i, c in enumerate(line)]
        out.append("".join(cells))
    return "".join(line + "\n" for line in out)
