"""Images: images, history, tag, rmi, commit, and the archives (save, load, import,
export)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from layerlab.commands.handlers.common import (
    command,
    container_ids,
    image_ids,
    unique,
    write_listing,
)
from layerlab.commands.stdio import IO, _binary_output, no_stdin
from layerlab.engine import Engine
from layerlab.errors import LayerlabError, os_error
from layerlab.presentation.humanize import ago, human_size, parse_rfc3339
from layerlab.presentation.table import format_table
from layerlab.report import Report
from layerlab.storage.reference import display_id


@command("save")
def cmd_save(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    with _binary_output(ns.output, io) as out:
        engine.save(ns.images, out)
    return Report(images=unique(i for ref in ns.images for i in image_ids(engine, ref)))


@command("load")
def cmd_load(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    if ns.input:
        lines = engine.load(Path(ns.input))
    elif io.stdin is None:
        raise no_stdin("load", "an archive", "give one with -i FILE")
    elif io.stdin.isatty():
        raise LayerlabError("requested load from stdin, but stdin is empty")
    else:
        lines = engine.load(io.stdin)
    for line in lines:  # Docker prints them with -q too (it hides only the progress)
        print(line, file=io.out)
    return Report(images=_loaded_ids(engine, lines))


def _loaded_ids(engine: Engine, lines: list[str]) -> list[str]:
    """The images `load` reported: `Engine.load` returns Docker's lines, so each is resolved."""
    found: list[str] = []
    for line in lines:
        if line.startswith("Loaded image ID: "):
            found.append(line.removeprefix("Loaded image ID: "))
        elif line.startswith("Loaded image: "):
            found += image_ids(engine, line.removeprefix("Loaded image: "))
    return unique(found)


@command("import")
def cmd_import(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    if ns.file == "-":
        if io.stdin is None:
            raise no_stdin("import -", "the tar archive", "give a file instead")
        image_id = engine.import_image(
            io.stdin, message=ns.message, changes=ns.change, repo_tag=ns.repository
        )
    else:
        try:
            with open(ns.file, "rb") as f:
                image_id = engine.import_image(
                    f, message=ns.message, changes=ns.change, repo_tag=ns.repository
                )
        except IsADirectoryError:  # Go opens a folder, then fails to read it
            raise LayerlabError(f"read {ns.file}: is a directory") from None
        except OSError as exc:
            if exc.filename != ns.file:
                raise
            raise os_error(exc) from None
    print(image_id, file=io.out)
    return Report(images=[image_id], created_images=[image_id])


@command("export")
def cmd_export(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    with _binary_output(ns.output, io, "failed to export container") as out:
        engine.export(ns.container, out)
    return Report(containers=container_ids(engine, ns.container))


@command("commit")
def cmd_commit(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    ids = container_ids(engine, ns.container)
    image_id = engine.commit(
        ns.container,
        ns.repository,
        message=ns.message,
        author=ns.author,
        changes=ns.change,
        pause=ns.pause,
    )
    print(image_id, file=io.out)
    return Report(containers=ids, images=[image_id], created_images=[image_id])


@command("images")
def cmd_images(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    rows = engine.images(all=ns.all)
    if ns.reference or ns.filter:
        from layerlab.presentation.filters import image_filter

        rows = image_filter(
            rows, lambda ref: engine.image(ref).created, ns.reference, ns.filter, all=ns.all
        )
    if ns.format or ns.digests:
        from layerlab.presentation import listing

        if ns.quiet:  # Docker: -q wins over --format
            ns.format = "{{.ID}}"
        default = listing.IMAGES_DIGESTS if ns.digests else listing.IMAGES_DEFAULT
        contexts = image_contexts(rows, ns.no_trunc, engine.repo_digests)
        return write_listing(io, lambda: listing.render_rows(
            ns.format, default, contexts, listing.IMAGES_TITLES, listing.IMAGE_CONTEXT
        ))  # fmt: skip
    if ns.quiet:  # one line per row, as Docker (an image with two tags: twice)
        for _, image in rows:
            print(display_id(image.id, ns.no_trunc), file=io.out)
        return Report()
    table = []
    for ref, image in rows:
        repo, _, tag = ref.rpartition(":")
        table.append(
            [repo, tag, display_id(image.id, ns.no_trunc), ago(image.created),
             human_size(image.size, precision=3)]
        )  # fmt: skip
    io.out.write(format_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], table))
    return Report()


def image_contexts(
    rows: Sequence[tuple[str, Any]], no_trunc: bool,
    repo_digests: Callable[[str], list[str]] = lambda image_id: [],
) -> list[dict[str, object]]:  # fmt: skip
    """Docker's ImageContext fields for `images --format`; `Digest` is the manifest digest
    the row's repository served the image under (`repo_digests`: the image's RepoDigests)."""
    from layerlab.presentation.listing import go_time

    contexts: list[dict[str, object]] = []
    for ref, image in rows:
        repo, _, tag = ref.rpartition(":")
        digests = [d.partition("@") for d in repo_digests(image.id)]
        digest = next((d for name, _, d in digests if name == repo), "<none>")
        contexts.append({
            "ID": display_id(image.id, no_trunc), "Repository": repo, "Tag": tag,
            "Digest": digest, "CreatedSince": ago(image.created),
            "CreatedAt": go_time(image.created), "Size": human_size(image.size, precision=3),
            "Containers": "N/A", "VirtualSize": human_size(image.size), "SharedSize": "N/A",
            "UniqueSize": "N/A",
        })  # fmt: skip
    return contexts


@command("history")
def cmd_history(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    rows = engine.history(ns.image)
    report = Report(images=image_ids(engine, ns.image))
    if (ns.format or not ns.human) and not ns.quiet:
        from layerlab.presentation import listing

        contexts: list[dict[str, object]] = []
        for row in rows:
            created_by = row.created_by
            if not ns.no_trunc and len(created_by) > 45:
                created_by = created_by[:44] + "…"
            stamp = parse_rfc3339(row.created) if row.created else 0.0
            created_at = listing.local_rfc3339(stamp) if row.created else "N/A"
            since = ago(stamp) if row.created else "N/A"
            image_id = row.image_id
            if image_id != "<missing>":
                image_id = display_id(image_id, ns.no_trunc)
            contexts.append({
                "ID": image_id, "CreatedAt": created_at, "CreatedBy": created_by,
                "CreatedSince": since if ns.human else created_at,
                "Size": human_size(row.size, precision=3) if ns.human else str(row.size),
                "Comment": row.comment,
            })  # fmt: skip
        default = listing.HISTORY_DEFAULT if ns.human else listing.HISTORY_RAW
        formatted = write_listing(io, lambda: listing.render_rows(
            ns.format, default, contexts, listing.HISTORY_TITLES, listing.HISTORY_CONTEXT
        ))  # fmt: skip
        report.code = formatted.code
        return report
    if ns.quiet:
        for row in rows:
            print(display_id(row.image_id, ns.no_trunc), file=io.out)
        return report
    table = []
    for row in rows:
        created_by = row.created_by
        if not ns.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        image_id = (
            row.image_id if row.image_id == "<missing>" else display_id(row.image_id, ns.no_trunc)
        )
        created = ago(parse_rfc3339(row.created)) if row.created else "N/A"
        size = human_size(row.size, precision=3)
        table.append([image_id, created, created_by, size, row.comment])
    io.out.write(format_table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], table))
    return report


@command("tag")
def cmd_tag(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    engine.tag(ns.source, ns.target)
    return Report(images=image_ids(engine, ns.target))


@command("rmi")
def cmd_rmi(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    report = Report()
    for ref in ns.images:
        try:
            removal = engine.rmi(ref, force=ns.force)
        except LayerlabError as exc:
            if len(ns.images) == 1:
                raise
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            report.errors.append(str(exc))
            continue
        for tag in removal.untagged:
            print(f"Untagged: {tag}", file=io.out)
        for deleted in removal.deleted:
            print(f"Deleted: {deleted}", file=io.out)
        report.images.append(removal.image)
        report.untagged += removal.untagged
        report.removed_images += removal.deleted_images
    return report
