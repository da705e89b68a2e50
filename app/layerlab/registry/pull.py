"""`pull`: an image from a registry into the store, whole or not at all.

For each reference (a tag, a digest, or every tag with `--all-tags`):

1. the manifest (through an index: the platform Docker picks, `manifest.py`), then the
   config blob, its digest checked: the image id is that digest;
2. each layer whose chain id the store lacks is downloaded (three at a time, as Docker's
   max-concurrent-downloads) into a scratch folder in one pass: as the bytes arrive they
   are hashed (the compressed digest, checked at the end), kept (the blob, for `push`) and
   unpacked (`unpack.py`) with its diff_id checked against the config; a layer the store
   has is never fetched (`Already exists`);
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
from typing import IO, Any, cast

import requests

from layerlab.errors import Cancelled, ClientError, LayerlabError, no_space, os_error
from layerlab.layerfs import archive, layer_store
from layerlab.layerfs.archive import ORIGINAL_BLOB
from layerlab.registry import manifest as mf
from layerlab.registry.client import RegistryClient, RegistryError, RemoteRef, parse_reference
from layerlab.registry.transfers import Blob, Transfer, TransferLog
from layerlab.registry.unpack import CHUNK, unpack_blob, unpack_layer
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

    def __init__(
        self, log: TransferLog, observe: Observer | None, cancel: threading.Event | None
    ) -> None:
        self.log = log
        self._observe = observe
        self.asked = cancel or threading.Event()  # the user's: stop the pull
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
    cancel: threading.Event | None = None,
) -> Pulled:
    """Docker's `pull NAME[:TAG|@DIGEST]`: `say` gets its plain lines as they come; `cancel`
    set (the TUI's Ctrl+C) stops it, leaving the store as it was."""
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
                image_id, changed = _pull_one(store, client, one, platform, say, observe, cancel)
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
    cancel: threading.Event | None,
) -> tuple[str, bool]:
    """One reference: (image id, whether the store changed: a new tag or layers)."""
    top_digest, manifest = _manifest(client, ref, platform)
    say(f"{ref.familiar_string if ref.digest else ref.tag}: Pulling from {ref.path}")
    blobs = [Blob("config", manifest.config.digest, manifest.config.size, status="",
                  media_type=manifest.config.media_type)]  # fmt: skip
    for layer in manifest.layers:
        if all(b.digest != layer.digest for b in blobs):
            blobs.append(Blob("layer", layer.digest, layer.size, status="",
                              media_type=layer.media_type))  # fmt: skip
    transfer = Transfer(f"{os.getpid()}-{next(_ids)}", "pull", ref.familiar_string, top_digest,
                        manifest.media_type, blobs)  # fmt: skip
    log = TransferLog(store.root, transfer)
    try:
        progress = _Progress(log, observe, cancel)
        image_id, changed = _transfer(store, client, ref, platform, manifest, progress)
    finally:
        log.close()
    say(f"Digest: {top_digest}")
    return image_id, changed


def _transfer(
    store: Store, client: RegistryClient, ref: RemoteRef, platform: mf.Platform | None,
    manifest: mf.Manifest, progress: _Progress,
) -> tuple[str, bool]:  # fmt: skip
    """The config, the layers the store lacks (in a scratch folder), then the commit."""
    scratch = store.make_tmp_dir("pull-")
    try:
        local = _local_config(store, manifest.config.digest)
        config_bytes = local or _config(client, ref, manifest, platform, progress)
        plan = _plan(store, manifest, config_bytes, progress, here=local is not None)
        staged = _download(client, ref, plan, scratch, progress)
        changed = _commit(store, ref, progress.log.transfer.manifest_digest, plan, staged, progress)
        progress.update(status=f"Digest: {progress.log.transfer.manifest_digest}", force=True)
        return plan.image_id, changed
    except BaseException:
        progress.stop()
        raise
    finally:
        store.discard(scratch)


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


def _local_config(store: Store, digest: str) -> bytes | None:
    """The config if the image is in the store already (then so are its layers): Docker
    fetches nothing, and says nothing of the layers."""
    try:
        payload = store.image_path(digest).read_bytes()
    except FileNotFoundError:
        return None
    return payload if mf.digest_of(payload) == digest else None


def _plan(
    store: Store, manifest: mf.Manifest, config: bytes, progress: _Progress, here: bool
) -> _Plan:
    """Which layers to fetch: those whose chain id the store lacks; the rest `Already
    exists` (no word at all when the whole image is `here`). Docker's lines: `Pulling fs
    layer` for each fetched, `Waiting` beyond three."""
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
        status = "Pulling fs layer" if digest in fetch else "" if here else "Already exists"
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
            pending = set(futures)
            while pending:
                done, pending = concurrent.futures.wait(
                    pending, timeout=0.1, return_when=concurrent.futures.FIRST_EXCEPTION
                )
                for future in done:
                    staged.update(future.result())
                if progress.asked.is_set():
                    raise Cancelled()
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
    """One blob, in one pass as it arrives: kept in the first folder it fills (`layer.blob`)
    with its digest checked, and unpacked there with its diff_id checked against the
    config's; then unpacked from that file into any other folder it fills."""
    if progress.cancel.is_set():
        raise _Cancelled
    first, *others = plan.fetch[digest]
    staged = {first: scratch / f"layer-{first}"}
    staged[first].mkdir()
    blob_path = staged[first] / ORIGINAL_BLOB
    with _BlobStream(client, ref, digest, blob_path, progress) as blob:
        try:
            diff_id = unpack_layer(cast(IO[bytes], blob), staged[first])
        except LayerlabError:
            blob.verify()  # a blob that is not the one named: that is what went wrong
            raise
        blob.verify()
    _check_diff_id(diff_id, plan.diff_ids[first])
    for pos in others:
        progress.update(digest, status="Extracting", done=0)
        staged[pos] = scratch / f"layer-{pos}"
        seen = lambda n, d=digest: progress.update(d, done=n)  # noqa: E731
        _check_diff_id(unpack_blob(blob_path, staged[pos], seen), plan.diff_ids[pos])
    return staged


def _check_diff_id(found: str, named: str) -> None:
    if found != named:
        raise LayerlabError("layers from manifest don't match image configuration")


class _BlobStream:
    """A layer blob as the registry sends it, read by the unpacker: hashed on the way
    (Docker's verification), written to `dest` (the blob the layer keeps), its progress
    recorded. `verify()` reads what is left, then checks the size and the digest."""

    def __init__(
        self, client: RegistryClient, ref: RemoteRef, digest: str, dest: Path,
        progress: _Progress,
    ) -> None:  # fmt: skip
        self._digest, self._progress = digest, progress
        self._size = progress.log.blob(digest).size
        self._response = client.get_blob(ref.path, digest)
        progress.opened(self._response)
        self._chunks = client.blob_chunks(self._response)
        self._out = open(dest, "wb")  # noqa: SIM115 - closed by __exit__
        self._sha, self._done = hashlib.sha256(), 0
        self._chunk, self._at = memoryview(b""), 0
        self._failed: BaseException | None = None

    def __enter__(self) -> _BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()
        self._progress.closed(self._response)

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        if self._at == len(self._chunk):
            self._chunk, self._at = memoryview(self._next()), 0
        end = min(self._at + n, len(self._chunk))
        data = bytes(self._chunk[self._at : end])
        self._at = end
        return data

    def _next(self) -> bytes:
        """The next chunk from the registry (b"" at the end), hashed, kept and counted."""
        try:
            if self._progress.cancel.is_set():
                raise _Cancelled
            chunk = next(self._chunks, b"")
            self._sha.update(chunk)
            self._out.write(chunk)
        except RegistryError as exc:
            self._failed = _Cancelled() if self._progress.cancel.is_set() else exc
            raise self._failed from None
        except BaseException as exc:
            self._failed = exc
            raise
        self._done += len(chunk)
        if self._done > self._size:
            self._failed = self._mismatch()
            raise self._failed
        self._progress.update(self._digest, status="Downloading", done=self._done)
        return chunk

    def verify(self) -> None:
        """The rest read, then the whole checked; the stream's own failure raised again
        (a lost connection, a full disk: not the blob's contents)."""
        if self._failed is not None:
            raise self._failed
        while self._next():
            pass
        self._progress.update(self._digest, status="Verifying Checksum")
        if self._done != self._size or "sha256:" + self._sha.hexdigest() != self._digest:
            raise self._mismatch()
        self._progress.update(self._digest, status="Download complete", done=self._size)

    def _mismatch(self) -> LayerlabError:
        return LayerlabError(f"filesystem layer verification failed for digest {self._digest}")


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
    return exc if isinstance(exc, (ClientError, Cancelled)) else RegistryError(str(exc))
