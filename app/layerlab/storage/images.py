"""Images: OCI image configs, their layer chains and tags, as records in the store.

An image is a config (`rootfs.diff_ids`, `history`, `config`) whose id is the
sha256 of its bytes as stored; its layers are the store's `layers/<chain-id>`
folders, each with a `json` that points to its parent - the article's model. Writing a
layer's files is layerfs's (`layer_store.py`, `base_image.py` for busybox).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab.errors import Corrupted, InvalidReference, NotFound
from layerlab.presentation.humanize import parse_rfc3339
from layerlab.storage.distribution import image_by_repo_digest
from layerlab.storage.reference import (
    DIGEST_RE,
    chain_id,
    normalize_ref,
    reference_error,
    strip_digest,
)
from layerlab.storage.store import Store, read_json, warn, write_bytes_atomic


@dataclass(frozen=True)
class Layer:
    """One read-only layer: `layers/<chain_id>/{json,diff/}`."""

    chain_id: str
    diff_id: str
    parent: str | None
    created: str
    created_by: str
    size: int
    path: Path

    @property
    def diff_path(self) -> Path:
        return self.path / "diff"


@dataclass(frozen=True)
class Image:
    id: str
    config: dict[str, Any]
    layers: list[Layer]  # bottom first

    @property
    def created(self) -> float:
        return parse_rfc3339(self.config.get("created") or "1970-01-01T00:00:00Z")

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def run_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.config.get("config") or {}
        return cfg


def docker_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def layer_meta(
    chain: str, parent: str | None, diff_id: str, created: str, created_by: str, size: int
) -> dict[str, Any]:
    """A layer's `json`: its id, the parent it points to, its diff_id and where it came from."""
    return {
        "id": strip_digest(chain),
        "parent": strip_digest(parent) if parent else None,
        "diff_id": diff_id,
        "created": created,
        "created_by": created_by,
        "size": size,
    }


def _layer_meta_problem(meta: Any, chain_id: str) -> str | None:
    """Why `meta` is not the `json` of layer `chain_id`, or None."""
    if not isinstance(meta, dict):
        return "not a layer's metadata"
    if meta.get("id") != strip_digest(chain_id):
        return "its id is not its folder's name"
    if not isinstance(meta.get("diff_id"), str):
        return "no diff_id"
    if not isinstance(meta.get("parent"), (str, type(None))):
        return "a parent that is not a layer id"
    if not isinstance(meta.get("size", 0), int):
        return "a size that is not a number"
    return None


def read_layer_meta(store: Store, chain_id: str) -> dict[str, Any]:
    """A layer's `json`; NotFound without one, `Corrupted` for one that is no layer's."""
    path = store.layer_dir(chain_id) / "json"
    try:
        meta = read_json(path)
    except FileNotFoundError:
        raise NotFound(f"layer {chain_id} is missing from the store") from None
    except ValueError as exc:
        raise Corrupted(path, f"not JSON: {exc}") from None
    problem = _layer_meta_problem(meta, chain_id)
    if problem:
        raise Corrupted(path, problem)
    result: dict[str, Any] = meta
    return result


def read_layer(store: Store, chain_id: str) -> Layer:
    path = store.layer_dir(chain_id)
    meta = read_layer_meta(store, chain_id)
    return Layer(
        chain_id="sha256:" + meta["id"],
        diff_id=meta["diff_id"],
        parent=("sha256:" + meta["parent"]) if meta.get("parent") else None,
        created=meta.get("created", ""),
        created_by=meta.get("created_by", ""),
        size=meta.get("size", 0),
        path=path,
    )


def read_image(store: Store, image_id: str) -> Image:
    path = store.image_path(image_id)
    try:
        config = read_json(path)
    except FileNotFoundError:
        raise NotFound(f"No such image: {image_id}") from None
    except ValueError as exc:
        raise Corrupted(path, f"not JSON: {exc}") from None
    chain: list[Layer] = []
    parent: str | None = None
    try:
        for diff_id in config["rootfs"]["diff_ids"]:
            parent = chain_id(parent, diff_id)
            chain.append(read_layer(store, parent))
    except (KeyError, TypeError, ValueError) as exc:
        raise Corrupted(path, f"{type(exc).__name__}: {exc}") from None
    return Image(id="sha256:" + strip_digest(image_id), config=config, layers=chain)


def resolve_image(store: Store, ref: str) -> Image:
    """Find an image by tag or id (`layerfs.base_image.resolve` makes busybox on first use)."""
    image_id = store.find_image(ref)
    if image_id is None and DIGEST_RE.search(ref):  # `NAME@sha256:...`: as a pull recorded it
        image_id = image_by_repo_digest(store, ref.removeprefix("docker.io/library/"))
    if image_id is None:
        error = None if ref.startswith("sha256:") else reference_error(ref)
        if error is not None:  # Docker parses the name before it looks for it
            raise InvalidReference(error)
        name = ref if ref.startswith("sha256:") else normalize_ref(ref)
        raise NotFound(f"No such image: {name}")
    try:
        return read_image(store, image_id)
    except NotFound:
        tag = normalize_ref(ref)
        if store.read_repositories().get(tag) != image_id or store.image_path(image_id).exists():
            raise  # removed meanwhile, tag and all; or a layer is missing
        reason = f"tag {tag} names image {image_id}, which is not in the store"
        raise Corrupted(store.repositories_path, reason) from None


def write_image(store: Store, config: dict[str, Any]) -> str:
    """Store an image config; its id is the sha256 of exactly the bytes written."""
    payload = json.dumps(config, separators=(",", ":")).encode()
    image_id = "sha256:" + hashlib.sha256(payload).hexdigest()
    store.images_dir.mkdir(parents=True, exist_ok=True)
    path = store.image_path(image_id)
    if not path.exists():
        write_bytes_atomic(path, payload)
    return image_id


def tag_image(store: Store, image_id: str, ref: str) -> None:
    """Point `ref` at the image, which is checked under the store lock to be there still (a
    racing `rmi` may have deleted it): no tag ever names a missing image."""
    with store.lock():
        if not store.image_path(image_id).is_file():
            raise NotFound(f"No such image: {image_id}")
        tags = store.read_repositories()
        tags[normalize_ref(ref)] = image_id
        store.write_repositories(tags)


def image_parent(store: Store, image_id: str) -> str | None:
    """The local image this one was made from (commit, build); None for a base image."""
    try:
        return store.image_parent_path(image_id).read_text().strip() or None
    except FileNotFoundError:
        return None


def set_image_parent(store: Store, image_id: str, parent: str) -> None:
    write_bytes_atomic(store.image_parent_path(image_id), parent.encode() + b"\n")


def image_children(store: Store, image_id: str) -> list[str]:
    return [i for i in store.image_ids() if image_parent(store, i) == image_id]


def tags_of(store: Store, image_id: str) -> list[str]:
    return sorted(t for t, i in store.read_repositories().items() if i == image_id)


def delete_image(store: Store, image_id: str, keep: Collection[str] = ()) -> list[str]:
    """Remove an image config and every layer no other image still uses, nor a container
    stacks (`keep`: the real paths of the layers' `diff` folders containers use).

    Returns what was deleted (image id, then layer chain ids), as `rmi` prints it.
    """
    doomed = read_image(store, image_id)
    store.image_path(image_id).unlink()
    with contextlib.suppress(FileNotFoundError):
        store.image_parent_path(image_id).unlink()
    in_use: set[str] = set()
    for other in store.image_ids():
        with contextlib.suppress(NotFound, Corrupted):
            in_use.update(layer.chain_id for layer in read_image(store, other).layers)
    deleted = [doomed.id]
    for layer in reversed(doomed.layers):
        if layer.chain_id in in_use or os.path.realpath(layer.diff_path) in keep:
            break
        store.remove_layer(layer.path)
        deleted.append(layer.chain_id)
    return deleted


def list_images(store: Store, all: bool = False) -> list[tuple[str, Image]]:
    """(`name:tag` or `<none>:<none>`, image) newest first; intermediates only with `all`.

    Another process may remove an image (or its layers) while this lists: what
    vanished mid-read is skipped, never an error.
    """
    tags = store.read_repositories()
    ids = store.image_ids()
    parents = {image_parent(store, i) for i in ids}
    rows: list[tuple[str, Image]] = []
    for image_id in ids:
        try:
            image = read_image(store, image_id)
        except (NotFound, FileNotFoundError):  # removed since the directory was read
            continue
        except Corrupted as exc:  # only this image is affected
            warn(str(exc))
            continue
        names = sorted(t for t, i in tags.items() if i == image_id)
        if names:
            rows.extend((name, image) for name in names)
        elif all or image_id not in parents:  # dangling images show; intermediates hide
            rows.append(("<none>:<none>", image))
    # Newest first; one image's tags in the daemon's order (reference/store.go sorts them
    # lexically), kept by the stable sort.
    rows.sort(key=lambda row: row[1].created, reverse=True)
    return rows
