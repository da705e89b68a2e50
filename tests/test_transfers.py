"""The transfer record: what a pull or push is doing, read back as it was written, gone when
the transfer ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.registry.transfers import Blob, Transfer, TransferLog, read_transfers, transfers_dir

pytestmark = pytest.mark.unit


def test_a_transfer_is_read_as_written_and_vanishes_when_closed(tmp_path: Path) -> None:
    blob = Blob(kind="layer", digest="sha256:" + "a" * 64, size=100)
    log = TransferLog(tmp_path, Transfer(id="1-x", verb="pull", reference="localhost/b:1"))
    log.update(blobs=[blob], force=True)
    log.update(blob.digest, status="Downloading", done=40)  # a state word: written at once
    [seen] = read_transfers(tmp_path)
    assert (seen.verb, seen.blobs[0].status, seen.blobs[0].done) == ("pull", "Downloading", 40)
    log.close()
    assert read_transfers(tmp_path) == []


def test_a_half_written_record_is_skipped(tmp_path: Path) -> None:
    TransferLog(tmp_path, Transfer(id="1-a", verb="push", reference="r"))
    (transfers_dir(tmp_path) / "2-b.json").write_text('{"id": "2-b", "verb"')
    assert [t.id for t in read_transfers(tmp_path)] == ["1-a"]
