"""Images in and out of the store as archives: `save`, `load` and `import`.

`save` writes one tar that is two formats at once, as Docker 25 does: a
docker-archive (`manifest.json`, read by `docker load` and skopeo) and an OCI
image layout (`oci-layout`, `index.json`), sharing the same `blobs/sha256/`.
`load` reads both, the older docker-archive with a folder per layer, and OCI
layouts made by skopeo or umoci (gzip layers), as a tar (maybe gzipped) or a
folder. Archives are untrusted: every digest is checked, nothing is unpacked
outside a private folder under the store's tmp/, and the store changes only
once the whole archive has verified - a bad archive leaves it as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from layerlab.errors import LayerlabError
from layerlab.layerfs import base_image, early_layers, layer_store, layer_writer, layers
from layerlab.presentation.humanize import plural, rfc3339_nano
from layerlab.storage import images
from layerlab.storage.reference import (
    is_valid_reference,
    normalize_ref,
    split_ref,
    strip_digest,
    validate_reference,
)
from layerlab.storage.store import Store, write_bytes_atomic

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"  # a tag, or a whole reference
IMAGE_NAME = "io.containerd.image.name"  # the full name: docker.io/library/busybox:latest

_CHUNK = 1 << 20
_MAX_JSON = 32 << 20  # manifests and configs are small; a huge one is hostile
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_DIGEST_IN_NAME = re.compile(
    r"(?:.*/)?(?:blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.(?:json|tar))"
)
_T = TypeVar("_T")
ORIGINAL_TAR = "layer.tar"
ORIGINAL_BLOB = "layer.blob"  # a pulled layer's blob as the registry sent it (gzip, zstd, plain)


# --- save ------------------------------------------------------------------


@dataclass
class _Saved:
    image: images.Image
    config: bytes
    tags: list[str] = field(default_factory=list)


def save(store: Store, refs: list[str], out: BinaryIO) -> None:
    """`docker save`: the images named by `refs` as one tar on `out`.

    Layer tars are made under the store lock (so no `rmi` pulls a layer away
    mid-way) into temp files - their sizes go into the manifests, which sort
    before some of them - and then streamed out without the lock, chunk by chunk.
    """
    work = store.make_tmp_dir("save-")
    try:
        with store.lock():
            saved = _select(store, refs)
            blobs: dict[str, Path | bytes] = {}
            for s in saved:
                blobs[strip_digest(s.image.id)] = s.config
                for layer in s.image.layers:
                    if strip_digest(layer.diff_id) not in blobs:
                        blobs[strip_digest(layer.diff_id)] = _layer_blob(work, layer)
        _write_archive(out, saved, blobs)
    except OSError as e:  # disk full, a closed pipe: one line, not a traceback
        raise LayerlabError(f"save failed: {e.strerror or e}") from e
    finally:
        store.discard(work)


def _select(store: Store, refs: list[str]) -> list[_Saved]:
    """Images to save with the tags to record, Docker's way: a tag records itself, a bare
    name every tag of that repository, an id none."""
    chosen: dict[str, _Saved] = {}

    def add(image_id: str, tag: str | None) -> None:
        if image_id not in chosen:
            image = images.read_image(store, image_id)
            config = store.image_path(image_id).read_bytes()
            if _digest(config) != image.id:
                raise LayerlabError(f"store corrupt: config of image {image.id} changed on disk")
            chosen[image_id] = _Saved(image, config)
        if tag and tag not in chosen[image_id].tags:
            chosen[image_id].tags.append(tag)

    for ref in refs:
        tags = store.read_repositories()
        name_only = ":" not in ref.rpartition("/")[2] and "@" not in ref
        named = sorted(t for t in tags if name_only and split_ref(t)[0] == ref)
        for tag in named:
            add(tags[tag], tag)
        if not named:
            image = base_image.resolve(store, ref)
            tag = normalize_ref(ref)
            add(image.id, tag if store.read_repositories().get(tag) == image.id else None)
    return list(chosen.values())


def _layer_blob(work: Path, layer: images.Layer) -> Path:
    """The layer's tar in a temp file, checked against the diff_id its images record.

    A layer loaded from someone else's tar keeps that tar (`ORIGINAL_TAR`), a pulled one
    the blob the registry sent (`ORIGINAL_BLOB`, its tar compressed): our canonical writer
    would not reproduce their bytes, and so not their diff_id.
    """
    path = work / strip_digest(layer.diff_id)
    original = layer.path / ORIGINAL_TAR
    if original.exists():
        os.link(original, path)  # the store's copy may go with an rmi while we stream
        return path
    blob = layer.path / ORIGINAL_BLOB
    with open(path, "wb") as f:
        if blob.exists():
            with open(blob, "rb") as src:
                tar = early_layers.Hashing(layers.decompressed(src))
                while chunk := tar.read(_CHUNK):
                    f.write(chunk)
                digest = tar.digest()
        else:
            digest = layers.write_layer_tar(layer.diff_path, f)
    if digest != layer.diff_id:
        raise LayerlabError(
            f"cannot save layer {layer.chain_id}: its files no longer give diff_id"
            f" {layer.diff_id} (store corrupt, or loaded from a tar not written canonically)"
        )
    return path


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _digest(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def _size(blob: Path | bytes) -> int:
    return len(blob) if isinstance(blob, bytes) else blob.stat().st_size


def full_name(ref: str) -> str:
    """`busybox:latest` -> `docker.io/library/busybox:latest`, the name containerd records."""
    name, tag = split_ref(ref)
    first, slash, _ = name.partition("/")
    if not slash:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return f"{name}:{tag}"


def _write_archive(out: BinaryIO, saved: list[_Saved], blobs: dict[str, Path | bytes]) -> None:
    """Both formats' metadata around the shared blobs, every entry sorted by name."""
    manifest_json: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    entries: dict[str, Path | bytes] = {f"blobs/sha256/{h}": blob for h, blob in blobs.items()}
    for s in saved:
        diff_hexes = [strip_digest(layer.diff_id) for layer in s.image.layers]
        manifest = _dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": s.image.id,
                    "size": len(s.config),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": "sha256:" + h, "size": _size(blobs[h])}
                    for h in diff_hexes
                ],
            }
        )
        entries[_blob_name(_digest(manifest))] = manifest
        descriptor = {"mediaType": OCI_MANIFEST, "digest": _digest(manifest), "size": len(manifest)}
        index += [
            {**descriptor, "annotations": {IMAGE_NAME: full_name(t), REF_NAME: split_ref(t)[1]}}
            for t in s.tags
        ] or [descriptor]
        manifest_json.append(
            {
                "Config": f"blobs/sha256/{strip_digest(s.image.id)}",
                "RepoTags": s.tags or None,
                "Layers": [f"blobs/sha256/{h}" for h in diff_hexes],
            }
        )
        for tag in s.tags:
            name, tagname = split_ref(tag)
            repositories.setdefault(name, {})[tagname] = diff_hexes[-1] if diff_hexes else ""
    entries["index.json"] = _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index})
    entries["manifest.json"] = _dumps(manifest_json)
    entries["oci-layout"] = OCI_LAYOUT
    if repositories:
        entries["repositories"] = _dumps(repositories)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("blobs", "blobs/sha256"):
            tar.addfile(_entry(folder, tarfile.DIRTYPE, 0o755, 0))
        for name in sorted(entries):
            blob = entries[name]
            info = _entry(name, tarfile.REGTYPE, 0o644, _size(blob))
            if isinstance(blob, bytes):
                tar.addfile(info, io.BytesIO(blob))
            else:
                with open(blob, "rb") as f:
                    tar.addfile(info, f)
                blob.unlink()  # give its disk space back as soon as it is out


def _entry(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    """Fixed owner and time: the same images always give the same archive bytes."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    return info


# --- load ------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A layer blob in the archive and what it must hash to, when the format says."""

    name: str
    digest: str | None = None
    size: int | None = None


@dataclass
class _Found:
    """One image of the archive, verified except for its layers."""

    image_id: str
    config: bytes
    diff_ids: list[str]
    history: list[tuple[str, str]]  # (created, created_by) per layer
    sources: list[_Source]
    tags: list[str] = field(default_factory=list)


def load(store: Store, src: BinaryIO | Path) -> list[str]:
    """`docker load`: every image of a docker-archive or OCI layout (tar or folder).

    Returns the lines Docker prints: `Loaded image: name:tag` per tag,
    `Loaded image ID: sha256:...` per untagged image.
    """
    work = store.make_tmp_dir("load-")
    try:
        if isinstance(src, Path) and src.is_dir():
            archive = _Archive(src, {})
        else:
            archive = _Archive(work / "archive", {})
            if isinstance(src, Path):
                try:
                    with open(src, "rb") as f:
                        _spool(f, archive)
                except FileNotFoundError:
                    raise LayerlabError(f"open {src}: no such file or directory") from None
            else:
                _spool(src, archive)
        found = _read_images(archive)
        staged = _stage_layers(store, archive, found, work)
        return _commit(store, found, staged)
    except layers.UnsafeTarError as e:
        raise LayerlabError(f"invalid archive: {e}") from e
    except OSError as e:  # disk full, unreadable input: still one line for the user
        raise LayerlabError(f"load failed: {e.strerror or e}") from e
    finally:
        store.discard(work)


@dataclass
class _Archive:
    """An unpacked archive (or the user's folder) and the links its tar held, as aliases."""

    root: Path
    aliases: dict[str, str]
    unpacked: dict[Path, early_layers.Unpacked] = field(default_factory=dict)  # as they came

    def path(self, name: str) -> Path:
        name = _clean(name)
        for _ in range(16):
            if name not in self.aliases:
                return self.root / name
            name = self.aliases[name]
        raise LayerlabError(f"invalid archive: too many links resolving {name!r}")

    def open(self, name: str) -> BinaryIO:
        path = self.path(name)
        if not path.is_file():
            raise LayerlabError(f"invalid archive: {name!r} is missing")
        return open(path, "rb")

    def read(self, name: str, digest: str | None = None, size: int | None = None) -> bytes:
        """A small file (JSON), checked against its digest and size when known."""
        with self.open(name) as f:
            payload = f.read(_MAX_JSON + 1)
        if len(payload) > _MAX_JSON:
            raise LayerlabError(f"invalid archive: {name!r} is too large for metadata")
        if (size is not None and len(payload) != size) or (digest and _digest(payload) != digest):
            raise LayerlabError(f"invalid archive: {name!r} does not match its digest {digest}")
        return payload

    def blob(self, desc: _Descriptor) -> bytes:
        return self.read(_blob_name(desc.digest), desc.digest, desc.size)


def _clean(name: str) -> str:
    """A member name as a relative path that stays inside the archive, or an error."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts or "\0" in name or not parts:
        raise LayerlabError(f"invalid archive: unsafe member name {name!r}")
    return "/".join(parts)


def _spool(src: BinaryIO, archive: _Archive) -> None:
    """Unpack an archive tar: files and folders only, links remembered as aliases.

    Only files and folders are ever created, so no path can lead outside; a
    link is just another name for a member, resolved within the archive.
    """
    archive.root.mkdir()
    try:
        with tarfile.open(fileobj=layers.decompressed(src), mode="r|") as tar:
            while (m := tar.next()) is not None:
                if m.isdir():
                    if m.name.strip("/.") != "":  # './' is the root itself
                        (archive.root / _clean(m.name)).mkdir(parents=True, exist_ok=True)
                elif m.isreg():
                    path = archive.root / _clean(m.name)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(m)
                    assert data is not None  # a regular member always has a data stream
                    early = early_layers.spool_member(data, path, archive.root.parent)
                    if early is not None:
                        archive.unpacked[path] = early
                elif m.issym() and not m.linkname.startswith("/"):
                    name = _clean(m.name)
                    link = posixpath.normpath(posixpath.join(posixpath.dirname(name), m.linkname))
                    archive.aliases[name] = _clean(link)
                elif m.islnk():
                    archive.aliases[_clean(m.name)] = _clean(m.linkname)
                else:
                    raise LayerlabError(f"invalid archive: unsupported member {m.name!r}")
                tar.members.clear()  # type: ignore[attr-defined]  # flat memory, any size
    except layers.ExpansionLimit as e:
        raise LayerlabError(f"invalid archive: {e}") from e
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise LayerlabError(f"invalid archive: not a valid tar: {e}") from e
    except OSError as e:
        raise LayerlabError(f"invalid archive: {e.strerror or e}") from e


def _json(payload: bytes, what: str) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        raise LayerlabError(f"invalid archive: {what} is not valid JSON") from None


def _get(obj: Any, key: str, kind: type[_T], what: str) -> _T:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise LayerlabError(f"invalid archive: {what} has no valid {key!r}")
    return value


def _check_digest(digest: str, what: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise LayerlabError(f"invalid archive: {what} has an unsupported digest {digest[:80]!r}")
    return digest


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{strip_digest(digest)}"


@dataclass(frozen=True)
class _Descriptor:
    """An OCI content descriptor, checked: what index.json and manifests point with."""

    digest: str
    size: int
    annotations: dict[str, Any]
    platform: dict[str, Any]


def _descriptor(obj: Any, what: str) -> _Descriptor:
    digest = _check_digest(_get(obj, "digest", str, what), what)
    annotations, platform = obj.get("annotations") or {}, obj.get("platform") or {}
    if not isinstance(annotations, dict) or not isinstance(platform, dict):
        raise LayerlabError(f"invalid archive: {what} has a malformed descriptor")
    return _Descriptor(digest, _get(obj, "size", int, what), annotations, platform)


def _for_us(desc: _Descriptor) -> bool:
    """No platform named, or this machine's: other platforms' images are skipped."""
    p = desc.platform
    return not p or (p.get("os") == "linux" and p.get("architecture") == images.docker_arch())


def _read_images(archive: _Archive) -> list[_Found]:
    """The archive's images; manifest.json first, as `docker load` does."""
    if archive.path("manifest.json").is_file():
        found = _docker_images(archive)
    elif archive.path("index.json").is_file():
        found = _oci_images(archive)
    else:
        raise LayerlabError("invalid archive: it has neither manifest.json nor index.json")
    merged: dict[str, _Found] = {}
    for f in found:
        first = merged.setdefault(f.image_id, f)
        if first is not f:
            first.tags += [t for t in f.tags if t not in first.tags]
    return list(merged.values())


def _docker_images(archive: _Archive) -> list[_Found]:
    entries = _json(archive.read("manifest.json"), "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise LayerlabError("invalid archive: manifest.json lists no images")
    found = []
    for entry in entries:
        config_name = _get(entry, "Config", str, "manifest.json")
        config = archive.read(config_name, _digest_in_name(config_name))
        sources = [
            _Source(_check_str(name), _digest_in_name(name))
            for name in _get(entry, "Layers", list, "manifest.json")
        ]
        tags = entry.get("RepoTags") or []
        if not isinstance(tags, list) or not all(is_valid_reference(t) for t in tags):
            raise LayerlabError("invalid archive: manifest.json has an invalid RepoTags entry")
        found.append(_found(config, sources, [normalize_ref(t) for t in tags]))
    return found


def _check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise LayerlabError("invalid archive: manifest.json has a layer that is not a path")
    return value


def _digest_in_name(name: str) -> str | None:
    """Docker 25 names blobs by digest (`blobs/sha256/<hex>`), skopeo `<hex>.json|tar`."""
    match = _DIGEST_IN_NAME.fullmatch(name)
    return "sha256:" + (match[1] or match[2]) if match else None


def _oci_images(archive: _Archive) -> list[_Found]:
    index = _json(archive.read("index.json"), "index.json")
    found = []
    for item in _get(index, "manifests", list, "index.json"):
        desc = _descriptor(item, "index.json")
        if not _for_us(desc):
            continue
        manifest = _pick_manifest(archive, desc)
        config_desc = _descriptor(_get(manifest, "config", dict, "a manifest"), "a manifest")
        sources = [
            _Source(_blob_name(d.digest), d.digest, d.size)
            for d in (
                _descriptor(x, "a manifest") for x in _get(manifest, "layers", list, "a manifest")
            )
        ]
        tag = _oci_tag(desc.annotations)
        found.append(_found(archive.blob(config_desc), sources, [tag] if tag else []))
    if not found:
        raise LayerlabError(f"invalid archive: no linux/{images.docker_arch()} image in it")
    return found


def _pick_manifest(archive: _Archive, desc: _Descriptor, depth: int = 0) -> dict[str, Any]:
    """The image manifest for this machine, through nested indexes (multi-platform images)."""
    body = _json(archive.blob(desc), f"blob {desc.digest}")
    if not isinstance(body, dict):
        raise LayerlabError(f"invalid archive: manifest {desc.digest} is not an object")
    if "manifests" not in body:
        return body
    children = [_descriptor(x, "an index") for x in _get(body, "manifests", list, "an index")]
    ours = [c for c in children if c.platform and _for_us(c)]
    if not ours and len(children) == 1:
        ours = children  # one image, platform not stated
    if not ours or depth > 4:
        raise LayerlabError(
            f"invalid archive: no linux/{images.docker_arch()} image in {desc.digest}"
        )
    return _pick_manifest(archive, ours[0], depth + 1)


def _oci_tag(annotations: dict[str, Any]) -> str | None:
    """containerd's full name, else a ref.name that is a whole reference (a bare tag names no
    repository: such an image loads untagged)."""
    name = annotations.get(IMAGE_NAME) or annotations.get(REF_NAME)
    if (
        not isinstance(name, str)
        or not (":" in name or "/" in name)
        or not is_valid_reference(name)
    ):
        return None
    return normalize_ref(name)


def familiar_name(ref: str) -> str:
    """`docker.io/library/busybox:latest` -> `busybox:latest`, as Docker shows it."""
    short = ref.removeprefix("docker.io/")
    official = short.removeprefix("library/")
    return official if "/" not in official else short


def _found(config: bytes, sources: list[_Source], tags: list[str]) -> _Found:
    """Check a config and the layers its manifest lists against each other."""
    what = "the image config"
    data = _json(config, what)
    if not isinstance(data, dict):
        raise LayerlabError(f"invalid archive: {what} is not an object")
    if data.get("os", "linux") != "linux":
        raise LayerlabError(f"cannot load a {str(data.get('os'))[:40]} image on linux")
    diff_ids = _get(_get(data, "rootfs", dict, what), "diff_ids", list, what)
    for diff_id in diff_ids:
        _check_digest(diff_id if isinstance(diff_id, str) else "", what)
    if len(diff_ids) != len(sources):
        raise LayerlabError(
            f"invalid archive: the config has {plural(len(diff_ids), 'layer')}, "
            f"the manifest {len(sources)}"
        )
    if len(diff_ids) > layer_store.MAX_DEPTH:  # before anything is unpacked: all or nothing
        raise LayerlabError("max depth exceeded")
    history = layer_history(data, len(diff_ids), f"invalid archive: {what}")
    return _Found(
        _digest(config), config, diff_ids, history, sources, [familiar_name(t) for t in tags]
    )


def layer_history(config: dict[str, Any], layers: int, what: str) -> list[tuple[str, str]]:
    """(created, created_by) of each layer from a config's non-empty history entries (the
    config's own `created` for each without them); more entries than layers is refused, as
    moby refuses it (`what` names the config in the error)."""
    listed = config.get("history")
    steps = [
        (str(h.get("created") or ""), str(h.get("created_by") or ""))
        for h in (listed if isinstance(listed, list) else [])
        if isinstance(h, dict) and not h.get("empty_layer")
    ]
    if len(steps) > layers:
        raise LayerlabError(
            f"{what} lists {len(steps)} non-empty history entries for {plural(layers, 'layer')}"
        )
    return steps if len(steps) == layers else [(str(config.get("created") or ""), "")] * layers


def _unpack_layer(archive: _Archive, source: _Source, diff_id: str, dest: Path | None) -> None:
    """Extract one layer blob into `dest` (or only hash it when `dest` is None), checking the
    blob's digest (compressed bytes) and the diff_id (the tar inside) in one streaming pass."""
    with archive.open(source.name) as f:
        magic = f.read(4)
        f.seek(0)
        blob = early_layers.Hashing(f)
        tar_stream = blob
        if magic.startswith(b"\x1f\x8b"):
            inflate = gzip.GzipFile(fileobj=cast(BinaryIO, blob), mode="rb")
            tar_stream = early_layers.Hashing(layers.limit_expansion(inflate, lambda: blob.size))
        elif magic == b"\x28\xb5\x2f\xfd":
            raise LayerlabError(f"cannot load {source.name!r}: zstd-compressed layers unsupported")
        try:
            if dest is not None:
                layers.extract_layer_tar(cast(BinaryIO, tar_stream), dest)
                tar_stream.drain()  # the end-of-archive padding is part of the diff_id
            blob.drain()
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise LayerlabError(f"invalid archive: layer {source.name!r} is corrupt: {e}") from e
    if (source.size is not None and blob.size != source.size) or (
        source.digest and blob.digest() != source.digest
    ):
        raise LayerlabError(f"invalid archive: {source.name!r} does not match its digest")
    if dest is not None and tar_stream.digest() != diff_id:
        raise LayerlabError(
            f"invalid archive: layer {source.name!r} is not the layer {diff_id} its config names"
        )


def _keep_original(archive: _Archive, source: _Source, dest: Path) -> None:
    """Keep a foreign layer's uncompressed tar: `save` must write the very bytes of its diff_id."""
    with archive.open(source.name) as f, open(dest, "wb") as out:
        stream = layers.decompressed(f)
        shutil.copyfileobj(stream, out, _CHUNK)


def _chains(image: _Found) -> list[str]:
    chain: str | None = None
    out = []
    for diff_id in image.diff_ids:
        chain = layers.chain_id(chain, diff_id)
        out.append(chain)
    return out


def _stage_layers(
    store: Store, archive: _Archive, found: list[_Found], work: Path
) -> dict[str, Path]:
    """Extract and verify every layer the store lacks, each into a folder ready for add_layer.

    Layers the store already has are not extracted again; their blobs are
    still checked when the format names a digest.
    """
    staged: dict[str, Path] = {}
    for image in found:
        for chain, diff_id, source in zip(
            _chains(image), image.diff_ids, image.sources, strict=True
        ):
            if chain in staged:
                continue
            early = _unpacked_early(archive, source, diff_id)
            if store.layer_dir(chain).exists():
                if source.digest and early is None:
                    _unpack_layer(archive, source, diff_id, None)
                continue
            folder = early or work / f"layer-{len(staged)}"
            if early is None:
                (folder / "diff").mkdir(parents=True)
                _unpack_layer(archive, source, diff_id, folder / "diff")
            if layer_writer.diff_id(folder / "diff") != diff_id:
                if early is None:
                    _keep_original(archive, source, folder / ORIGINAL_TAR)
                else:  # the member is that very tar, uncompressed
                    os.link(archive.path(source.name), folder / ORIGINAL_TAR)
            staged[chain] = folder
    return staged


def _unpacked_early(archive: _Archive, source: _Source, diff_id: str) -> Path | None:
    """The folder the member was unpacked into as it arrived, if it is this layer (its digest
    the diff_id, and the blob's the format names); each folder serves one layer."""
    early = archive.unpacked.pop(archive.path(source.name), None)
    if early is None or early.digest != diff_id:
        return None
    if source.digest not in (None, early.digest) or source.size not in (None, early.size):
        raise LayerlabError(f"invalid archive: {source.name!r} does not match its digest")
    return early.folder


def _commit(store: Store, found: list[_Found], staged: dict[str, Path]) -> list[str]:
    """Move the verified layers and configs into the store, then tag: all or nothing."""
    with store.lock():
        for image in found:
            for chain in _chains(image):
                if chain not in staged and not store.layer_dir(chain).exists():
                    raise LayerlabError(f"layer {chain} was removed while loading; try again")
        for image in found:
            parent = None
            for chain, diff_id, (created, created_by) in zip(
                _chains(image), image.diff_ids, image.history, strict=True
            ):
                if chain in staged:
                    layer_store.add_layer(
                        store, staged.pop(chain), parent, created_by, created, diff_id
                    )
                parent = chain
            write_image_bytes(store, image.config, image.image_id)
        tags = store.read_repositories()
        lines = []
        for image in found:
            for tag in image.tags:
                previous = tags.get(tag)
                if previous is not None and previous != image.image_id:  # moby's setLoadedTag
                    lines.append(
                        f"The image {tag} already exists, renaming the old one with ID"
                        f" {previous} to empty string"
                    )
                tags[tag] = image.image_id
                lines.append(f"Loaded image: {tag}")
            if not image.tags:
                lines.append(f"Loaded image ID: {image.image_id}")
        if any(image.tags for image in found):
            store.write_repositories(tags)
    return lines


def write_image_bytes(store: Store, payload: bytes, image_id: str) -> None:
    """Store a config exactly as given: the id is the sha256 of these bytes, so re-encoding
    the JSON (as images.write_image does) would change the image's identity."""
    if _digest(payload) != "sha256:" + strip_digest(image_id):
        raise LayerlabError(f"image config does not match its id {image_id}")
    store.images_dir.mkdir(parents=True, exist_ok=True)
    path = store.image_path(image_id)
    if not path.exists():
        write_bytes_atomic(path, payload)


# --- import ----------------------------------------------------------------


def import_tar(
    store: Store,
    src: BinaryIO,
    *,
    message: str,
    run_config: dict[str, Any],
    repo_tag: str | None,
) -> str:
    """`docker import`: one untrusted tar (plain or gzip) becomes a one-layer image whose
    config is `run_config` (the engine applied `-c` changes to it).

    Returns the new image id. The tag is checked first, so a bad one fails before
    any extraction.
    """
    if repo_tag:
        validate_reference(repo_tag)
    staged = store.make_tmp_dir("import-")
    try:
        (staged / "diff").mkdir()
        try:
            layers.extract_layer_tar(src, staged / "diff")
        except layers.UnsafeTarError as e:
            raise LayerlabError(f"invalid tar: {e}") from e
        created = rfc3339_nano(time.time())
        comment = message or "Imported from -"
        with store.lock():
            layer = layer_store.add_layer(store, staged, None, "", created)
            image_id = images.write_image(
                store,
                {
                    "architecture": images.docker_arch(),
                    "comment": comment,
                    "config": run_config,
                    "created": created,
                    "history": [{"created": created, "created_by": "", "comment": comment}],
                    "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
                },
            )
            if repo_tag:
                images.tag_image(store, image_id, repo_tag)
        return image_id
    except OSError as e:
        raise LayerlabError(f"import failed: {e.strerror or e}") from e
    finally:
        store.discard(staged)
