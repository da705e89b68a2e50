"""`pull docker-daemon:NAME[:TAG]`: an image copied from a Docker daemon into the store.

The daemon's `docker save` tar (`GET /images/NAME/get`) is streamed straight into `load`,
which verifies every digest before the store changes, so the image keeps its id and its
layers their diff_ids. Read-only on the daemon's side: it is only inspected and saved.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerlab.docker_daemon.connect import cannot_connect, daemon_host
from layerlab.errors import ClientError, LayerlabError
from layerlab.layerfs import archive
from layerlab.storage import images
from layerlab.storage.reference import normalize_ref, validate_reference
from layerlab.storage.store import Store

if TYPE_CHECKING:
    import docker

TRANSPORT = "docker-daemon:"
API_VERSION = "1.41"  # Docker 20.10's: named, so no round trip asks the daemon for it
_CHUNK = 1 << 20
AHEAD = 32  # chunks fetched ahead of the unpacking: at most 32 MB in memory


@dataclass(frozen=True)
class DaemonImage:
    """What the daemon says of the image: what the copy in the store must match."""

    reference: str  # NAME:TAG, as the store tags it
    id: str
    diff_ids: list[str]


def pull(store: Store, name: str, host: str | None = None) -> tuple[DaemonImage, bool]:
    """Copy `name` from the daemon at `host` into the store, tagged NAME:TAG: the image and
    whether the store already had it under that tag. A failure leaves the store as it was."""
    host = daemon_host(host)
    api = client(host)
    image = inspect(api, host, name)
    had = store.read_repositories().get(image.reference) == image.id
    with saved(api, host, image) as stream:
        archive.load(store, stream)
    copied = images.read_image(store, image.id)
    if [layer.diff_id for layer in copied.layers] != image.diff_ids:
        raise LayerlabError(f"image {image.id}: its layers are not the daemon's RootFS.Layers")
    with store.lock():
        if store.read_repositories().get(image.reference) != image.id:
            images.tag_image(store, image.id, image.reference)
    return image, had


def client(host: str) -> docker.APIClient:
    import docker  # the SDK (requests, urllib3): loaded by the commands that talk to Docker

    try:
        return docker.APIClient(base_url=host, version=API_VERSION)
    except docker.errors.DockerException as exc:  # a URL it cannot use
        raise LayerlabError(f"unable to parse docker host `{host}`: {exc}") from None


def inspect(api: docker.APIClient, host: str, name: str) -> DaemonImage:
    """The daemon's `image inspect` of `name`, in Docker's words when it is not there."""
    reference = normalize_ref(name.removeprefix(TRANSPORT))
    validate_reference(reference)
    with _talking(host):
        data: dict[str, Any] = api.inspect_image(reference)
    return DaemonImage(reference, data["Id"], list(data["RootFS"].get("Layers") or []))


def saved(api: docker.APIClient, host: str, image: DaemonImage) -> io.BufferedReader:
    """The daemon's `docker save` of the image, as a stream read as it arrives."""
    with _talking(host):
        chunks = api.get_image(image.reference, chunk_size=_CHUNK)
    return io.BufferedReader(_ChunkReader(chunks, host), _CHUNK)


class _ChunkReader(io.RawIOBase):
    """The SDK's chunks as a file `load` reads from. A thread of its own fetches them, up to
    AHEAD chunks ahead: the daemon writes its tar while `load` unpacks what has come."""

    def __init__(self, chunks: Iterator[bytes], host: str) -> None:
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(AHEAD)
        self._stop = threading.Event()
        self._left = b""
        self._ended = False
        threading.Thread(target=self._fetch, args=(chunks, host), daemon=True).start()

    def _fetch(self, chunks: Iterator[bytes], host: str) -> None:
        try:
            with _talking(host):
                for chunk in chunks:
                    if self._stop.is_set():
                        return
                    self._queue.put(chunk)
            self._queue.put(b"")
        except BaseException as exc:  # handed to the reader, which raises it
            self._queue.put(exc)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._left and not self._ended:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            self._left, self._ended = item, not item
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def close(self) -> None:
        """Stop the fetching (a load that failed half-way): a fetch waiting for room ends."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        super().close()


@contextlib.contextmanager
def _talking(host: str) -> Iterator[None]:
    """The SDK's failures as the docker CLI prints them (bare, no "Error:"): one line."""
    import docker
    import requests

    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ClientError(f"Error response from daemon: {_explained(exc)}") from None
    except requests.exceptions.ConnectionError:
        raise cannot_connect(host) from None
    except docker.errors.APIError as exc:
        raise ClientError(f"Error response from daemon: {_explained(exc)}") from None


def _explained(exc: docker.errors.APIError) -> str:
    """The daemon's own message, as the CLI shows it (`No such image: busybox:nope`)."""
    text = str(exc.explanation or exc)
    _, found, name = text.rpartition("No such image: ")
    return found + name if found else text
