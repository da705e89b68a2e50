"""Registering layers: a staged folder becomes the store's `layers/<chain-id>`, whole or not.

As moby's layer store registers one: the content decides its id (diff_id, then chain id
with its parent) and the folder is renamed into place only once complete. A container's
writable layer becomes one here too (`commit`). Tar machinery: the commands that write
layers import this module where they use it, so `run` never loads tarfile.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from layerlab.errors import LayerlabError
from layerlab.layerfs import layer_writer, layers
from layerlab.storage import images
from layerlab.storage.reference import chain_id
from layerlab.storage.store import Store, write_json_atomic

# Docker's maxLayerDepth: 125 layers, with a container's init and writable layers 127, the
# most some union filesystems stack (and their short links fit one page of mount options).
MAX_DEPTH = 125


def add_layer(
    store: Store,
    staged: Path,
    parent: str | None,
    created_by: str,
    created: str,
    diff_id: str | None = None,
    size: int | None = None,
) -> images.Layer:
    """Turn a staged folder `staged/diff` into a content-addressed layer.

    The folder is renamed into `layers/<chain-id>` only once complete, so a
    half-made layer is never visible under its final name. If that layer
    already exists (same content, same parent) the staged copy is dropped.
    `diff_id` and `size` are computed from the folder unless the caller knows them.
    """
    diff = staged / "diff"
    diff_id = diff_id or layer_writer.diff_id(diff)
    chain = chain_id(parent, diff_id)
    final = store.layer_dir(chain)
    if not final.exists():
        _check_depth(store, parent)
        if size is None:
            size, _ = layers.dir_size(diff)
        meta = images.layer_meta(chain, parent, diff_id, created, created_by, size)
        write_json_atomic(staged / "json", meta)
        store.layers_dir.mkdir(parents=True, exist_ok=True)
        os.rename(staged, final)
    else:
        store.discard(staged)
    return images.read_layer(store, chain)


def _check_depth(store: Store, parent: str | None) -> None:
    """Refuse a layer on `MAX_DEPTH` others, in Docker's words (its layer store's check)."""
    depth = 0
    while parent is not None:
        depth += 1
        if depth >= MAX_DEPTH:
            raise LayerlabError("max depth exceeded")
        parent = images.read_layer(store, parent).parent


def copy_into_layer(
    store: Store, upper: Path, parent: str | None, created_by: str, created: str
) -> images.Layer:
    """A container's writable layer -> a new read-only layer, in one pass.

    layer_writer copies the upper dir into a staging folder as extracting its
    canonical tar would, and hashes that tar on the way: only whiteouts and
    opaque markers cross (no overlay bookkeeping xattrs), and the diff_id falls
    out of the same pass. The staging folder is renamed into place when done,
    so a killed commit leaves only tmp work behind.
    """
    staged = store.make_tmp_dir("layer-")
    try:
        (staged / "diff").mkdir()
        try:
            diff_id, size = layer_writer.copy_layer(upper, staged / "diff")
        except layer_writer.NeedsReference:  # odd entries: the reference round trip decides
            store.discard(staged / "diff")
            (staged / "diff").mkdir()
            diff_id, size = _copy_through_tar(upper, staged / "diff"), None
        return add_layer(store, staged, parent, created_by, created, diff_id, size)
    except BaseException:
        store.discard(staged)
        raise


def _copy_through_tar(upper: Path, dest: Path) -> str:
    """The reference commit: write the canonical tar into a pipe, extract it at once.

    Slow (every byte through Python twice, one entry at a time) but it is the
    definition; copy_layer gives the same tree and diff_id, faster.
    """
    read_fd, write_fd = os.pipe()
    produced: dict[str, str | BaseException] = {}

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                produced["diff_id"] = layers.write_layer_tar(upper, out)
        except BaseException as exc:  # reported below, in the caller's thread
            produced["error"] = exc

    writer = threading.Thread(target=produce, daemon=True)
    writer.start()
    try:
        with os.fdopen(read_fd, "rb") as source:
            layers.extract_layer_tar(source, dest)
            while source.read(1 << 16):  # drain the end-of-archive padding
                pass
    except BaseException:
        writer.join(timeout=5)
        raise
    writer.join()
    if "error" in produced:
        raise produced["error"]  # type: ignore[misc]
    return str(produced["diff_id"])
