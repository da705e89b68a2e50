"""A Docker daemon read as the TUI reads layerlab's store: its images and their layers, its
containers and their writable layers, its `inspect` JSON, its events. Reads only.

The daemon's records are Docker's own `inspect` JSON, which is the shape layerlab's store
keeps too: a container is a `Container` around it, an image an `Image` whose layers are the
overlay2 folders the daemon reports (`GraphDriver.Data`: `UpperDir` the top layer, `LowerDir`
the rest, top first), each matched to its diff_id in `RootFS.Layers`. Where those folders are
not there to read (another storage driver, the containerd image store), each image's layers
come from `docker save`, unpacked into a temporary folder (`saved.py`), and `why_saved` says why.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab.docker_daemon.connect import api_client, cannot_connect, daemon_host, docker_cli
from layerlab.docker_daemon.events import EventsWatch
from layerlab.docker_daemon.saved import SavedLayers
from layerlab.errors import ClientError, NotFound
from layerlab.layerfs.unionfs import WritableLayer
from layerlab.storage.containers import Container
from layerlab.storage.images import Image, Layer, layer_meta
from layerlab.storage.reference import chain_id
from layerlab.storage.snapshot import NONE_REF, Snapshot

if TYPE_CHECKING:
    import docker

    from layerlab.network.view import NetworkView

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


class DaemonReader:
    """The daemon at `host` (None: DOCKER_HOST, else Docker's socket), read through the SDK.

    Raises ClientError with the docker CLI's line when the daemon does not answer.
    """

    def __init__(self, host: str | None = None) -> None:
        self.host = daemon_host(host)
        self.api: docker.APIClient = api_client(self.host)
        self.cli = docker_cli(self.host)  # what the faces run commands with; None: read-only
        with self._answers():
            info = self.api.info()
        self.driver = str(info.get("Driver") or "")
        self.why_saved = saved_reason(self.driver, info.get("DriverStatus") or [])
        self._scratch = Path(tempfile.mkdtemp(prefix="layerlab-docker-"))
        self.saved = SavedLayers(self.api, self._scratch / "saved")
        self._metas: dict[str, dict[str, Any]] = {}  # chain id -> the layer's json, as read
        self._lock = threading.Lock()

    def names(self) -> tuple[str, str]:
        """How the faces name what they show: the daemon, and where the layers' files come
        from when not from the daemon's own folders ("" when they do)."""
        saved = f" · from docker save: {self.why_saved}" if self.why_saved else ""
        return f"Docker daemon at {self.host} (read-only)", saved

    def close(self) -> None:
        """Remove the layers unpacked from `docker save`, and let the connection go."""
        shutil.rmtree(self._scratch, ignore_errors=True)
        self.api.close()

    @contextmanager
    def _answers(self, missing: str | None = None) -> Iterator[None]:
        """The SDK's failures in layerlab's words: NotFound (`No such ...`), or the daemon gone."""
        import docker
        import requests

        try:
            yield
        except docker.errors.NotFound as exc:
            raise NotFound(missing or str(exc.explanation or exc)) from exc
        except docker.errors.APIError as exc:
            raise ClientError(f"Error response from daemon: {exc.explanation or exc}") from exc
        except (requests.RequestException, OSError) as exc:
            raise cannot_connect(self.host) from exc

    # --- the listing --------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Every container (`ps -a`) and image row (`images -a`), newest first; whatever is
        removed during the read is left out."""
        with self._answers():
            summaries = self.api.containers(all=True)
            rows = self.api.images(all=True)
        containers = [c for s in summaries if (c := self._maybe(self.container, s["Id"]))]
        containers.sort(key=lambda c: c.created, reverse=True)
        images: list[tuple[str, Image]] = []
        for row in sorted(rows, key=lambda r: int(r.get("Created") or 0), reverse=True):
            image = self._maybe(self._read_image, row["Id"], False)
            if image is not None:
                tags = [t for t in row.get("RepoTags") or [] if t != NONE_REF]
                images += [(tag, image) for tag in sorted(tags) or [NONE_REF]]
        return Snapshot(tuple(containers), tuple(images))

    @staticmethod
    def _maybe(read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except NotFound:
            return None

    def watch_store(self, on_change: Callable[[], None]) -> EventsWatch:
        """A watch (not started) on `docker events`, calling `on_change` on each event."""
        return EventsWatch(self.host, on_change)

    # --- one container ------------------------------------------------------------------
    def container(self, ref: str) -> Container:
        with self._answers(f"No such container: {ref}"):
            return Container(self.api.inspect_container(ref))

    def writable_layer(self, ref: str) -> WritableLayer:
        """The container's writable layer: its overlay2 folders; on another driver, an empty
        folder over the image's saved layers (the daemon's own is not there to read)."""
        container = self.container(ref)
        graph = container.data.get("GraphDriver") or {}
        if not self.why_saved and graph.get("Name") == "overlay2":
            return WritableLayer.from_graph_driver(graph["Data"])
        image = self.image(container.data["Image"])
        upper = self._scratch / "writable-layer-not-readable-here"
        upper.mkdir(exist_ok=True)
        lowers = tuple(layer.diff_path for layer in reversed(image.layers))
        return WritableLayer(upper, upper, upper, upper, lowers)

    def inspect(self, ref: str, size: bool = False, kind: str | None = None) -> dict[str, Any]:
        """The daemon's own `inspect` JSON: container first, as Docker looks."""
        if kind == "container":
            return self.container(ref).data
        found = self._maybe(self.container, ref) if kind is None else None
        return found.data if found is not None else self.image_inspect_ref(ref)

    def bundle_spec(self, ref: str) -> dict[str, Any] | None:
        """The runtime's config.json is the daemon's, in its own folders: not read."""
        return None

    def network_view(self, ref: str) -> NetworkView | None:
        """The daemon's networks are its own: not drawn."""
        return None

    # --- one image ----------------------------------------------------------------------
    def image_inspect_ref(self, ref: str) -> dict[str, Any]:
        with self._answers(f"No such image: {ref}"):
            found: dict[str, Any] = self.api.inspect_image(ref)
        return found

    def image_inspect(self, image: Image) -> dict[str, Any]:
        return self.image_inspect_ref(image.id)

    def image(self, ref: str) -> Image:
        """The image with its layers' files on disk (unpacked from `docker save` if need be)
        and its history."""
        return self._read_image(ref, True)

    def layer_meta(self, chain: str) -> dict[str, Any]:
        """A layer's json as layerlab keeps one (id, parent, diff_id, created_by, size),
        with the daemon's folder; from the last read of an image that has it."""
        with self._lock:
            meta = self._metas.get(chain)
        if meta is None:
            raise NotFound(f"No such layer: {chain}")
        return meta

    def _read_image(self, ref: str, full: bool) -> Image:
        """`full`: with its history and saved layers unpacked; else the listing's cheap read."""
        attrs = self.image_inspect_ref(ref)
        diff_ids: list[str] = list((attrs.get("RootFS") or {}).get("Layers") or [])
        steps = self._history(attrs["Id"], len(diff_ids)) if full else []
        folders = None if self.why_saved else overlay_folders(attrs, len(diff_ids))
        saved = ""  # why its layers are the saved ones, if they are
        if folders is None:
            saved = self.why_saved or "its overlay2 folders do not match its layers"
            folders = self.saved.folders(attrs["Id"], diff_ids, unpack=full)
        layers: list[Layer] = []
        parent: str | None = None
        for i, (diff_id, folder) in enumerate(zip(diff_ids, folders, strict=True)):
            step = steps[i] if i < len(steps) else {}
            chain = chain_id(parent, diff_id)
            made = (step.get("created", ""), step.get("created_by", ""), step.get("size", 0))
            layers.append(Layer(chain, diff_id, parent, *made, folder))
            parent = chain
        if full:
            self._remember(layers, saved)
        return Image(attrs["Id"], image_config(attrs, steps), layers)

    def _history(self, image_id: str, count: int) -> list[dict[str, Any]]:
        """The image's steps that made its `count` layers, oldest first (its config's history);
        [] when they cannot be told from the steps that only set metadata."""
        with self._answers(f"No such image: {image_id}"):
            rows = self.api.history(image_id)
        steps: list[dict[str, Any]] = [
            {
                "created_by": str(row.get("CreatedBy") or ""),
                "size": int(row.get("Size") or 0),
                "created": time.strftime(RFC3339, time.gmtime(row.get("Created") or 0)),
            }
            for row in reversed(rows)
        ]
        if len(steps) != count:  # some steps set only metadata: `#(nop)`, with nothing written
            steps = [s for s in steps if s["size"] or "#(nop)" not in s["created_by"]]
        return steps if len(steps) == count else []

    def _remember(self, layers: list[Layer], saved: str) -> None:
        """Each layer's json, for `layer_meta`; `saved`: why its files are docker save's."""
        with self._lock:
            for layer in layers:
                meta = layer_meta(layer.chain_id, layer.parent, layer.diff_id, layer.created,
                                  layer.created_by, layer.size)  # fmt: skip
                meta["folder"] = str(layer.diff_path)
                if saved:
                    meta["note"] = f"unpacked from docker save: {saved}"
                self._metas[layer.chain_id] = meta


def saved_reason(driver: str, status: list[list[str]]) -> str | None:
    """Why the daemon's layer folders cannot be read (None: they can: overlay2's)."""
    if any(pair[:1] == ["driver-type"] and "containerd" in pair[-1] for pair in status):
        return f"the daemon keeps images in the containerd image store ({driver})"
    if driver != "overlay2":
        return f"the daemon's storage driver is {driver or 'unknown'}, not overlay2"
    return None


def overlay_folders(attrs: dict[str, Any], count: int) -> list[Path] | None:
    """The image's layer folders, bottom first (each holding `diff/`), from overlay2's
    `GraphDriver.Data`; None when they do not match its `count` layers."""
    graph = attrs.get("GraphDriver") or {}
    data = graph.get("Data") or {}
    if graph.get("Name") != "overlay2" or not data.get("UpperDir"):
        return None
    top_first = [data["UpperDir"], *str(data.get("LowerDir") or "").split(":")]
    diffs = [Path(p) for p in top_first if p]
    if len(diffs) != count or any(d.name != "diff" for d in diffs):
        return None
    return [d.parent for d in reversed(diffs)]


def image_config(attrs: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The image's config as its JSON blob holds it (what layerlab's store keeps), from the
    daemon's `inspect` and `history`."""
    return {
        "architecture": attrs.get("Architecture", ""),
        "os": attrs.get("Os", ""),
        "created": attrs.get("Created", ""),
        "config": attrs.get("Config") or {},
        "rootfs": {"type": "layers", "diff_ids": (attrs.get("RootFS") or {}).get("Layers") or []},
        "history": [{"created": s["created"], "created_by": s["created_by"]} for s in steps],
    }
