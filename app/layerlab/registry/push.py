"""`push`: an image's blobs, then its manifest, into a registry, as Docker's pusher sends them.

Each layer, five at a time (Docker's max-concurrent-uploads), travels only when the
registry lacks it:

1. a blob the store knows for this layer (`storage/distribution.py`: pulled or pushed
   before) that this repository has: `HEAD` says so, `Layer already exists`;
2. one that another repository of the same registry has: mounted from there, nothing sent
   (`POST /v2/NAME/blobs/uploads/?mount=DIGEST&from=REPO`, `Mounted from REPO`);
3. else the layer is compressed (`compress.py`: the same bytes every time, so its digest may
   be there already, pushed from elsewhere) and uploaded: `POST`, then one `PUT` of the blob.

Then the config blob, then the manifest (Docker's v2 schema 2) under the tag. Each step is
written in the transfer record (`transfers.py`) for the faces to draw. Only a push that ends
well changes the store: it records where each blob now is and the image's `RepoDigests`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from layerlab.errors import Cancelled, ClientError, LayerlabError
from layerlab.registry import compress
from layerlab.registry import manifest as mf
from layerlab.registry.client import RegistryClient, RemoteRef, _registry_error, parse_reference
from layerlab.registry.pull import Observer, Say
from layerlab.registry.transfers import Blob, Transfer, TransferLog
from layerlab.storage import distribution
from layerlab.storage import images as imagelib
from layerlab.storage.reference import split_ref, strip_digest
from layerlab.storage.store import Store

MAX_CONCURRENT_UPLOADS = 5  # Docker's default max-concurrent-uploads
PUSH_ACTIONS = "pull,push"


@dataclass(frozen=True)
class Pushed:
    """A tag pushed: Docker's last line, `TAG: digest: DIGEST size: SIZE`."""

    tag: str
    digest: str
    size: int
    image_id: str

    def __str__(self) -> str:
        return f"{self.tag}: digest: {self.digest} size: {self.size}"


@dataclass(frozen=True)
class PushResult:
    """What `push` did: each tag pushed, and the reference `push -q` prints."""

    reference: str  # `127.0.0.1:5000/x:latest`; the repository alone with --all-tags
    tags: list[Pushed]


@dataclass
class _Sent:
    """Where one layer ended up in the registry: the manifest's descriptor."""

    digest: str
    size: int


class _Upload:
    """One tag's push: the client, its transfer record (shown to `observe` as it changes)
    and the scratch folder for blobs."""

    def __init__(
        self, store: Store, client: RegistryClient, ref: RemoteRef, log: TransferLog,
        observe: Observer | None,
    ) -> None:  # fmt: skip
        self.store, self.client, self.ref, self._log, self._observe = (
            store, client, ref, log, observe
        )  # fmt: skip
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.scratch = store.make_tmp_dir("push-")

    def update(self, digest: str | None = None, force: bool = False, **changes: Any) -> None:
        with self._lock:
            self._log.update(digest, force=force, **changes)
            if self._observe is not None:
                self._observe(self._log.transfer)

    def layer(self, layer: imagelib.Layer, key: str) -> _Sent:
        """Send one layer unless the registry has it, or can mount it; `key` names its blob
        in the record until its compressed digest is known."""
        known = self._known_blobs(layer.diff_id)
        for digest, repository in known:
            if repository == self.ref.path and (size := self.has(digest)) is not None:
                return self._done(key, digest, size, "Layer already exists")
        for digest, repository in known:
            if (
                repository != self.ref.path
                and (size := self._mount(digest, repository)) is not None
            ):
                return self._done(key, digest, size, f"Mounted from {repository}")
        self.update(key, status="Preparing", size=layer.size, done=0)
        blob = compress.compress_layer(
            layer, self.scratch / strip_digest(layer.diff_id), self._counter(key, layer.size)
        )
        key = self._named(key, blob.digest)
        if self.has(blob.digest) is not None:
            return self._done(key, blob.digest, blob.size, "Layer already exists")
        self.update(key, status="Pushing", size=blob.size, done=0)
        with open(blob.path, "rb") as data:
            self.upload(data, blob.digest, blob.size, self._counter(key, blob.size))
        os.unlink(blob.path)
        return self._done(key, blob.digest, blob.size, "Pushed")

    def _known_blobs(self, diff_id: str) -> list[tuple[str, str]]:
        """(digest, repository path) of the blobs the store knows in this registry."""
        prefix = self.ref.host + "/"
        return [
            (entry["Digest"], entry["SourceRepository"].removeprefix(prefix))
            for entry in distribution.blobs_for(self.store, diff_id)
            if str(entry.get("SourceRepository", "")).startswith(prefix)
            and str(entry.get("Digest", "")).startswith("sha256:")
        ]

    def _counter(self, key: str, size: int) -> Callable[[int], None]:
        def moved(done: int) -> None:
            if self.stop.is_set():
                raise Cancelled()
            self.update(key, done=min(done, size))

        return moved

    def _named(self, key: str, digest: str) -> str:
        """The layer's blob is `digest` from now on, in the record too (its key there)."""
        with self._lock:
            self._log.blob(key).digest = digest
        return digest

    def _done(self, key: str, digest: str, size: int, status: str) -> _Sent:
        self.update(self._named(key, digest), size=size, done=size, status=status)
        return _Sent(digest, size)

    def has(self, digest: str) -> int | None:
        """The blob's size if this repository has it (`HEAD`), else None."""
        response = self.client.request("HEAD", self.ref.path, f"blobs/{digest}", PUSH_ACTIONS)
        if response.status_code == 404:
            return None
        _expect(response, 200, "HEAD")
        return int(response.headers.get("Content-Length") or 0)

    def _mount(self, digest: str, repository: str) -> int | None:
        """Mount a blob another repository of the registry has: its size, or None when the
        registry would not (the upload it opened instead is cancelled)."""
        tail = f"blobs/uploads/?mount={digest}&from={repository}"
        response = self.client.request("POST", self.ref.path, tail, PUSH_ACTIONS)
        if response.status_code == 202:
            self.client.request("DELETE", self.ref.path, self._location(response), PUSH_ACTIONS)
            return None
        _expect(response, 201, "POST")
        return self.has(digest)

    def upload(
        self, data: Any, digest: str, size: int, moved: Callable[[int], None] | None = None
    ) -> None:
        """`POST` an upload, then `PUT` the whole blob (`data`: bytes, or a file read as it
        goes, `moved` told how far)."""
        response = self.client.request("POST", self.ref.path, "blobs/uploads/", PUSH_ACTIONS)
        _expect(response, 202, "POST")
        body = data if moved is None else _Reading(data, size, moved)
        response = self.client.request(
            "PUT", self.ref.path, self._location(response), PUSH_ACTIONS,
            params={"digest": digest}, data=body,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )  # fmt: skip
        _expect(response, 201, "PUT")

    def _location(self, response: requests.Response) -> str:
        location = response.headers.get("Location", "")
        return location if location.startswith("http") else self.client.base + location

    def close(self) -> None:
        """The push is over, however it ended: its scratch folder and record go."""
        self.stop.set()
        self.store.discard(self.scratch)
        self._log.close()


class _Reading:
    """A blob file as an upload's body: its length known, each read told to `moved`."""

    def __init__(self, data: Any, size: int, moved: Callable[[int], None]) -> None:
        self._data, self._size, self._moved, self._done = data, size, moved, 0

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        chunk: bytes = self._data.read(n)
        self._done += len(chunk)
        self._moved(self._done)
        return chunk


def _expect(response: requests.Response, status: int, method: str) -> None:
    """The registry answered `status`, or its error in Docker's words (the client's)."""
    if response.status_code != status:
        raise _registry_error(method, response)


def push(
    store: Store,
    text: str,
    all_tags: bool = False,
    say: Say = lambda line: None,
    observe: Observer | None = None,
) -> PushResult:
    """Docker's `push NAME[:TAG]` (`all_tags`: every local tag of NAME): `say` gets its plain
    lines as they come, `observe` each tag's transfer record as it changes. A registry's
    failure is a RegistryError in Docker's words; the store changes only for a tag pushed."""
    ref = parse_reference(text)
    tagged = ":" in text.rpartition("/")[2]
    if ref.digest:
        raise LayerlabError("cannot push a digest reference")
    if all_tags and tagged:
        raise LayerlabError("tag can't be used with --all-tags/-a")
    if not all_tags and not tagged:
        say("Using default tag: latest")
    say(f"The push refers to repository [{ref.repository}]")
    tags = _local_tags(store, ref, all_tags)
    pushed: list[Pushed] = []
    with RegistryClient(ref.host, store.root) as client:
        for tag, image_id in tags:
            image = imagelib.read_image(store, image_id)
            pushed.append(_push_tag(store, client, ref.with_tag(tag), image, observe))
            say(str(pushed[-1]))
    return PushResult(ref.repository if all_tags else ref.full_string, pushed)


def _local_tags(store: Store, ref: RemoteRef, all_tags: bool) -> list[tuple[str, str]]:
    """(tag, image id) to push: `ref`'s tag, or every tag of its repository; Docker's words
    when there is none."""
    mine = {
        split_ref(name)[1]: image_id
        for name, image_id in store.read_repositories().items()
        if split_ref(name)[0] == ref.familiar
    }
    if not mine:
        raise ClientError(f"An image does not exist locally with the tag: {ref.familiar}")
    if all_tags:
        return sorted(mine.items())
    if ref.tag not in mine:
        raise ClientError(f"tag does not exist: {ref.familiar_string}")
    return [(ref.tag, mine[ref.tag])]


def _push_tag(
    store: Store,
    client: RegistryClient,
    ref: RemoteRef,
    image: imagelib.Image,
    observe: Observer | None,
) -> Pushed:
    """Push `image` as `ref` (a tag): its layers, its config, its manifest."""
    layers = list(reversed({layer.diff_id: layer for layer in image.layers}.values()))
    blobs = [  # top first, as Docker lists them; the first five start at once
        Blob("layer", layer.diff_id, layer.size, diff_id=layer.diff_id, chain_id=layer.chain_id,
             media_type=mf.DOCKER_LAYER,
             status="Preparing" if i < MAX_CONCURRENT_UPLOADS else "Waiting")
        for i, layer in enumerate(layers)
    ]  # fmt: skip
    config = store.image_path(image.id).read_bytes()
    blobs.append(Blob("config", image.id, len(config), media_type=mf.DOCKER_CONFIG))
    transfer = Transfer(f"{os.getpid()}-push-{os.urandom(4).hex()}", "push", ref.familiar_string,
                        media_type=mf.DOCKER_MANIFEST, blobs=blobs)  # fmt: skip
    upload = _Upload(store, client, ref, TransferLog(store.root, transfer), observe)
    try:
        upload.update(force=True)
        sent = _send_layers(upload, layers)
        status = "Layer already exists"
        if upload.has(image.id) is None:
            upload.upload(config, image.id, len(config))
            status = "Pushed"
        upload.update(image.id, status=status, done=len(config))
        pushed = _put_manifest(upload, image, len(config), sent)
        upload.update(status=str(pushed), manifest_digest=pushed.digest, force=True)
    finally:
        upload.close()
    _record(store, ref, image, sent, pushed)
    return pushed


def _send_layers(upload: _Upload, layers: list[imagelib.Layer]) -> dict[str, _Sent]:
    """Every layer (each once), five at a time: where each went, by diff_id."""
    with ThreadPoolExecutor(MAX_CONCURRENT_UPLOADS, thread_name_prefix="push") as pool:
        jobs = {layer.diff_id: pool.submit(upload.layer, layer, layer.diff_id) for layer in layers}
        try:
            return {diff_id: job.result() for diff_id, job in jobs.items()}
        except BaseException:
            upload.stop.set()  # the others stop at their next read
            raise


def _put_manifest(
    upload: _Upload, image: imagelib.Image, config_size: int, sent: dict[str, _Sent]
) -> Pushed:
    """The schema 2 manifest, as Docker writes it (3-space indent), `PUT` under the tag."""
    body = {
        "schemaVersion": 2,
        "mediaType": mf.DOCKER_MANIFEST,
        "config": {"mediaType": mf.DOCKER_CONFIG, "size": config_size, "digest": image.id},
        "layers": [
            {
                "mediaType": mf.DOCKER_LAYER,
                "size": sent[layer.diff_id].size,
                "digest": sent[layer.diff_id].digest,
            }
            for layer in image.layers
        ],
    }
    raw = json.dumps(body, indent=3).encode()
    ref = upload.ref
    response = upload.client.request(
        "PUT", ref.path, f"manifests/{ref.tag}", PUSH_ACTIONS, data=raw,
        headers={"Content-Type": mf.DOCKER_MANIFEST},
    )  # fmt: skip
    _expect(response, 201, "PUT")
    return Pushed(ref.tag, mf.digest_of(raw), len(raw), image.id)


def _record(
    store: Store, ref: RemoteRef, image: imagelib.Image, sent: dict[str, _Sent], pushed: Pushed
) -> None:
    """What the store learned: each layer's blob is in this repository, and the image is
    `NAME@DIGEST` there (`RepoDigests`)."""
    with store.lock():
        for diff_id, blob in sent.items():
            distribution.record_blob(store, diff_id, blob.digest, ref.repository)
        distribution.record_repo_digest(store, f"{ref.familiar}@{pushed.digest}", image.id)
