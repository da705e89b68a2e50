"""A layer compressed for a push: the same layer gives the same blob every time (its digest
is what a second push finds in the registry), and the blob unzips to the layer's diff_id."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest

from layerlab.errors import LayerlabError
from layerlab.layerfs import layers
from layerlab.registry.compress import compress_layer
from layerlab.storage.images import Layer

pytestmark = pytest.mark.unit


def _layer(folder: Path, files: dict[str, bytes]) -> Layer:
    diff = folder / "diff"
    diff.mkdir(parents=True)
    for name, data in files.items():
        (diff / name).write_bytes(data)
        os.utime(diff / name, (1_000_000, 1_000_000))
    diff_id = layers.layer_diff_id(diff)
    return Layer("sha256:" + "c" * 64, diff_id, None, "", "", 0, folder)


def test_the_same_layer_is_the_same_blob(tmp_path: Path) -> None:
    layer = _layer(tmp_path / "layer", {"a": b"hello\n" * 1000, "b": os.urandom(300_000)})
    seen: list[int] = []
    first = compress_layer(layer, tmp_path / "1.gz", seen.append)
    second = compress_layer(layer, tmp_path / "2.gz", lambda _: None)
    data = first.path.read_bytes()
    assert first.digest == second.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert first.size == len(data) == second.path.stat().st_size
    assert data[3:8] == b"\0\0\0\0\0"  # no name, no time in the gzip header
    tar = gzip.decompress(data)
    assert "sha256:" + hashlib.sha256(tar).hexdigest() == layer.diff_id
    assert seen[-1] == len(tar) and seen == sorted(seen)  # progress counts the tar's bytes


def test_one_byte_changed_is_another_blob(tmp_path: Path) -> None:
    one = _layer(tmp_path / "one", {"f": b"x" * 5000})
    two = _layer(tmp_path / "two", {"f": b"x" * 4999 + b"y"})
    a = compress_layer(one, tmp_path / "a.gz", lambda _: None)
    b = compress_layer(two, tmp_path / "b.gz", lambda _: None)
    assert a.digest != b.digest


def test_a_layer_whose_files_changed_is_refused(tmp_path: Path) -> None:
    layer = _layer(tmp_path / "layer", {"f": b"before"})
    (layer.diff_path / "f").write_bytes(b"after!")
    with pytest.raises(LayerlabError, match="no longer give diff_id"):
        compress_layer(layer, tmp_path / "x.gz", lambda _: None)
