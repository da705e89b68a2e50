"""Docker's tables: Go's tabwriter(minwidth 10, tabwidth 1, padding 3, ' ', 0), byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerlab.presentation.table import format_table, tabwrite

pytestmark = pytest.mark.unit

PS_HEADERS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


def test_docker_ps_a() -> None:
    rows = [
        [
            "3f4e8b2c1d0a",
            "busybox",
            '"sleep 300"',
            "5 seconds ago",
            "Up 4 seconds",
            "",
            "admiring_turing",
        ],
        [
            "9c8d7e6f5a4b",
            "alpine:3.20",
            '"sh -c \'echo hello w…"',
            "2 hours ago",
            "Exited (0) 2 hours ago",
            "",
            "hopeful_lovelace",
        ],
    ]
    # Written by hand: each column is its widest cell plus 3, at least 10; the empty
    # PORTS column is still 10 wide; NAMES, the last cell, is not padded.
    expected = (
        "CONTAINER ID   IMAGE         COMMAND                  CREATED         "
        "STATUS                   PORTS     NAMES\n"
        '3f4e8b2c1d0a   busybox       "sleep 300"              5 seconds ago   '
        "Up 4 seconds                       admiring_turing\n"
        '9c8d7e6f5a4b   alpine:3.20   "sh -c \'echo hello w…"   2 hours ago     '
        "Exited (0) 2 hours ago             hopeful_lovelace\n"
    )
    assert format_table(PS_HEADERS, rows) == expected


def test_docker_ps_header_alone() -> None:
    assert format_table(PS_HEADERS, []) == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    )


def test_docker_images() -> None:
    rows = [["busybox", "latest", "af4709625109", "3 weeks ago", "4.27MB"]]
    assert format_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
        "busybox      latest    af4709625109   3 weeks ago   4.27MB\n"
    )


def test_widths_count_characters_not_bytes() -> None:
    assert format_table(["NAME", "X"], [["ééééééééé", "…"], ["ab", "c"]]) == (
        "NAME        X\nééééééééé   …\nab          c\n"
    )


def test_a_line_with_fewer_cells_ends_the_column_block() -> None:
    text = "a\tb\nlonger-cell-here\tc\nno tabs\nx\ty\n"
    assert tabwrite(text) == ("a                  b\nlonger-cell-here   c\nno tabs\nx         y\n")


def test_unterminated_last_line_and_format_table_text() -> None:
    assert tabwrite("a\tb") == "a         b"
    assert tabwrite("") == ""
    assert tabwrite("ID\tNAME\n1\tweb\n") == format_table(["ID", "NAME"], [["1", "web"]])


cells = st.text(alphabet=st.characters(blacklist_characters="\t\n"), max_size=15)


@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.lists(cells, min_size=n, max_size=n))))
def test_uniform_rows_line_up_in_columns(rows: list[list[str]]) -> None:
    headers = [f"H{i}" for i in range(len(rows[0]))] if rows else ["H0"]
    table = [headers, *rows]
    widths = [max(10, max(len(r[c]) for r in table) + 3) for c in range(len(headers) - 1)]
    expected = "".join(
        "".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + row[-1] + "\n"
        for row in table
    )
    assert format_table(headers, rows) == expected
