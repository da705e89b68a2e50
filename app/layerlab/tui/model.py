"""What the panels show, read through the engine in worker threads: no widget code here.

Everything is a snapshot (frozen dataclasses) so a worker can build it and
post it to the UI thread, which only renders. Reads only: the TUI never
writes the store.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import functools
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from layerlab import images as imagelib
from layerlab import layers as layerlib
from layerlab import unionfs
from layerlab.containers import Container
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.reference import short_id
from layerlab.store import read_json
from layerlab.unionfs import Change

MAX_DIFF_BYTES = 64 * 1024
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


@functools.lru_cache(maxsize=512)
def _layer_stats(diff: Path, beneath: tuple[Path, ...]) -> tuple[int, int]:
    """(entries, hidden bytes) of a read-only layer: content-addressed, so remembered."""
    return layerlib.dir_size(diff)[1], hidden_bytes(diff, beneath)


def hidden_bytes(layer: Path, beneath: tuple[Path, ...]) -> int:
    """Bytes of the copies right beneath that this layer's C and D entries hide (dive's waste).

    Each hidden copy counts once, against the layer that first hides it: a file
    changed in three layers wastes two copies, one per layer above the first.
    """
    if not beneath:
        return 0
    total = 0
    for change in unionfs.iter_changes(layer, beneath):
        if change.kind == "A":
            continue
        rel = change.path.lstrip("/")
        below = unionfs.provenance(beneath[0], beneath[1:], rel)
        if not below:
            continue
        lower, kind = below[0]
        if kind == "file":
            total += os.lstat(lower / rel).st_size
        elif kind in ("dir", "opaque") and (change.kind == "D" or change.opaque):
            total += layerlib.dir_size(lower / rel)[0]  # a whole directory deleted or masked
    return total


def _image_rows(image: imagelib.Image) -> list[LayerRow]:
    """The image's read-only layers, top first."""
    rows: list[LayerRow] = []
    for i, layer in enumerate(image.layers):
        beneath = tuple(lower.diff_path for lower in reversed(image.layers[:i]))
        files, hidden = _layer_stats(layer.diff_path, beneath)
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
    size, files = layerlib.dir_size(upper)
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
        bundle=read_json(bundle_path) if bundle_path.exists() else None,
    )


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


def layer_changes(row: LayerRow) -> list[Change]:
    """A layer's entries as A/C/D against the layers beneath it (dive's view of a layer)."""
    return unionfs.changes(row.path, row.beneath)


def union_changes(row: LayerRow) -> list[Change]:
    """The merged tree from this layer down (dive's aggregated view).

    The layer's own entries keep their A/C/D (its deletions stay in view, in
    red); what shows through from the layers beneath has kind " ".
    """
    stack = (row.path, *row.beneath)
    merged: dict[str, Change] = {}
    for depth in range(len(stack) - 1, -1, -1):  # bottom layer first, as overlay stacks them
        for change in unionfs.iter_changes(stack[depth], stack[depth + 1 :]):
            if change.kind == "D" or change.opaque:  # hides what is below, from here up
                inside = change.path + "/"
                for path in [p for p in merged if p == change.path or p.startswith(inside)]:
                    del merged[path]
            if change.kind != "D" or depth == 0:
                merged[change.path] = (
                    change if depth == 0 else dataclasses.replace(change, kind=" ")
                )
    return sorted(merged.values(), key=lambda c: c.path)


def _change(upper: Path, lowers: tuple[Path, ...], rel: str) -> Change | None:
    try:
        st = os.lstat(upper / rel)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if unionfs.is_whiteout(st):
        return Change("D", "/" + rel)
    opaque = stat.S_ISDIR(st.st_mode) and unionfs.is_opaque(upper / rel)
    below = unionfs.provenance(lowers[0], lowers[1:], rel) if lowers else []
    kind = "C" if below and below[0][1] != "whiteout" else "A"
    return Change(kind, "/" + rel, opaque)


def changes_at(
    upper: Path, lowers: tuple[Path, ...], rels: Iterable[str]
) -> dict[str, Change | None]:
    """Re-read only the paths that changed (and their parents): path -> change, None if gone.

    A directory that appeared is read whole: its files may predate the watch on it.
    """
    found: dict[str, Change | None] = {}
    for rel in sorted(rels):
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            if "/" + sub not in found:
                found["/" + sub] = _change(upper, lowers, sub)
        entry = found["/" + rel]
        if entry is not None and (upper / rel).is_dir() and not (upper / rel).is_symlink():
            below = [lower / rel for lower in lowers]
            for change in unionfs.iter_changes(upper / rel, below):
                path = "/" + rel + change.path
                found[path] = dataclasses.replace(change, path=path)
    return found


@dataclass(frozen=True)
class Provenance:
    """Where a merged-view path comes from, and how the top copy differs from the one below."""

    path: str
    entries: list[tuple[str, str]]  # (layer label, kind), top-down
    diff: list[str]  # unified diff lines, lower copy -> top copy, for a changed text file


def provenance_of(view: SubjectView, path: str) -> Provenance:
    """A whiteout also shows what it hides; a shadowing text file shows its content diff."""
    entries = unionfs.provenance(view.union[0], view.union[1:], path)
    if entries and entries[-1][1] == "whiteout":
        below = view.union[view.union.index(entries[-1][0]) + 1 :]
        if below:
            entries += unionfs.provenance(below[0], below[1:], path)
    diff: list[str] = []
    if len(entries) > 1 and entries[0][1] == entries[1][1] == "file":
        rel = path.lstrip("/")
        diff = text_diff(entries[1][0] / rel, entries[0][0] / rel)
    labels = [(view.labels.get(layer, str(layer)), kind) for layer, kind in entries]
    return Provenance(path, labels, diff)


def text_diff(old: Path, new: Path) -> list[str]:
    """The hunks of `diff -u` of two small text files; empty for binary or large ones."""
    texts: list[list[str]] = []
    for f in (old, new):
        if f.stat().st_size > MAX_DIFF_BYTES:
            return []
        try:
            texts.append(f.read_text().splitlines())
        except (UnicodeDecodeError, ValueError):
            return []
    below, on_top = texts
    return list(difflib.unified_diff(below, on_top, n=1, lineterm=""))[2:]  # no ---/+++ lines
