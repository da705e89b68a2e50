"""`logs` reads a json-file log across the shim's rotations: every line once, in order.

The writer is the shim's own `JsonLog`; the reader is stepped by hand between its
writes, so each interleaving of rotations and reads is exact, not left to timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from layerlab.runtime.logread import records
from layerlab.runtime.shim import JsonLog

pytestmark = pytest.mark.unit


def _reader(path: Path, follow: bool = True) -> Iterator[dict[str, Any]]:
    return records(path, follow, running=lambda: True, wait=lambda: False)


def _lines(got: list[dict[str, Any]]) -> list[int]:
    return [int(r["log"]) for r in got]


def test_a_reader_mid_file_follows_it_through_two_rotations(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonLog(path, max_size=1024, max_file=3)
    for n in range(5):
        log.write("stdout", f"{n}\n".encode())
    reader = _reader(path)
    got = [next(reader)]  # the reader holds the live file, one record in
    for n in range(5, 30):  # ~13 records a file: the reader's file is now log.1 or log.2
        log.write("stdout", f"{n}\n".encode())
    assert path.with_name(path.name + ".2").exists()
    got += list(reader)  # `wait` says stop once the live file is read
    assert _lines(got) == list(range(30))
    log.close()


def test_reading_without_follow_starts_at_the_oldest_file(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonLog(path, max_size=1024, max_file=3)
    for n in range(100):
        log.write("stdout", f"{n}\n".encode())
    got = _lines(list(_reader(path, follow=False)))
    assert got == list(range(got[0], 100)) and got[0] > 0  # the oldest were dropped
    log.close()


def test_a_reader_whose_file_rotated_out_goes_on_with_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonLog(path, max_size=1024, max_file=2)
    log.write("stdout", b"0\n")
    reader = _reader(path)
    assert _lines([next(reader)]) == [0]
    for n in range(1, 60):
        log.write("stdout", f"{n}\n".encode())
    rest = _lines(list(reader))  # its own file to the end, a gap (as Docker's), the newest
    assert rest[0] == 1 and rest[-1] == 59 and len(rest) < 59
    assert rest == sorted(set(rest))  # in order, nothing twice
    log.close()


def test_a_damaged_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(b'{"log":"1\\n","stream":"stdout","time":"t"}\n{broken\n'
                     b'{"log":"2\\n","stream":"stdout","time":"t"}\n')  # fmt: skip
    assert _lines(list(_reader(path, follow=False))) == [1, 2]
