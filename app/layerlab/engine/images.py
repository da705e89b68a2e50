"""Images: `commit`, `build`, `history`, `tag`, `rmi`, `save`/`load`, `import`/`export`.

`commit` turns a container's writable layer into a read-only layer of a new image
(storage/images.py keeps layers and configs); `build` is commits in a row
(build/builder.py); `rmi` untags and deletes as Docker does, parents with their
last child. A layer and the image that uses it are written under one store lock,
so a layer no image uses is a killed command's, which the next command removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from layerlab.engine.context import Context
from layerlab.engine.inside import shim_socket
from layerlab.errors import Conflict, LayerlabError, no_space
from layerlab.presentation.humanize import rfc3339_nano
from layerlab.report import ImageRemoval
from layerlab.runtime.runc import FREEZE_SOCKET
from layerlab.storage import distribution
from layerlab.storage import events as journal
from layerlab.storage import images as imagelib
from layerlab.storage.reference import normalize_ref, short_id, validate_reference

if TYPE_CHECKING:
    import socket

    from layerlab.build.builder import BuildHost, BuildOptions
    from layerlab.storage.containers import Container


@dataclass
class HistoryRow:
    image_id: str
    created: str
    created_by: str
    size: int
    comment: str


@dataclass(frozen=True)
class CommitOptions:
    """`commit`'s flags, and what `build`'s steps add: `run_config` is the new image's
    config as is (not the container's), `created_by` its history line, and
    `empty_layer_if_unchanged` turns an untouched writable layer into an `empty_layer`
    history entry instead of an empty layer - as Docker's builder commits its steps."""

    message: str = ""
    author: str = ""
    changes: list[str] | None = None
    pause: bool = True
    run_config: dict[str, Any] | None = None
    created_by: str | None = None
    empty_layer_if_unchanged: bool = False


# --- commit ------------------------------------------------------------------------------
def commit(ctx: Context, ref: str, repo_tag: str | None, opts: CommitOptions) -> str:
    """The writable layer becomes a read-only layer of a new image; the container keeps it."""
    cid = ctx.store.resolve_container(ref)
    container = ctx.settled(cid)
    if repo_tag is not None:
        validate_reference(repo_tag)
    parent = imagelib.read_image(ctx.store, container.data["Image"])
    config = _commit_config(parent, container, opts.changes or [])
    if opts.run_config is not None:
        config["config"] = json.loads(json.dumps(opts.run_config))
    created_by = container.command if opts.created_by is None else opts.created_by
    created = rfc3339_nano(time.time())
    upper = ctx.writable(container).upper
    empty = opts.empty_layer_if_unchanged and not os.listdir(upper)
    history: dict[str, Any] = {"created": created, "created_by": created_by}
    if opts.message:
        history["comment"] = opts.message
    if opts.author:
        history["author"] = opts.author
        config["author"] = opts.author
    config["created"] = created
    config["container"] = cid
    # One lock from the new layer to the image that uses it: a layer no image uses is
    # then an orphan of a killed commit, which the next command removes (fsck.heal).
    with _frozen_for_commit(ctx, cid, opts.pause), ctx.store.lock(), _whole_or_none(ctx):
        parent_chain = parent.layers[-1].chain_id if parent.layers else None
        if empty:
            history["empty_layer"] = True
        else:
            from layerlab.layerfs import layer_store  # tar machinery: commits only

            layer = layer_store.copy_into_layer(ctx.store, upper, parent_chain, created_by, created)
            config["rootfs"]["diff_ids"].append(layer.diff_id)
        config["history"].append(history)
        image_id = imagelib.write_image(ctx.store, config)
        imagelib.set_image_parent(ctx.store, image_id, parent.id)
        if repo_tag:
            imagelib.tag_image(ctx.store, image_id, repo_tag)
    journal.container(ctx.store.root, container.data, "commit", comment=opts.message,
                      imageID=image_id, imageRef=repo_tag or "")  # fmt: skip
    if repo_tag:
        journal.image(ctx.store.root, image_id, "tag", normalize_ref(repo_tag))
    return image_id


def _commit_config(
    parent: imagelib.Image, container: Container, changes: list[str]
) -> dict[str, Any]:
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


@contextlib.contextmanager
def _frozen_for_commit(ctx: Context, cid: str, pause: bool) -> Iterator[None]:
    """The container frozen (if `pause` and it runs) for the block, thawed after it.

    Its shim holds the freeze while our connection to it is open and thaws once that
    closes, however it closes: a commit killed by SIGKILL leaves nothing frozen. The
    shim ends only a freeze of its own (a paused container stays paused), and of
    commits of one container together, the last one out thaws it.
    """
    import socket

    hold = None
    if pause and ctx.settled(cid).running:
        hold = shim_socket(ctx, cid, FREEZE_SOCKET)
        answer = _answer(hold) if hold else "error its shim does not answer"
        if answer != "frozen":
            if hold:
                hold.close()
            hold = None
            if ctx.settled(cid).running:  # else it stopped meanwhile: its layer is still
                raise LayerlabError(
                    f"Cannot pause container {cid}: {answer.removeprefix('error ')}"
                )
    try:
        yield
    finally:
        if hold:
            with hold, contextlib.suppress(OSError):
                hold.shutdown(socket.SHUT_WR)
                _answer(hold)  # "thawed": the commit ends on a running container


def _answer(conn: socket.socket) -> str:
    """One line a shim says on `conn` ("" when it hung up)."""
    with conn.makefile("rb") as lines:
        return lines.readline().decode(errors="replace").strip()


@contextlib.contextmanager
def _whole_or_none(ctx: Context) -> Iterator[None]:
    """Under the store lock: a disk that fills up meanwhile leaves nothing half-made (a
    new layer no image uses goes at once, as the next command would remove it), and is
    told in one line, as Docker's daemon tells it."""
    try:
        yield
    except OSError as exc:
        if (full := no_space(exc, ctx.store.root)) is None:
            raise
        from layerlab.engine import fsck

        with contextlib.suppress(OSError):
            fsck.heal(ctx)
        raise full from None


# --- build -------------------------------------------------------------------------------
def build(host: BuildHost, context: Path, options: BuildOptions) -> str:
    """`docker build` with the legacy builder: each step run, modified, committed (build/)."""
    from layerlab.build.builder import Builder  # on use: the builder loads for builds only

    return Builder(host, context, options).run()


def build_from_stdin(host: BuildHost, data: bytes, options: BuildOptions) -> str:
    """`docker build -`: `data` is the context as a tar (plain or compressed), whose
    Dockerfile is `-f` (default Dockerfile) inside it; else it is the Dockerfile
    itself, with an empty context."""
    import dataclasses
    import io

    from layerlab.build.context import scoped_resolve
    from layerlab.errors import BuildError
    from layerlab.layerfs import layers

    context = host.store.make_tmp_dir("build-context-")
    try:
        if not layers.is_tar(data):
            options = dataclasses.replace(options, dockerfile=None, dockerfile_text=data)
            return build(host, context, options)
        try:
            layers.extract_layer_tar(io.BytesIO(data), context)
        except layers.UnsafeTarError as exc:
            raise BuildError(f"unable to prepare context: {exc}") from None
        name = options.dockerfile or "Dockerfile"
        try:
            text = (context / scoped_resolve(context, name)).read_bytes()
        except OSError:
            raise BuildError(f"Cannot locate specified Dockerfile: {name}") from None
        options = dataclasses.replace(options, dockerfile=None, dockerfile_text=text)
        return build(host, context, options)
    finally:
        host.store.discard(context)


# --- history, tag, rmi -------------------------------------------------------------------
def history(ctx: Context, ref: str) -> list[HistoryRow]:
    """An image's layers newest first, with the local image that stands for each."""
    image = ctx.image(ref)
    rows: list[HistoryRow] = []
    layer_iter = iter(image.layers)
    for entry in image.config.get("history") or []:
        layer = None if entry.get("empty_layer") else next(layer_iter, None)
        size = layer.size if layer is not None else 0
        rows.insert(
            0,
            HistoryRow(
                "<missing>",
                entry.get("created", ""),
                entry.get("created_by", ""),
                size,
                entry.get("comment", ""),
            ),
        )
    image_id: str | None = image.id
    for row in rows:
        if image_id is None:
            break
        row.image_id = image_id
        image_id = imagelib.image_parent(ctx.store, image_id)
    return rows


def tag(ctx: Context, source: str, target: str) -> None:
    validate_reference(target)
    image = ctx.image(source)
    with ctx.store.lock():
        imagelib.tag_image(ctx.store, image.id, target)
    journal.image(ctx.store.root, image.id, "tag", normalize_ref(target))


def rmi(ctx: Context, ref: str, force: bool = False) -> ImageRemoval:
    """Docker's rmi: untag while other tags remain, delete with the last reference.

    Returns what went: the references untagged, the images and layers deleted.
    """
    with ctx.store.lock():
        image = ctx.image(ref)
        short = short_id(image.id)
        tags = imagelib.tags_of(ctx.store, image.id)
        by_tag = normalize_ref(ref) in tags
        users = [c for c in ctx.containers(all=True) if c.data["Image"] == image.id]
        running = [c for c in users if c.running]
        if running and not by_tag:
            raise Conflict(
                f"conflict: unable to delete {short} (cannot be forced) - image is being "
                f"used by running container {running[0].short_id}"
            )
        removal = ImageRemoval(image.id)
        # Docker: `rmi -f TAG` of an image a running container uses only untags it.
        if by_tag and (len(tags) > 1 or (force and running)):
            _untag(ctx, normalize_ref(ref))
            removal.untagged.append(normalize_ref(ref))
            return removal
        if not by_tag and len(tags) > 1 and not force:
            raise Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is "
                "referenced in multiple repositories"
            )
        if users and not force:
            if by_tag:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{ref}" (must force) '
                    f"- container {users[0].short_id} is using its referenced image {short}"
                )
            raise Conflict(
                f"conflict: unable to delete {short} (must be forced) - image is being used "
                f"by stopped container {users[0].short_id}"
            )
        if imagelib.image_children(ctx.store, image.id):
            raise Conflict(
                f"conflict: unable to delete {short} (cannot be forced) - image has "
                "dependent child images"
            )
        for t in tags:
            _untag(ctx, t)
            removal.untagged.append(t)
        removal.untagged += distribution.forget_repo_digests(ctx.store, image.id)  # Docker's too
        # Forced with stopped users, Docker deletes the image too; its containers keep
        # their layers (`_delete_with_parents` leaves what a container stacks).
        _delete_with_parents(ctx, image.id, removal)
        return removal


def _untag(ctx: Context, tag: str) -> None:
    tags = ctx.store.read_repositories()
    image_id = tags.pop(tag, None)
    ctx.store.write_repositories(tags)
    journal.image(ctx.store.root, image_id or "", "untag")


def _delete_with_parents(ctx: Context, image_id: str, removal: ImageRemoval) -> None:
    """Delete an image, then each parent left untagged, childless and unused - as Docker."""
    store = ctx.store
    containers = ctx.containers(all=True)
    used = {c.data["Image"] for c in containers}
    stacked = {os.path.realpath(p) for c in containers for p in ctx.writable(c).lowers}
    current: str | None = image_id
    while current:
        parent = imagelib.image_parent(store, current)
        removal.deleted += imagelib.delete_image(store, current, keep=stacked)
        removal.deleted_images.append(current)
        journal.image(ctx.store.root, current, "delete")
        current = parent
        if (
            current is None
            or imagelib.tags_of(store, current)
            or imagelib.image_children(store, current)
            or current in used
        ):
            break


def image_family(ctx: Context, ref: str) -> set[str]:
    """The image `ref` names and every image built on it (`ps -f ancestor=`)."""
    root = ctx.image(ref).id
    family = {root}
    for image_id in ctx.store.image_ids():
        chain: list[str] = []
        current: str | None = image_id
        while current and current not in family:
            chain.append(current)
            current = imagelib.image_parent(ctx.store, current)
        if current in family:
            family.update(chain)
    return family


# --- save, load, import, export ----------------------------------------------------------
def save(ctx: Context, refs: list[str], out: BinaryIO) -> None:
    """Images with their metadata, as one tar Docker and OCI tools both read."""
    from layerlab.layerfs import archive  # tar and gzip machinery only for the commands using it

    archive.save(ctx.store, refs, out)
    for image_id in dict.fromkeys(ctx.image(ref).id for ref in refs):
        journal.image(ctx.store.root, image_id, "save")


def load(ctx: Context, src: BinaryIO | Path) -> list[str]:
    """Images from a `docker save` tarball or an OCI layout; every digest verified."""
    from layerlab.layerfs import archive

    lines = archive.load(ctx.store, src)
    for image_id in dict.fromkeys(ctx.find_image_id(line.split(": ")[-1]) for line in lines):
        journal.image(ctx.store.root, image_id or "", "load")
    return lines


def import_image(
    ctx: Context, src: BinaryIO, message: str, changes: list[str], repo_tag: str | None
) -> str:
    """One tar as a one-layer image (`docker import`); its config is made of `-c` changes."""
    from layerlab.build.instructions import apply_changes  # Dockerfile words: on use only
    from layerlab.layerfs import archive

    if repo_tag:
        validate_reference(repo_tag)  # Docker parses the name before the changes
    run_config: dict[str, Any] = {}
    apply_changes(run_config, changes)  # CMD then ENTRYPOINT keeps the CMD, as Docker
    image_id = archive.import_tar(
        ctx.store, src, message=message, run_config=run_config, repo_tag=repo_tag
    )
    journal.image(ctx.store.root, image_id, "import")
    return image_id


def export(ctx: Context, ref: str, out: BinaryIO) -> None:
    """The merged view as one tar, no metadata: what the container sees as `/`.

    A running container's union is already mounted; otherwise the writable
    layer is stacked read-only on the others for the length of the export.
    """
    from layerlab.layerfs import layer_writer  # the tar writer: only the commands writing tars

    container = ctx.container(ref)
    journal.container(ctx.store.root, container.data, "export")
    rw = ctx.writable(container)
    if rw.is_mounted():
        layer_writer.write_tar(rw.merged, out, names=True)
        return
    view = ctx.store.make_tmp_dir("export-")
    try:
        with rw.readonly_view(view) as root:
            layer_writer.write_tar(root, out, names=True)
    finally:
        ctx.store.discard(view)
