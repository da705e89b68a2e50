"""Images: OCI image configs, their layer chains, tags, and the busybox base image.

An image is a config (`rootfs.diff_ids`, `history`, `config`) whose id is the
sha256 of its bytes as stored; its layers are the store's `layers/<chain-id>`
folders, each with a `json` that points to its parent - the article's model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab.errors import Corrupted, InvalidReference, LayerlabError, NotFound
from layerlab.presentation.humanize import parse_rfc3339, rfc3339_nano
from layerlab.storage.containers import Container
from layerlab.storage.reference import chain_id, normalize_ref, reference_error, strip_digest
from layerlab.storage.store import Store, read_json, warn, write_bytes_atomic, write_json_atomic

BASE_IMAGE = "busybox:latest"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_BUSYBOX = Path("/bin/busybox")
# Docker's maxLayerDepth: 125 layers, with a container's init and writable layers 127, the
# most some union filesystems stack (and their short links fit one page of mount options).
MAX_DEPTH = 125


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
    """Find an image by tag or id; `busybox` is made on first use, as `docker run` pulls."""
    image_id = store.find_image(ref)
    if image_id is None and normalize_ref(ref) == BASE_IMAGE:
        image_id = ensure_base_image(store)
    if image_id is None:
        error = None if ref.startswith("sha256:") else reference_error(ref)
        if error is not None:  # Docker parses the name before it looks for it
            raise InvalidReference(error)
        name = ref if ref.startswith("sha256:") else normalize_ref(ref)
        # There is no registry to pull from: say what to do instead (the article uses ubuntu).
        raise NotFound(
            f"No such image: {name} (layerlab pulls nothing: use busybox, made locally,"
            " or load/import/build an image)"
        )
    try:
        return read_image(store, image_id)
    except NotFound:
        tag = normalize_ref(ref)
        if store.read_repositories().get(tag) != image_id or store.image_path(image_id).exists():
            raise  # removed meanwhile, tag and all; or a layer is missing
        reason = f"tag {tag} names image {image_id}, which is not in the store"
        raise Corrupted(store.repositories_path, reason) from None


def add_layer(
    store: Store,
    staged: Path,
    parent: str | None,
    created_by: str,
    created: str,
    diff_id: str | None = None,
    size: int | None = None,
) -> Layer:
    """Turn a staged folder `staged/diff` into a content-addressed layer.

    The folder is renamed into `layers/<chain-id>` only once complete, so a
    half-made layer is never visible under its final name. If that layer
    already exists (same content, same parent) the staged copy is dropped.
    `diff_id` and `size` are computed from the folder unless the caller knows them.
    """
    from layerlab.layerfs import (  # writing layers only: `run` never loads tarfile
        layer_writer,
        layers,
    )

    diff = staged / "diff"
    diff_id = diff_id or layer_writer.diff_id(diff)
    chain = chain_id(parent, diff_id)
    final = store.layer_dir(chain)
    if not final.exists():
        _check_depth(store, parent)
        if size is None:
            size, _ = layers.dir_size(diff)
        meta = layer_meta(chain, parent, diff_id, created, created_by, size)
        write_json_atomic(staged / "json", meta)
        store.layers_dir.mkdir(parents=True, exist_ok=True)
        os.rename(staged, final)
    else:
        store.discard(staged)
    return read_layer(store, chain)


def _check_depth(store: Store, parent: str | None) -> None:
    """Refuse a layer on `MAX_DEPTH` others, in Docker's words (its layer store's check)."""
    depth = 0
    while parent is not None:
        depth += 1
        if depth >= MAX_DEPTH:
            raise LayerlabError("max depth exceeded")
        parent = read_layer(store, parent).parent


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


def busybox_applets() -> list[str]:
    """Install paths of every applet the host's static busybox provides (`bin/sh`, ...)."""
    out = subprocess.run(
        [str(HOST_BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def _populate_busybox_rootfs(root: Path, mtime: float) -> None:
    import shutil  # on use: its import (bz2, lzma) would cost every `run`

    for d, mode in (
        ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("proc", 0o555),
        ("root", 0o700), ("sbin", 0o755), ("sys", 0o555), ("tmp", 0o1777), ("usr", 0o755),
        ("usr/bin", 0o755), ("usr/sbin", 0o755), ("var", 0o755), ("var/spool", 0o755),
        ("var/spool/mail", 0o755), ("var/www", 0o755),
    ):  # fmt: skip
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
    shutil.copy2(HOST_BUSYBOX, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    for applet in busybox_applets():
        target = root / applet
        if applet == "bin/busybox" or target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", target)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    )
    (root / "etc/group").write_text("root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n")
    # A fixed mtime makes the layer - and so the image id - the same on every
    # store built from the same busybox binary.
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (mtime, mtime), follow_symlinks=False)
    os.utime(root, (mtime, mtime))


def ensure_base_image(store: Store) -> str:
    """Make `busybox:latest` from the host's static busybox: one real layer, one config."""
    if not HOST_BUSYBOX.exists():
        raise NotFound(
            "No such image: busybox:latest (install Debian's busybox-static to create it)"
        )
    with store.lock():
        existing = store.find_image(BASE_IMAGE)
        if existing:
            return existing
        mtime = float(int(HOST_BUSYBOX.stat().st_mtime))
        binary_digest = hashlib.sha256(HOST_BUSYBOX.read_bytes()).hexdigest()
        add_by = f"/bin/sh -c #(nop) ADD file:{binary_digest} in / "
        created = rfc3339_nano(mtime)
        staged = store.make_tmp_dir("layer-")
        try:
            _populate_busybox_rootfs(staged / "diff", mtime)
            layer = add_layer(store, staged, None, add_by, created)
        except BaseException:
            store.discard(staged)
            raise
        config = {
            "architecture": docker_arch(),
            "os": "linux",
            "created": created,
            "config": {"Env": [DEFAULT_PATH], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            "history": [
                {"created": created, "created_by": add_by},
                {
                    "created": created,
                    "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                    "empty_layer": True,
                },
            ],
        }
        image_id = write_image(store, config)
        tag_image(store, image_id, BASE_IMAGE)
        return image_id


def copy_into_layer(
    store: Store, upper: Path, parent: str | None, created_by: str, created: str
) -> Layer:
    """A container's writable layer -> a new read-only layer, in one pass.

    layer_writer copies the upper dir into a staging folder as extracting its
    canonical tar would, and hashes that tar on the way: only whiteouts and
    opaque markers cross (no overlay bookkeeping xattrs), and the diff_id falls
    out of the same pass. The staging folder is renamed into place when done,
    so a killed commit leaves only tmp work behind.
    """
    from layerlab.layerfs import layer_writer

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
    from layerlab.layerfs import layers

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


def commit_config(parent: Image, container: Container, changes: list[str]) -> dict[str, Any]:
    """The new image's config: the parent's, overlaid with the container's, then `-c` changes."""
    config = json.loads(json.dumps(parent.config))
    run = dict(config.get("config") or {})
    cfg = container.data["Config"]
    for key in ("User", "Env", "Cmd", "WorkingDir", "Entrypoint", "Labels", "StopSignal"):
        if cfg.get(key):
            run[key] = cfg[key]
    from layerlab.build.instructions import apply_changes  # Dockerfile words: commits only

    apply_changes(run, changes)  # CMD then ENTRYPOINT keeps the CMD, as Docker
    config["config"] = run
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    config.setdefault("history", [])
    config.pop("container", None)
    return config


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
