"""What the panels show, read through the engine in worker threads: no widget code here.

This is the TUI's one place that reads the engine (the store summary, a
subject's view, what a command touched); the layer analysis itself lives in
`layerlab.analysis`. Everything is a snapshot (frozen dataclasses) so a
worker can build it and post it to the UI thread, which only renders. Reads
only: the TUI never writes the store.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from layerlab import images as imagelib
from layerlab.analysis import GONE, hidden_bytes, layer_stats, tree_size
from layerlab.containers import Container
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.reference import short_id
from layerlab.store import read_json

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
class Subject:
    """What the panels follow: one container or one image, by full id."""

    kind: Literal["container", "image"]
    id: str


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer stack: the writable layer or a read-only one."""

    key: str  # "rw" for the writable layer, else the layer's chain id
    short_id: str
    created_by: str
    size: int
    files: int
    path: Path  # the layer's files on the host (`diff/`)
    beneath: tuple[Path, ...]  # the layers under it, top first: what its A/C/D is relative to
    meta: dict[str, Any]  # the layer's `json`
    hidden: int  # bytes of the layers beneath that this one hides: wasted, yet still shipped
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

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")


@dataclass(frozen=True)
class StoreSummary:
    """The store's containers and images, newest first, as `ps -a` and `images -a` see them."""

    containers: tuple[Container, ...]
    images: tuple[tuple[str, imagelib.Image], ...]  # (name:tag or <none>:<none>, image)

    def container(self, cid: str) -> Container | None:
        return next((c for c in self.containers if c.id == cid), None)

    def image(self, image_id: str) -> imagelib.Image | None:
        return next((i for _, i in self.images if i.id == image_id), None)

    def image_name(self, image_id: str) -> str:
        """Its first tag in name order (as the panels name it), else its short id."""
        tags = sorted(ref for ref, i in self.images if i.id == image_id and ref != "<none>:<none>")
        return tags[0] if tags else short_id(image_id)

    def names(self) -> list[str]:
        """Every name and short id a command may refer to: what the command bar completes."""
        found: list[str] = []
        for c in self.containers:
            found += [c.name, c.short_id]
        for ref, image in self.images:
            if ref != "<none>:<none>":
                found += [ref, ref.removesuffix(":latest")]
            found.append(short_id(image.id))
        return list(dict.fromkeys(found))


def summarize(engine: Engine) -> StoreSummary:
    return StoreSummary(tuple(engine.containers(all=True)), tuple(engine.images(all=True)))


def resolve(engine: Engine, ref: str) -> Subject | None:
    """A container first, then an image, as `inspect` resolves; never creates busybox."""
    try:
        return Subject("container", engine.store.resolve_container(ref))
    except LayerlabError:
        pass
    try:
        image_id = engine.store.find_image(ref)
    except LayerlabError:
        return None
    return Subject("image", image_id) if image_id else None


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


def touched(
    engine: Engine, ns: argparse.Namespace, before: StoreSummary, after: StoreSummary, output: str
) -> Subject | None:
    """The subject a command worked on: a container it made, the image it committed, the one named.

    None means the command touched nothing the panels could follow (`ps`).
    """
    old = {c.id for c in before.containers}
    made = [c for c in after.containers if c.id not in old]
    if made:
        return Subject("container", made[0].id)
    printed = output.strip().splitlines()
    if ns.cmd == "commit" and printed and printed[-1].startswith("sha256:"):
        return Subject("image", printed[-1])
    gone = [c for c in before.containers if after.container(c.id) is None]
    if gone:  # `rm`: the container and its writable layer went; its image is what remains
        return Subject("image", gone[0].data["Image"])
    for ref in command_refs(ns):
        subject = resolve(engine, ref)
        if subject is not None:
            return subject
    return None


def _image_rows(image: imagelib.Image) -> list[LayerRow]:
    """The image's read-only layers, top first."""
    rows: list[LayerRow] = []
    for i, layer in enumerate(image.layers):
        beneath = tuple(lower.diff_path for lower in reversed(image.layers[:i]))
        files, hidden = layer_stats(layer.diff_path, beneath)
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
                meta=read_json(layer.path / "json"),
                hidden=hidden,
            ),
        )
    return rows


def load(engine: Engine, subject: Subject) -> SubjectView:
    """Read the subject through the engine; raises NotFound once it is gone."""
    if subject.kind == "image":
        image = engine.image(subject.id)
        name = (imagelib.tags_of(engine.store, image.id) or [short_id(image.id)])[0]
        rows = _image_rows(image)
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
            inspect=engine.image_inspect(image),
            bundle=None,
        )
    container = engine.container(subject.id)
    image = engine.image(container.data["Image"])
    upper = Path(container.upper_dir)
    lowers = engine.lower_dirs(container)
    rows = _image_rows(image)
    size, files = tree_size(upper)
    writable = LayerRow(
        key="rw",
        short_id=container.short_id,
        created_by=str(upper),
        size=size,
        files=files,
        path=upper,
        beneath=tuple(lowers),
        meta=writable_meta(container, rows[0] if rows else None),
        hidden=hidden_bytes(upper, tuple(lowers)),
        writable=True,
    )
    labels = {row.path: f"layer {row.short_id}" for row in rows}
    labels[upper] = "the writable layer"
    labels[upper.parent / "init"] = "the init layer (mount points)"
    bundle_path = upper.parent / "bundle" / "config.json"
    return SubjectView(
        subject=subject,
        name=container.name,
        status=container.status,
        image_name=container.image_ref,
        pid=int(container.state.get("Pid") or 0) if container.running else 0,
        layers=(writable, *rows),
        union=(upper, *lowers),
        labels=labels,
        image_config=image.config,
        inspect=container.data,
        bundle=_read_optional(bundle_path),
    )


def _read_optional(path: Path) -> dict[str, Any] | None:
    """A JSON file that may not exist yet (the bundle before start), or no longer."""
    try:
        return read_json(path)
    except GONE:
        return None


def writable_meta(container: Container, top: LayerRow | None) -> dict[str, Any]:
    """A writable layer has no `json` until commit makes it a read-only layer: show its folders."""
    data = container.data["GraphDriver"]["Data"]
    return {
        "writable": True,
        "parent": top.meta.get("id") if top else None,
        "UpperDir": data["UpperDir"],
        "WorkDir": data["WorkDir"],
        "MergedDir": data["MergedDir"],
        "note": "no json on disk yet: commit turns this layer into a read-only layer with one",
    }
