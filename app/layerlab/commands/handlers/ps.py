"""`ps`: Docker's container listing, its cells (the TUI shows the same rows) and the
fields its `--format` templates read."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

from layerlab.commands.handlers.common import command, write_listing
from layerlab.commands.ports import ps_ports
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.presentation.humanize import ago, human_size
from layerlab.presentation.table import format_table
from layerlab.report import Report
from layerlab.storage.containers import Container
from layerlab.storage.reference import display_id


@command("ps")
def cmd_ps(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    last = 1 if ns.latest else ns.last
    containers = engine.containers(all=ns.all or last > 0 or bool(ns.filter))
    if ns.filter:
        from layerlab.presentation.filters import PS_KEYS, container_filter, parse_filters

        filters = parse_filters(ns.filter, PS_KEYS)
        keep = container_filter(
            filters, lambda ref: engine.image_family(ref), lambda ref: engine.container(ref).created
        )
        if "status" not in filters and not (ns.all or last > 0):
            containers = [c for c in containers if c.running]  # Docker: -a unless status=
        containers = [c for c in containers if keep(c)]
    if last > 0:
        containers = containers[:last]
    if ns.format and not ns.quiet:
        from layerlab.presentation import listing

        # Docker asks the daemon for sizes only for `.Size` or `{{json .}}` (not `json`).
        sizes = ns.size or ".Size" in ns.format or "{{json .}}" in ns.format
        contexts = ps_contexts(engine, containers, ns.no_trunc, sizes)
        return write_listing(io, lambda: listing.render_rows(
            ns.format, listing.PS_DEFAULT, contexts, listing.PS_TITLES,
            listing.CONTAINER_CONTEXT, listing.PS_ERRORS,
        ))  # fmt: skip
    if ns.quiet:
        for c in containers:
            print(c.id if ns.no_trunc else c.short_id, file=io.out)
        return Report()
    rows = ps_rows(containers, no_trunc=ns.no_trunc, find_image=engine.find_image_id)
    if ns.size:
        for c, row in zip(containers, rows, strict=True):
            row.append(_size_cell(engine, c))
    headers = [*PS_HEADERS, "SIZE"] if ns.size else PS_HEADERS
    io.out.write(format_table(headers, rows))
    return Report()


def _size_cell(engine: Engine, container: Container) -> str:
    """Docker's SIZE: the writable layer, and with the image's layers (`0B (virtual 1.98MB)`)."""
    try:
        rw, virtual = engine.container_sizes(container)
    except LayerlabError:  # removed while listed
        return ""
    return f"{human_size(rw, precision=3)} (virtual {human_size(virtual, precision=3)})"


PS_HEADERS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


def ps_rows(
    containers: Sequence[Container],
    no_trunc: bool = False,
    find_image: Callable[[str], str | None] | None = None,
) -> list[list[str]]:
    """Docker's `ps` cells; the TUI shows the same rows.

    `find_image` says which image a reference names now (None: none), to tell
    when a container's image reference no longer names its image.
    """
    rows = []
    for c in containers:
        cmd = ps_command(c)
        if not no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        rows.append(
            [
                c.id if no_trunc else c.short_id,
                ps_image(c, no_trunc, find_image),
                json.dumps(cmd, ensure_ascii=False),  # Go's strconv.Quote, as Docker prints it
                ago(c.created),
                c.status_text(),
                ps_ports(c),
                c.name,
            ]
        )
    return rows


def ps_command(c: Container) -> str:
    """The command as Docker's `ps` shows it: arguments with a space in single quotes."""
    args = [f"'{arg}'" if " " in arg else arg for arg in c.data["Args"]]
    return " ".join([c.data["Path"], *args])


def ps_image(
    c: Container, no_trunc: bool, find_image: Callable[[str], str | None] | None = None
) -> str:
    """Docker's IMAGE cell: the reference the container was made from while it still names
    its image (else the image id), shortened to 12 hex digits when it is an id."""
    image_id, ref = c.data["Image"], c.image_ref
    if find_image is not None and ref != image_id and find_image(ref) != image_id:
        ref = image_id  # untagged or retagged since: Docker shows the id
    if not no_trunc and display_id(image_id) == display_id(ref):
        return display_id(ref)
    return ref


def ps_contexts(
    engine: Engine, containers: Sequence[Container], no_trunc: bool, sizes: bool
) -> list[dict[str, object]]:
    """Docker's ContainerContext fields for `ps --format`, one dict per container."""
    from layerlab.presentation.listing import go_time
    from layerlab.storage.volumes import mounted

    contexts: list[dict[str, object]] = []
    for c, row in zip(containers, ps_rows(containers, no_trunc), strict=True):
        labels: dict[str, str] = c.data["Config"].get("Labels") or {}
        mounts: list[dict[str, str]] = c.data.get("Mounts") or []
        context: dict[str, object] = dict(zip(
            ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"], row,
            strict=True,
        ))  # fmt: skip
        context.update(
            CreatedAt=go_time(c.created),
            State=c.status,
            Labels=",".join(f"{k}={v}" for k, v in labels.items()),
            Label=lambda key, labels=labels: labels.get(key, ""),
            Mounts=",".join(m.get("Name") or m.get("Source", "") for m in mounts),
            Networks=",".join(sorted((c.data.get("NetworkSettings") or {}).get("Networks") or {})),
            LocalVolumes=str(len(mounted(c.data))),
            Platform=None,
        )
        context["Size"] = _size_cell(engine, c) if sizes else "0B"  # none asked: 0 bytes
        contexts.append(context)
    return contexts
