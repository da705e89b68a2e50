"""What the panels show about one subject, read through their source in worker threads.

The store's listing is the engine's `Snapshot` and a subject its `Subject`
(`layerlab.storage.snapshot`); this module reads one subject's view (its layers, their
metadata, the writable layer, the OCI config) through the source's read API (the engine's,
or a Docker daemon's: `tui/source.py`), never the store's disk. The layer analysis itself
lives in `layerlab.layerfs.analysis`.
Everything is a frozen dataclass so a worker can build it and post it to the
UI thread, which only renders. Reads only: the TUI never writes the store.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab.layerfs.analysis import hidden_bytes, known_stats, layer_stats, reread
from layerlab.storage.reference import short_id
from layerlab.storage.snapshot import Snapshot, Subject

if TYPE_CHECKING:  # the panels' first frame imports this module; the engine comes after it
    from layerlab.engine import Mounted, WritableLayer
    from layerlab.network.view import NetworkView
    from layerlab.runtime.namespaces import Namespace
    from layerlab.storage.images import Image
    from layerlab.tui.source import Source

# Seconds a subject's read spends counting its layers' files; the layers left are shown as
# being counted, and counted after the subject is shown (`LayerStack`): a 60,000-file image
# opens at once. A layer counted once is known from then on (its content never changes).
STATS_BUDGET = 0.05
# Attributes of a parsed command that name a container or an image, most specific first.
REF_ATTRS = (
    "container",
    "containers",
    "names",
    "new_name",
    "image",
    "images",
    "repository",
    "source",
    "target",
)


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer stack: the writable layer or a read-only one."""

    key: str  # "rw" for the writable layer, else the layer's chain id
    short_id: str
    created_by: str
    size: int
    files: int | None  # None: not counted yet
    path: Path  # the layer's files on the host (`diff/`)
    beneath: tuple[Path, ...]  # the layers under it, top first: what its A/C/D is relative to
    meta: dict[str, Any]  # the layer's `json`
    hidden: int | None  # bytes of the layers beneath that this one hides: wasted, yet still
    # shipped (None: not counted yet)
    writable: bool = False


@dataclass(frozen=True)
class SubjectView:
    """Everything the panels show about the subject, read at one moment."""

    subject: Subject
    name: str  # container name, or the image's first tag (or short id)
    status: str  # a container's State.Status, or "image"
    image_name: str
    pid: int  # State.Pid while running, else 0
    layers: tuple[LayerRow, ...]  # top first
    union: tuple[Path, ...]  # every layer of the merged view, top first
    labels: dict[Path, str]  # layer folder -> how the panels name it
    image_config: dict[str, Any]
    inspect: dict[str, Any]
    bundle: dict[str, Any] | None  # the OCI runtime config.json, once started
    mounts: tuple[Mounted, ...] = ()  # volumes, binds, tmpfs: over the union, outside the layers
    namespaces: tuple[Namespace, ...] = ()  # a running container's, beside the host's
    network: NetworkView | None = None  # a running container's network, as drawn
    manifest: dict[str, Any] | None = None  # its image's, as a registry would have it

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")


def command_refs(ns: argparse.Namespace) -> list[str]:
    """The container and image names a parsed command mentions, most specific first."""
    refs: list[str] = []
    for attr in REF_ATTRS:
        value = getattr(ns, attr, None)
        if isinstance(value, str):
            refs.append(value)
        elif isinstance(value, list):
            refs += [v for v in value if isinstance(v, str)]
    return refs


def latest(snapshot: Snapshot | None, without: Subject | None = None) -> Subject | None:
    """The most recent subject listed: the newest container, else the newest image.

    What the panels follow at start-up and when their subject vanishes (`without`).
    """
    if snapshot is None:
        return None
    for c in snapshot.containers:  # newest first, as `ps -a`
        if without is None or c.id != without.id:
            return Subject("container", c.id)
    for _, image in snapshot.images:
        if without is None or image.id != without.id:
            return Subject("image", image.id)
    return None


def image_name(tags: list[str], image_id: str) -> str:
    """How the panels name an image: its first tag in name order, else its short id."""
    return sorted(tags)[0] if tags else short_id(image_id)


def _image_rows(source: Source, image: Image) -> list[LayerRow]:
    """The image's read-only layers, top first."""
    rows: list[LayerRow] = []
    counting_until = time.monotonic() + STATS_BUDGET
    for i, layer in enumerate(image.layers):
        beneath = tuple(lower.diff_path for lower in reversed(image.layers[:i]))
        stats = known_stats(layer.diff_path, beneath)
        if stats is None and time.monotonic() < counting_until:
            stats = layer_stats(layer.diff_path, beneath)
        files, hidden = stats or (None, None)
        rows.insert(
            0,
            LayerRow(
                key=layer.chain_id,
                short_id=short_id(layer.chain_id),
                created_by=layer.created_by,
                size=layer.size,
                files=files,
                path=layer.diff_path,
                beneath=beneath,
                meta=source.layer_meta(layer.chain_id),
                hidden=hidden,
            ),
        )
    return rows


def load(source: Source, subject: Subject) -> SubjectView:
    """Read the subject through its source; raises NotFound once it is gone."""
    from layerlab.engine import mounts_of  # loaded: the engine (or its daemon source) reads this

    if subject.kind == "image":
        image = source.image(subject.id)
        inspect = source.image_inspect(image)
        name = image_name(inspect["RepoTags"], image.id)
        rows = _image_rows(source, image)
        return SubjectView(
            subject=subject,
            name=name,
            status="image",
            image_name=name,
            pid=0,
            layers=tuple(rows),
            union=tuple(row.path for row in rows),
            labels={row.path: f"layer {row.short_id}" for row in rows},
            image_config=image.config,
            inspect=inspect,
            bundle=None,
            manifest=source.image_manifest(image),
        )
    container = source.container(subject.id)
    image = source.image(container.data["Image"])
    rw = source.writable_layer(container.id)
    rows = _image_rows(source, image)
    size, files = reread(rw.size, (0, 0))  # a running container may delete files meanwhile
    writable = LayerRow(
        key="rw",
        short_id=container.short_id,
        created_by=str(rw.upper),
        size=size,
        files=files,
        path=rw.upper,
        beneath=rw.lowers,
        meta=writable_meta(rw, rows[0] if rows else None),
        hidden=hidden_bytes(rw.upper, rw.lowers),
        writable=True,
    )
    labels = {row.path: f"layer {row.short_id}" for row in rows}
    labels[rw.upper] = "the writable layer"
    labels[rw.init] = "the init layer (mount points)"
    return SubjectView(
        subject=subject,
        name=container.name,
        status=container.status,
        image_name=container.image_ref,
        pid=int(container.state.get("Pid") or 0) if container.running else 0,
        layers=(writable, *rows),
        union=(rw.upper, *rw.lowers),
        labels=labels,
        image_config=image.config,
        inspect=source.inspect(container.id, kind="container"),  # with its NetworkSettings
        bundle=source.bundle_spec(container.id),
        mounts=mounts_of(container.data),
        namespaces=source.namespaces(container.id),
        network=source.network_view(container.id),
        manifest=source.image_manifest(image),
    )


def writable_meta(rw: WritableLayer, top: LayerRow | None) -> dict[str, Any]:
    """A writable layer has no `json` until commit makes it a read-only layer: show its folders."""
    return {
        "writable": True,
        "parent": top.meta.get("id") if top else None,
        "UpperDir": str(rw.upper),
        "WorkDir": str(rw.work),
        "MergedDir": str(rw.merged),
        "note": "no json on disk yet: commit turns this layer into a read-only layer with one",
    }
