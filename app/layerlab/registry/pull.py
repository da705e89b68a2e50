"""`pull`: an image from a registry into the store, whole or not at all.

For each reference (a tag, a digest, or every tag with `--all-tags`):

1. the manifest (through an index: the platform Docker picks, `manifest.py`), then the
   config blob, its digest checked: the image id is that digest;
2. each layer whose chain id the store lacks is downloaded (three at a time, as Docker's
   max-concurrent-downloads) into a scratch folder, its compressed digest checked while the
   bytes arrive, then unpacked (`unpack.py`) with its diff_id checked against the config;
   a layer the store has is never fetched (`Already exists`);
3. under the store lock, at the end only: the layers are registered in order, the config
   written, what was learned recorded (`storage/distribution.py`: blob -> diff_id ->
   repository, the repository digest), and the tag set.

Anything that fails before 3 (a registry that dies, a digest that does not match, a full
disk, a wrong password, Ctrl+C) leaves the store as it was: the scratch folder goes (or,
after a kill, recovery removes it by its owner's pid), and the transfer's record
(`transfers.py`, whose id starts with the pid) with it. Every state change goes through
the record; `observe` (the CLI's progress) is shown the same record as it changes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from layerlab.errors import ClientError, LayerlabError, no_space, os_error
from layerlab.layerfs import archive, layer_store
from layerlab.registry import manifest as mf
from layerlab.registry.client import RegistryClient, RegistryError, RemoteRef, parse_reference
from layerlab.registry.transfers import Blob, Transfer, TransferLog
from layerlab.registry.unpack import unpack_blob
from layerlab.storage import distribution
from layerlab.storage.reference import chain_id
from layerlab.storage.store import Store

MAX_CONCURRENT_DOWNLOADS = 3  # Docker's default max-concurrent-downloads
MAX_CONFIG = 8 << 20
_ids = itertools.count(1)

Observer = Callable[[Transfer], None]
Say = Callable[[str], None]


@dataclass(frozen=True)
class Pulled:
    """What `pull` did: the lines Docker ends with, and the images it stored."""

    status: str  # "Status: Downloaded newer image for busybox:latest"
    reference: str  # "docker.io/library/busybox:latest", printed last
    image_ids: list[str]
    references: list[tuple[str, str]]  # each pulled: (`busybox:latest`, `busybox`)


class _Cancelled(Exception):
    """Another download failed: this one stops."""


class _Progress:
    """The transfer's record (the one source of truth) and whoever is shown it."""

    def __init__(self, log: TransferLog, observe: Observer | None) -> None:
        self.log = log
        self._observe = observe
        self._lock = threading.Lock()
        self.cancel = threading.Event()
        self._open: set[requests.Response] = set()

    def update(self, digest: str | None = None, force: bool = False, **changes: Any) -> None:
        with self._lock:
            self.log.update(digest, force=force, **changes)
            if self._observe is not None:
                self._observe(self.log.transfer)

    def opened(self, response: requests.Response) -> None:
        with self._lock:
            self._open.add(response)

    def closed(self, response: requests.Response) -> None:
        with self._lock:
            self._open.discard(response)
        response.close()

    def stop(self) -> None:
        """End every download: the flag, and their connections closed under them."""
        self.cancel.set()
        with self._lock:
            still = list(self._open)
        for response in still:
            with contextlib.suppress(Exception):
                response.close()


# --- the verb ----------------------------------------------------------------------------


def pull(
    store: Store,
    text: str,
    all_tags: bool = False,
    platform: mf.Platform | None = None,
    say: Say = lambda line: None,
    observe: Observer | None = None,
) -> Pulled:
    """Docker's `pull NAME[:TAG|@DIGEST]`: `say` gets its plain lines as they come."""
    ref = parse_reference(text, default_tag="" if all_tags else "latest")
    if all_tags and (ref.tag or ref.digest):
        raise LayerlabError("tag can't be used with --all-tags/-a")
    if not all_tags and not ref.digest and ":" not in text.rsplit("/", 1)[-1]:
        say("Using default tag: latest")
    updated, image_ids = False, []
    try:
        with RegistryClient(ref.host, store.root) as client:
            refs = [ref] if not all_tags else [ref.with_tag(t) for t in _tags(client, ref)]
            for one in refs:
                image_id, changed = _pull_one(store, client, one, platform, say, observe)
                updated = updated or changed
                image_ids.append(image_id)
    except (LayerlabError, OSError) as exc:
        raise _daemon_error(exc, store.tmp_dir) from None
    shown = ref.familiar if all_tags else ref.familiar_string
    status = "Downloaded newer image for" if updated else "Image is up to date for"
    full = ref.repository if all_tags else ref.full_string
    pulled = [(one.familiar_string, one.familiar) for one in refs]
    return Pulled(f"Status: {status} {shown}", full, image_ids, pulled)


def _tags(client: RegistryClient, ref: RemoteRef) -> list[str]:
    try:
        return sorted(client.tags(ref.path))
    except RegistryError as exc:
        raise _not_found(exc, ref) from None


def _pull_one(
    store: Store,
    client: RegistryClient,
    ref: RemoteRef,
    platform: mf.Platform | None,
    say: Say,
    observe: Observer | None,
) -> tuple[str, bool]:
    """One reference: (image id, whether the store changed: a new tag or layers)."""
    top_digest, manifest = _manifest(client, ref, platform)
    say(f"{ref.reference}: Pulling from {ref.path}")
    blobs = [Blob("config", manifest.config.digest, manifest.config.size, status="",
                  media_type=manifest.config.media_type)]  # fmt: skip
    for layer in manifest.layers:
        if all(b.digest != layer.digest for b in blobs):
            blobs.append(Blob("layer", layer.digest, layer.size, status="",
                              media_type=layer.media_type))  # fmt: skip
    transfer = Transfer(f"{os.getpid()}-{next(_ids)}", "pull", ref.familiar_string, top_digest,
                        manifest.media_type, blobs)  # fmt: skip
    log = TransferLog(store.root, transfer)
    progress = _Progress(log, observe)
    scratch = store.make_tmp_dir("pull-")
    try:
        config_bytes = _config(client, ref, manifest, platform, progress)
        plan = _plan(store, manifest, config_bytes, progress)
        staged = _download(client, ref, plan, scratch, progress)
        changed = _commit(store, ref, top_digest, plan, staged, progress)
        say(f"Digest: {top_digest}")
        progress.update(status=f"Digest: {top_digest}", force=True)
        return plan.image_id, changed
    except BaseException:
        progress.stop()
        raise
    finally:
        store.discard(scratch)
        log.close()


# --- manifest and config -------------------------------------------------------------------


def _manifest(
    client: RegistryClient, ref: RemoteRef, platform: mf.Platform | None
) -> tuple[str, mf.Manifest]:
    """(the digest the reference resolved to, the image manifest for the platform)."""
    top = _fetch_manifest(client, ref, ref.reference)
    if ref.digest and top.digest != ref.digest:
        raise LayerlabError(f"manifest verification failed for digest {ref.digest}")
    if isinstance(top, mf.Manifest):
        return top.digest, top
    chosen = mf.choose(top, platform or mf.running_platform())
    child = _fetch_manifest(client, ref, chosen.digest)
    if child.digest != chosen.digest or not isinstance(child, mf.Manifest):
        raise LayerlabError(f"manifest verification failed for digest {chosen.digest}")
    return top.digest, child


def _fetch_manifest(
    client: RegistryClient, ref: RemoteRef, reference: str
) -> mf.Manifest | mf.Index:
    try:
        response = client.get_manifest(ref.path, reference, mf.ACCEPT)
    except RegistryError as exc:
        raise _not_found(exc, ref) from None
    raw = response.content
    if len(raw) > mf.MAX_BYTES:
        raise LayerlabError(f"manifest for {ref.familiar_string} is too large")
    return mf.parse(raw, response.headers.get("Content-Type", ""), mf.digest_of(raw))


def _not_found(exc: RegistryError, ref: RemoteRef) -> RegistryError:
    """Docker's translatePullError: what a registry's error code means to the user."""
    if exc.code == "MANIFEST_UNKNOWN":
        return RegistryError(
            f"manifest for {ref.familiar_string} not found: {exc.reason}", exc.code
        )
    if exc.code == "NAME_UNKNOWN":
        return RegistryError(f"repository {ref.familiar} not found: {exc.reason}", exc.code)
    if exc.code == "DENIED":
        return RegistryError(
            f"pull access denied for {ref.familiar}, repository does not exist or may require"
            f" 'docker login': {exc.reason}", exc.code,
        )  # fmt: skip
    return exc


def _config(
    client: RegistryClient,
    ref: RemoteRef,
    manifest: mf.Manifest,
    platform: mf.Platform | None,
    progress: _Progress,
) -> bytes:
    """The config blob, checked against its digest (the image's id) and the platform."""
    desc = manifest.config
    if desc.size > MAX_CONFIG:
        raise LayerlabError(f"image config {desc.digest} is too large")
    response = client.get_blob(ref.path, desc.digest)
    try:
        payload = b"".join(client.blob_chunks(response))
    finally:
        response.close()
    if mf.digest_of(payload) != desc.digest:
        raise LayerlabError(f"image config verification failed for digest {desc.digest}")
    progress.update(desc.digest, status="Download complete", done=len(payload))
    try:
        config = json.loads(payload)
        actual = mf.Platform(
            str(config.get("os") or "linux"), str(config.get("architecture") or ""),
            str(config.get("variant") or ""),
        )  # fmt: skip
    except (ValueError, AttributeError):
        raise LayerlabError(f"invalid image config {desc.digest}") from None
    if actual.os != "linux":
        raise LayerlabError(f'image operating system "{actual.os}" cannot be used on this platform')
    if platform is not None and (actual.os, actual.architecture) != (
        platform.os, platform.architecture
    ):  # fmt: skip
        raise LayerlabError(
            f"image with reference {ref.familiar_string} was found but does not match the"
            f" specified platform: wanted {platform}, actual: {actual}"
        )
    return payload


@dataclass
class _Plan:
    """The image to store: its config, and per layer position its blob, diff_id, chain."""

    image_id: str
    config: bytes
    digests: list[str]
    diff_ids: list[str]
    chains: list[str]
    history: list[tuple[str, str]]
    fetch: dict[str, list[int]]  # blob digest -> the positions it fills (the store lacks)


def _plan(store: Store, manifest: mf.Manifest, config: bytes, progress: _Progress) -> _Plan:
    """Which layers to fetch: those whose chain id the store lacks; the rest `Already
    exists`. Docker's lines: `Pulling fs layer` for each fetched, `Waiting` beyond three."""
    data = json.loads(config)
    diff_ids = ((data.get("rootfs") or {}).get("diff_ids")) if isinstance(data, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(manifest.layers):
        raise LayerlabError("layers from manifest don't match image configuration")
    if len(diff_ids) > layer_store.MAX_DEPTH:
        raise LayerlabError("max depth exceeded")
    history = archive.layer_history(data, len(diff_ids), "invalid image config")
    chains: list[str] = []
    for diff_id in diff_ids:
        chains.append(chain_id(chains[-1] if chains else None, str(diff_id)))
    digests = [layer.digest for layer in manifest.layers]
    fetch: dict[str, list[int]] = {}
    for pos, digest in enumerate(digests):
        if not store.layer_dir(chains[pos]).exists():
            fetch.setdefault(digest, []).append(pos)
    for pos, digest in enumerate(digests):
        status = "Pulling fs layer" if digest in fetch else "Already exists"
        progress.update(digest, diff_id=diff_ids[pos], chain_id=chains[pos], status=status)
    for digest in list(fetch)[MAX_CONCURRENT_DOWNLOADS:]:
        progress.update(digest, status="Waiting")
    return _Plan(manifest.config.digest, config, digests, diff_ids, chains, history, fetch)


# --- the layers ------------------------------------------------------------------------------


def _download(
    client: RegistryClient, ref: RemoteRef, plan: _Plan, scratch: Path, progress: _Progress
) -> dict[int, Path]:
    """Fetch and unpack every layer the store lacks, three at a time; the staged folder of
    each position. The first failure stops the others and is raised."""
    staged: dict[int, Path] = {}
    with concurrent.futures.ThreadPoolExecutor(MAX_CONCURRENT_DOWNLOADS) as pool:
        futures = [
            pool.submit(_fetch_layer, client, ref, plan, digest, scratch, progress)
            for digest in plan.fetch
        ]
        try:
            for future in concurrent.futures.as_completed(futures):
                staged.update(future.result())
        except BaseException:
            progress.stop()
            for future in futures:
                future.cancel()
            raise
    return staged


def _fetch_layer(
    client: RegistryClient, ref: RemoteRef, plan: _Plan, digest: str, scratch: Path,
    progress: _Progress,
) -> dict[int, Path]:  # fmt: skip
    """One blob: downloaded with its digest checked as it arrives, then unpacked into a
    folder for each position it fills, each checked against the config's diff_id."""
    if progress.cancel.is_set():
        raise _Cancelled
    blob_path = scratch / f"blob-{digest.removeprefix('sha256:')}"
    _download_blob(client, ref, digest, progress.log.blob(digest).size, blob_path, progress)
    progress.update(digest, status="Extracting", done=0)
    staged: dict[int, Path] = {}
    for pos in plan.fetch[digest]:
        folder = scratch / f"layer-{pos}"
        seen = lambda n, d=digest: progress.update(d, done=n)  # noqa: E731
        if unpack_blob(blob_path, folder, seen) != plan.diff_ids[pos]:
            raise LayerlabError("layers from manifest don't match image configuration")
        staged[pos] = folder
    os.unlink(blob_path)
    return staged


def _download_blob(
    client: RegistryClient, ref: RemoteRef, digest: str, size: int, dest: Path,
    progress: _Progress,
) -> None:  # fmt: skip
    """The blob's bytes into `dest`, hashed on the way: Docker's verification."""
    response = client.get_blob(ref.path, digest)
    progress.opened(response)
    sha, done = hashlib.sha256(), 0
    try:
        with open(dest, "wb") as out:
            for chunk in client.blob_chunks(response):
                if progress.cancel.is_set():
                    raise _Cancelled
                sha.update(chunk)
                out.write(chunk)
                done += len(chunk)
                progress.update(digest, status="Downloading", done=done)
    except RegistryError:
        if progress.cancel.is_set():
            raise _Cancelled from None
        raise
    finally:
        progress.closed(response)
    progress.update(digest, status="Verifying Checksum")
    if done != size or "sha256:" + sha.hexdigest() != digest:
        raise LayerlabError(f"filesystem layer verification failed for digest {digest}")
    progress.update(digest, status="Download complete", done=size)


# --- the end: into the store ------------------------------------------------------------


def _commit(
    store: Store, ref: RemoteRef, top_digest: str, plan: _Plan, staged: dict[int, Path],
    progress: _Progress,
) -> bool:  # fmt: skip
    """Under the store lock: layers in order, the config, what was learned, the tag.
    Whether anything changed (a layer stored, a tag or digest newly naming the image)."""
    with store.lock():
        for pos, chain in enumerate(plan.chains):
            if pos not in staged and not store.layer_dir(chain).exists():
                raise LayerlabError(f"layer {chain} was removed while pulling; try again")
        parent: str | None = None
        for pos, chain in enumerate(plan.chains):
            if pos in staged:
                created, created_by = plan.history[pos]
                layer_store.add_layer(
                    store, staged[pos], parent, created_by, created, plan.diff_ids[pos]
                )
                progress.update(plan.digests[pos], status="Pull complete")
            parent = chain
        archive.write_image_bytes(store, plan.config, plan.image_id)
        for diff_id, digest in zip(plan.diff_ids, plan.digests, strict=True):
            distribution.record_blob(store, diff_id, digest, ref.repository)
        repo_digest = f"{ref.familiar}@{top_digest}"
        changed = distribution.image_by_repo_digest(store, repo_digest) != plan.image_id
        distribution.record_repo_digest(store, repo_digest, plan.image_id)
        if ref.tag:
            tags = store.read_repositories()
            name = f"{ref.familiar}:{ref.tag}"
            changed = tags.get(name) != plan.image_id
            tags[name] = plan.image_id
            store.write_repositories(tags)
    return changed or bool(staged)


def _daemon_error(exc: LayerlabError | OSError, where: Path) -> LayerlabError:
    """A failure as Docker's daemon reports it (`Error response from daemon: ...`), a full
    disk anywhere in the chain of causes in Docker's words."""
    seen: BaseException | None = exc
    while seen is not None:
        full = no_space(seen, where)
        if full is not None:
            return RegistryError(str(full))
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, OSError):
        return RegistryError(str(os_error(exc, "write")))
    return exc if isinstance(exc, ClientError) else RegistryError(str(exc))
