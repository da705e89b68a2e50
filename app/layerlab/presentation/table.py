"""Docker's tables: Go's text/tabwriter as the docker CLI configures it.

`docker ps`, `docker images` and `--format "table ..."` write tab-separated cells through
`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. Emulating that writer, rather than padding
columns some other way, gives the same bytes in the corner cases too: empty columns,
rows with fewer cells, and cells holding tabs or newlines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MIN_WIDTH = 10
PADDING = 3


def tabwrite(text: str) -> str:
    """What Docker's tabwriter prints for `text`: tab-terminated cells, newline-ended lines.

    A column's width is its widest cell (in runes) plus the padding, at least MIN_WIDTH,
    computed over each block of consecutive lines that have a cell in that column. The
    text after a line's last tab belongs to no column and is not padded.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    widths: list[list[int]] = [[] for _ in lines]
    for column in range(max(len(cells) for cells in lines) - 1):
        start = 0
        while start < len(lines):
            if len(lines[start]) - 1 <= column:  # no cell here: the line ends the block
                start += 1
                continue
            end = start
            while end < len(lines) and len(lines[end]) - 1 > column:
                end += 1
            width = max(MIN_WIDTH, max(len(c[column]) for c in lines[start:end]) + PADDING)
            for line_widths in widths[start:end]:
                line_widths.append(width)
            start = end
    return "\n".join(
        "".join(c.ljust(w) for c, w in zip(cells[:-1], line_widths, strict=True)) + cells[-1]
        for cells, line_widths in zip(lines, widths, strict=True)
    )


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The header and rows as `docker ps` prints them, every line ending in a newline."""
    return tabwrite("".join("\t".join(cells) + "\n" for cells in [headers, *rows]))
