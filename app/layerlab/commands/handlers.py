"""One function per command: each runs through the engine, prints what Docker prints,
and returns a `Report` of the ids it touched.

`dispatch(engine, ns, io)` runs a namespace from `grammar.parse`; an error for
the user is raised as a `LayerlabError` (the face prints it as one line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab.commands.grammar import COMMANDS, GROUP_COMMANDS, VOLUME_COMMANDS, UsageError
from layerlab.commands.ports import cmd_port, port_fields, ps_ports
from layerlab.commands.stdio import (
    IO,
    _attached,
    _binary_output,
    _require_terminal,
    _stdio,
    no_stdin,
)
from layerlab.engine import Engine, LogEntry
from layerlab.errors import Cancelled, Detached, ExecFailed, LayerlabError, NotFound, os_error
from layerlab.presentation.humanize import ago, human_size, parse_rfc3339
from layerlab.presentation.table import format_table
from layerlab.report import BuildStep, Report
from layerlab.runtime.detachkeys import DetachKeys
from layerlab.runtime.limits import LimitOptions
from layerlab.storage.containers import Container, CreateOptions
from layerlab.storage.reference import display_id

if TYPE_CHECKING:
    import socket

Handler = Callable[[Engine, argparse.Namespace, IO], Report]
HANDLERS: dict[str, Handler] = {}
GROUP_HANDLERS: dict[str, Handler] = {}  # `container prune`, `system df`, ...


def command(name: str) -> Callable[[Handler], Handler]:
    if name not in COMMANDS and name not in GROUP_COMMANDS:
        raise AssertionError(f"{name} is not in the grammar's COMMANDS")

    def register(fn: Handler) -> Handler:
        (HANDLERS if name in COMMANDS else GROUP_HANDLERS)[name] = fn
        return fn

    return register


command("port")(cmd_port)


# --- commands ------------------------------------------------------------------
def _create_options(ns: argparse.Namespace, attach: bool, streams: set[str]) -> CreateOptions:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    from layerlab.commands.runflags import labels, read_env_files

    return CreateOptions(
        command=command,
        name=ns.name,
        env=read_env_files(ns.env_file) + ns.env,
        workdir=ns.workdir,
        hostname=ns.hostname,
        entrypoint=ns.entrypoint,
        tty=ns.tty,
        interactive=ns.interactive,
        auto_remove=ns.rm,
        attach=attach,
        detach=getattr(ns, "detach", False),
        attach_streams=frozenset(streams),
        volumes=ns.volumes,
        mounts=ns.mounts,
        tmpfs=ns.tmpfs,
        user=ns.user,
        labels=labels(ns.label_file, ns.label),
        stop_signal=ns.stop_signal,
        read_only=ns.read_only,
        init=ns.init,
        limits=_limit_options(ns),
        cap_add=ns.cap_add,
        cap_drop=ns.cap_drop,
        privileged=ns.privileged,
        security_opt=ns.security_opt,
        ports=port_fields(ns),
        publish_all=ns.publish_all,
        network=ns.network,
    )


def _limit_options(ns: argparse.Namespace) -> LimitOptions:
    return LimitOptions(
        memory=ns.memory,
        memory_swap=ns.memory_swap,
        pids_limit=ns.pids_limit,
        cpus=ns.cpus,
        cpu_shares=ns.cpu_shares,
        ulimits=getattr(ns, "ulimit", []),
        log_opts=getattr(ns, "log_opts", []),
    )


@command("create")
def cmd_create(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands.runflags import attach_streams, check_cidfile, write_cidfile

    streams = attach_streams(ns.attach_streams, detach=False)
    check_cidfile(ns.cidfile)
    container = engine.create(ns.image, _create_options(ns, attach=False, streams=streams))
    write_cidfile(ns.cidfile, container.id)
    print(container.id, file=io.out)
    return Report(containers=[container.id], created_containers=[container.id])


@command("run")
def cmd_run(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands.runflags import attach_streams, check_cidfile, write_cidfile

    streams = attach_streams(ns.attach_streams, detach=ns.detach)
    attach = not ns.detach
    keys = DetachKeys.parse(ns.detach_keys)
    if attach and ns.tty and ns.interactive:
        _require_terminal(io)
    opts = _create_options(ns, attach=attach, streams=streams)
    check_cidfile(ns.cidfile)
    if not attach:
        container = engine.create(ns.image, opts)
        write_cidfile(ns.cidfile, container.id)
        engine.start(container.id)
        print(container.id, file=io.out)
        return Report(containers=[container.id], created_containers=[container.id])
    container = engine.create(ns.image, opts)
    write_cidfile(ns.cidfile, container.id)
    raw = ns.tty and ns.interactive
    report = _start_attached(engine, container, io, raw, streams, keys)
    report.created_containers.append(container.id)
    return report


@command("start")
def cmd_start(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    if ns.attach or ns.interactive:
        if len(ns.containers) > 1:
            raise LayerlabError("you cannot start and attach multiple containers at once")
        container = engine.container(ns.containers[0])
        cfg = container.data["Config"]
        raw = bool(cfg.get("Tty") and cfg.get("OpenStdin") and ns.interactive)
        keys = DetachKeys.parse(ns.detach_keys)
        if raw:
            _require_terminal(io)
        return _start_attached(engine, container, io, raw, keys=keys)
    failed: list[str] = []
    report = _each(ns.containers, io, lambda ref: _touched(engine.start(ref)), failed)
    if failed:  # Docker starts the others, then names the failed ones on a line of its own
        print(f"Error: failed to start containers: {', '.join(failed)}", file=io.err)
    return report


def _start_attached(
    engine: Engine,
    container: Container,
    io: IO,
    raw: bool,
    streams: set[str] | None = None,
    keys: DetachKeys | None = None,
) -> Report:
    """Start attached until the container exits; its exit code is the command's.

    `streams` (`run -a`): the ones attached; the others go to the log only. On a raw
    terminal (`-it`), `keys` typed there let it go: exit 0, the container runs on
    (Docker's Ctrl-P Ctrl-Q)."""
    sequence = keys.sequence if raw and keys is not None else None
    with _attached(engine, container.id, io, raw=raw), _stdio(io) as stdio:
        if streams:
            from layerlab.commands.runflags import only_streams

            stdio = only_streams(stdio, streams)
        try:
            code = engine.start_attached(
                container.id, stdio, cancel=io.cancel, detach_keys=sequence
            )
        except Detached:
            return Report(code=0, containers=[container.id])
    report = Report(code=code, containers=[container.id])
    if not _container_ids(engine, container.id):  # `--rm`: gone with its process
        report.removed_containers.append(container.id)
    return report


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
        return _listing(io, lambda: listing.render_rows(
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


@command("stop")
def cmd_stop(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return _each(ns.containers, io, lambda ref: _touched(engine.stop(ref, ns.time, ns.signal)))


@command("kill")
def cmd_kill(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return _each(ns.containers, io, lambda ref: _touched(engine.kill(ref, ns.signal)))


@command("pause")
def cmd_pause(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return _each(ns.containers, io, lambda ref: _touched(engine.pause(ref)))


@command("unpause")
def cmd_unpause(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return _each(ns.containers, io, lambda ref: _touched(engine.unpause(ref)))


@command("wait")
def cmd_wait(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    report = Report()
    for ref in ns.containers:
        ids = _container_ids(engine, ref)
        try:
            print(engine.wait(ref, cancel=io.cancel), file=io.out)
        except Cancelled:
            raise  # the face ended the wait: no more containers to wait for
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = exc.exit_code
            continue
        report.containers += ids
    return report


@command("rm")
def cmd_rm(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    def remove(ref: str) -> Report:
        container = engine.container(ref)  # before it goes: its id and its image
        try:
            engine.rm(container.id, force=ns.force, volumes=ns.volumes)
        except NotFound:  # a racing `rm` took it: named as the user named it
            raise NotFound(f"No such container: {ref}") from None
        return Report(images=[container.data["Image"]], removed_containers=[container.id])

    return _each(ns.containers, io, remove)


@command("exec")
def cmd_exec(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if ns.tty and ns.interactive and not ns.detach:  # Docker needs a terminal for -it only
        _require_terminal(io)
    ids = _container_ids(engine, ns.container)
    with _stdio(io) as stdio:
        try:
            code = engine.exec(
                ns.container,
                command,
                detach=ns.detach,
                interactive=ns.interactive,
                tty=ns.tty,
                env=ns.env,
                workdir=ns.workdir,
                stdio=stdio,
                user=ns.user,
            )
        except ExecFailed as exc:  # Docker prints it on stdout, and exits 126
            print(exc, file=io.out)
            return Report(code=exc.exit_code, containers=ids)
    return Report(code=code, containers=ids)


@command("logs")
def cmd_logs(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    ids = _container_ids(engine, ns.container)
    entries: Iterable[LogEntry] = engine.logs(ns.container, follow=ns.follow, cancel=io.cancel)
    if ns.tail != "all" or ns.since or ns.until:
        entries = _log_window(engine, ns, entries)
    for entry in entries:
        stream = io.err if entry.stream == "stderr" else io.out
        stream.write(f"{entry.time} {entry.text}" if ns.timestamps else entry.text)
        stream.flush()
    return Report(containers=ids)


def _log_window(
    engine: Engine, ns: argparse.Namespace, entries: Iterable[LogEntry]
) -> Iterator[LogEntry]:
    """`--tail N` (the last N lines, then any followed), `--since`/`--until` (Docker's times)."""
    from layerlab.presentation.filters import docker_time, entry_time

    since = docker_time(ns.since, "since") if ns.since else None
    until = docker_time(ns.until, "until") if ns.until else None
    try:  # Docker: a tail that is not a number, or a negative one, is "all"
        tail = int(ns.tail)
    except ValueError:
        tail = -1
    skip = 0
    if tail >= 0:
        present = list(engine.logs(ns.container))
        skip = max(0, len(present) - tail)
    for i, entry in enumerate(entries):
        if i < skip:
            continue
        stamp = entry_time(entry.time)
        if since is not None and stamp < since:
            continue
        if until is not None and stamp > until:
            if not ns.follow:
                break
            continue
        yield entry


@command("top")
def cmd_top(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    headers, rows = engine.top(ns.container, ns.ps_args)
    io.out.write(format_table(headers, rows))
    return Report(containers=_container_ids(engine, ns.container))


@command("rename")
def cmd_rename(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    try:
        return _touched(engine.rename(ns.container, ns.new_name))
    except LayerlabError as exc:  # docker/cli container/rename.go adds a second line
        exc.args = (f"{exc}\nError: failed to rename container named {ns.container}",)
        raise


@command("diff")
def cmd_diff(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    io.out.write("".join(f"{change}\n" for change in engine.diff(ns.container)))
    return Report(containers=_container_ids(engine, ns.container))


@command("save")
def cmd_save(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    with _binary_output(ns.output, io) as out:
        engine.save(ns.images, out)
    return Report(images=_unique(i for ref in ns.images for i in _image_ids(engine, ref)))


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
            found += _image_ids(engine, line.removeprefix("Loaded image: "))
    return _unique(found)


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
    return Report(containers=_container_ids(engine, ns.container))


@command("commit")
def cmd_commit(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    ids = _container_ids(engine, ns.container)
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

        rows = image_filter(engine, rows, ns.reference, ns.filter, all=ns.all)
    if ns.format or ns.digests:
        from layerlab.presentation import listing

        if ns.quiet:  # Docker: -q wins over --format
            ns.format = "{{.ID}}"
        default = listing.IMAGES_DIGESTS if ns.digests else listing.IMAGES_DEFAULT
        contexts = image_contexts(rows, ns.no_trunc)
        return _listing(io, lambda: listing.render_rows(
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


def image_contexts(rows: Sequence[tuple[str, Any]], no_trunc: bool) -> list[dict[str, object]]:
    """Docker's ImageContext fields for `images --format`."""
    from layerlab.presentation.listing import go_time

    contexts: list[dict[str, object]] = []
    for ref, image in rows:
        repo, _, tag = ref.rpartition(":")
        contexts.append({
            "ID": display_id(image.id, no_trunc), "Repository": repo, "Tag": tag,
            "Digest": "<none>", "CreatedSince": ago(image.created),
            "CreatedAt": go_time(image.created), "Size": human_size(image.size, precision=3),
            "Containers": "N/A", "VirtualSize": human_size(image.size), "SharedSize": "N/A",
            "UniqueSize": "N/A",
        })  # fmt: skip
    return contexts


@command("history")
def cmd_history(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    rows = engine.history(ns.image)
    report = Report(images=_image_ids(engine, ns.image))
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
        formatted = _listing(io, lambda: listing.render_rows(
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
    return Report(images=_image_ids(engine, ns.target))


@command("lesson")
def cmd_lesson(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Lessons run in stores of their own: `engine` (the learner's store) is never touched."""
    from layerlab.lessons.commands import main  # on use: CLI start-up stays lean

    return Report(code=main(ns, io, dispatch))


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


@command("inspect")
def cmd_inspect(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    found, report = [], Report()
    if ns.format is not None:
        from layerlab.presentation.gotemplate import TemplateError, check  # on use: -f only

        try:
            check(ns.format)  # Docker parses first: exit 64 whatever the names
        except TemplateError as exc:
            print(f"template parsing error: {exc}", file=io.err)
            return Report(code=exc.exit_code)
    if ns.type not in (None, "container", "image"):
        raise LayerlabError(
            f'unknown type: "{ns.type}": must be one of "container", "image"', exit_code=1
        )
    for ref in ns.names:
        try:
            item = _inspect_one(engine, ref, ns.type, ns.size, io)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        found.append(item)
        # A container's record has a State; an image's inspect has none.
        (report.containers if "State" in item else report.images).append(str(item["Id"]))
    if ns.format is not None:
        report.code = _inspect_formatted(io, ns.format, found) or report.code
    else:  # Docker prints `[]` even when nothing was found
        print(json.dumps(found, indent=4), file=io.out)
    return report


def _inspect_formatted(
    io: IO, fmt: str, found: list[dict[str, Any]], struct: str | None = None
) -> int:
    """`inspect -f` on each object found, as Docker's inspector: one that fails is reported
    (exit 1) and the others still print; with nothing printed, a lone newline."""
    from layerlab.presentation.gotemplate import TemplateError, render

    printed, code = False, 0
    for item in found:
        try:
            print(render(fmt, item, struct=struct), file=io.out)
            printed = True
        except TemplateError as exc:
            print(f"template parsing error: {exc}", file=io.err)
            code = exc.exit_code
    if code and not printed:
        print(file=io.out)
    return code


def _inspect_one(
    engine: Engine, ref: str, kind: str | None, size: bool, io: IO
) -> dict[str, object]:
    """One object for `inspect`: `--type` narrows the lookup, `-s` adds the sizes."""
    item = engine.inspect(ref, size=size, kind=kind)
    if size and "State" not in item:
        print("WARNING: --size ignored for image", file=io.err)
    return item


@command("build")
def cmd_build(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    text = stdin_context = None
    if ns.context == "-":  # Docker: a tar context, or a Dockerfile, on stdin
        if ns.file == "-":
            raise LayerlabError(
                "invalid argument: can't use stdin for both build context and dockerfile"
            )
        if io.stdin is None:
            raise no_stdin("build -", "the build context", "give a directory")
        stdin_context = io.stdin.read()
    elif ns.file == "-":
        if io.stdin is None:
            raise no_stdin("build -f -", "the Dockerfile", "give a file with -f PATH")
        text = io.stdin.read()

    from layerlab.build import BuildOptions  # on use: the builder loads for builds only

    before = set(engine.image_ids())  # to tell a new image from one the cache had whole
    steps: list[BuildStep] = []  # what each step did: the TUI explains the build from it
    with _stdio(io) as stdio:
        options = BuildOptions(
            tags=ns.tag,
            dockerfile=None if text is not None else ns.file,
            dockerfile_text=text,
            no_cache=ns.no_cache,
            build_args=ns.build_arg,
            quiet=ns.quiet,
            remove=ns.rm,
            force_remove=ns.force_rm,
            target=ns.target,
            out=io.out,
            err=io.err,
            run_output=stdio[1],
            steps=steps,
        )
        try:
            if stdin_context is not None:
                image_id = engine.build_from_stdin(stdin_context, options)
            else:
                image_id = engine.build(Path(ns.context), options)
        except LayerlabError as exc:  # Docker prints a failed build's message bare
            io.out.flush()
            print(exc, file=io.err)
            return Report(code=exc.exit_code, build_steps=steps)
    if ns.quiet:
        print(image_id, file=io.out)
    # All from the cache: the image was there already, and the build made nothing new.
    created = [] if image_id in before else [image_id]
    return Report(images=[image_id], created_images=created, build_steps=steps)


@command("cp")
def cmd_cp(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`cp SRC CONTAINER:DEST` into the writable layer, `cp CONTAINER:SRC DEST` out of the
    merged view; `-` is a tar on STDIN or STDOUT."""
    src_ref, src_path = _split_cp(ns.source)
    dest_ref, dest_path = _split_cp(ns.dest)
    if src_ref is not None and dest_ref is not None:
        raise LayerlabError("copying between containers is not supported", exit_code=1)
    if src_ref is None and dest_ref is None:
        raise LayerlabError("must specify at least one container source", exit_code=1)
    if dest_ref is not None:
        stdin = None
        if src_path == "-":
            if io.stdin is None:
                raise no_stdin("cp -", "a tar archive", "give a file or folder instead")
            stdin = io.stdin
        container = engine.copy_to(
            dest_ref, src_path, dest_path,
            archive=ns.archive, follow_link=ns.follow_link, stdin=stdin,
        )  # fmt: skip
        return Report(containers=[container.id])
    assert src_ref is not None
    if dest_path == "-":
        with _binary_output(None, io) as out:
            container = engine.copy_from(src_ref, src_path, "", follow_link=ns.follow_link,
                                         stdout=out)  # fmt: skip
    else:
        container = engine.copy_from(src_ref, src_path, dest_path, follow_link=ns.follow_link)
    return Report(containers=[container.id])


def _split_cp(arg: str) -> tuple[str | None, str]:
    """`CONTAINER:PATH` -> (container, path); a local path (`/x`, `./a:b`, `-`) -> (None, it)."""
    if arg.startswith((".", "/")) or ":" not in arg:
        return None, arg
    ref, _, path = arg.partition(":")
    return ref, path


@command("volume")
def cmd_volume(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`volume create|inspect|ls|prune|rm`: storage outside the layer stack."""
    action = VOLUME_HANDLERS.get(ns.volume_cmd or "")
    if action is None:  # a bare `volume`: Docker prints the group's usage, exit 0
        _volume_usage(io)
        return Report()
    return action(engine, ns, io)


def _volume_usage(io: IO) -> None:
    width = max(11, *map(len, VOLUME_COMMANDS))  # cobra pads command names to 11 at least
    lines = [f"  {name:<{width}} {text.split('.')[0]}" for name, text in VOLUME_COMMANDS.items()]
    print("Usage:  layerlab volume COMMAND\n\nManage volumes\n\nCommands:", file=io.out)
    print("\n".join(lines), file=io.out)
    print("\nRun 'layerlab volume COMMAND --help' for more information on a command.", file=io.out)


def _volume_create(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    if ns.name and ns.name_flag:
        raise UsageError(
            "conflicting options: cannot specify a volume-name through both --name and as a "
            "positional arg",
            1,
        )
    name = ns.name or ns.name_flag  # Docker still takes the old `--name NAME` (hidden)
    if ns.driver != "local":
        raise LayerlabError(
            f"create {name or ''}: error looking up volume plugin {ns.driver}: "
            f'plugin "{ns.driver}" not found',
            exit_code=1,
        )
    labels = {}
    for item in ns.label:
        key, _, value = item.partition("=")
        labels[key] = value
    volume = engine.volume_create(name, labels or None)
    print(volume.name, file=io.out)
    return Report(volumes=[volume.name], created_volumes=[volume.name])


def _volume_inspect(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Docker's `volume inspect`: a template is parsed first (exit 64), then run on each
    volume, a `volume.Volume` struct in Go (`can't evaluate field X`, exit 1)."""
    found, report = [], Report()
    if ns.format is not None:
        from layerlab.presentation.gotemplate import TemplateError, check  # on use, as `inspect -f`

        try:
            check(ns.format)
        except TemplateError as exc:
            print(f"template parsing error: {exc}", file=io.err)
            return Report(code=exc.exit_code)
    for name in ns.names:
        try:
            found.append(engine.volume(name).inspect())
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        report.volumes.append(name)
    if ns.format is not None:
        report.code = _inspect_formatted(io, ns.format, found, "volume.Volume") or report.code
    else:
        print(json.dumps(found, indent=4), file=io.out)
    return report


def _volume_ls(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`volume ls [-q] [-f KEY=VALUE] [--format T]`: a custom format wins over `-q`."""
    from layerlab.presentation import listing

    found = engine.volumes()
    if ns.filter:
        from layerlab.presentation.filters import volume_filter

        used = engine.volumes_in_use()
        found = volume_filter(ns.filter, found, lambda name: name in used)
    fmt = ns.format
    if ns.quiet and fmt in (None, "", "table"):
        fmt = "{{.Name}}"
    contexts = listing.volume_contexts(found)
    return _listing(io, lambda: listing.render_rows(
        fmt, listing.VOLUMES_DEFAULT, contexts, listing.VOLUMES_TITLES, listing.VOLUME_CONTEXT
    ))  # fmt: skip


def _volume_rm(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    report = Report()
    for name in ns.names:
        try:
            engine.volume_rm(name, force=ns.force)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        print(name, file=io.out)
        report.volumes.append(name)
        report.removed_volumes.append(name)
    return report


def _volume_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Docker 20.10's `volume prune [--filter label=K[=V]|label!=K[=V]]`: every unused one."""
    from layerlab.engine import prune
    from layerlab.storage.volumes import created_order

    may_go = prune.prune_filter(ns.filter, frozenset({"label", "label!"}))  # before the prompt
    warning = "WARNING! This will remove all local volumes not used by at least one container."
    if not _confirmed(io, warning, ns.force):
        return Report()
    deleted, reclaimed = engine.volume_prune(
        lambda volume: may_go(created_order(volume), volume.labels or {})
    )
    if deleted:
        print("Deleted Volumes:", file=io.out)
        for name in deleted:
            print(name, file=io.out)
        print(file=io.out)
    print(f"Total reclaimed space: {human_size(reclaimed)}", file=io.out)
    return Report(volumes=deleted, removed_volumes=deleted)


@command("network")
def cmd_network(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`network ...`: its verbs live in commands/network.py."""
    from layerlab.commands.network import run_network

    return run_network(engine, ns, io, _inspect_formatted, _confirmed)


VOLUME_HANDLERS: dict[str, Handler] = {
    "create": _volume_create,
    "inspect": _volume_inspect,
    "ls": _volume_ls,
    "list": _volume_ls,
    "prune": _volume_prune,
    "rm": _volume_rm,
    "remove": _volume_rm,
}


# --- restart, attach, version, info, help, groups, prune, df (issue 10) ------------
@command("restart")
def cmd_restart(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    def restart(ref: str) -> Report:
        if engine.container(ref).running:
            engine.stop(ref, ns.time, ns.signal)
        return _touched(engine.start(ref))

    return _each(ns.containers, io, restart)


@command("update")
def cmd_update(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`docker update`: prints each container as it was named, once its limits are set."""
    changes = _limit_options(ns)
    if all(v is None for v in (changes.memory, changes.memory_swap, changes.pids_limit,
                               changes.cpus, changes.cpu_shares)):  # fmt: skip
        raise UsageError("you must provide one or more flags when using this command", 1)

    def update(ref: str) -> Report:
        return _touched(engine.update(ref, changes))

    return _each(ns.containers, io, update)


def _watch(conn: socket.socket, io: IO, stop: threading.Event) -> None:
    """Copy a terminal's output to ours until it ends (the container exited) or `stop`."""
    io.out.flush()
    with conn:
        conn.settimeout(0.1)  # to see `stop` (the detach keys) soon
        while not stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            io.out.buffer.write(data)
            io.out.buffer.flush()


@command("attach")
def cmd_attach(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """The running container's output from now on, and our input into its stdin when it
    was started with `-i` (unless `--no-stdin`), until it exits; its exit code.

    As Docker: the end of our input leaves the container's stdin open; with a terminal
    (`-t`) the detach keys (Ctrl-P Ctrl-Q) end the attach and leave it running (exit 1)."""
    container = engine.container(ns.container)
    if not container.running:
        raise LayerlabError("You cannot attach to a stopped container, start it first", 1)
    if container.paused:
        raise LayerlabError("You cannot attach to a paused container, unpause it first", 1)
    from layerlab.commands.attach import copy_input

    tty = bool(container.data["Config"].get("Tty"))
    keys = DetachKeys.parse(ns.detach_keys) if tty else None
    wants_input = not ns.no_stdin and io.stdin is not None
    if wants_input and tty and container.data["Config"].get("OpenStdin"):
        _require_terminal(io)
    target = engine.attach_input(container.id) if wants_input else None
    stop = io.cancel or threading.Event()
    detached = threading.Event()

    def detach() -> None:
        detached.set()
        stop.set()

    # A terminal's output as it comes (a prompt, the echo of each key), from the shim; else
    # the log's lines from now on (the TUI's output pane takes lines).
    watch = engine.attach_output(container.id) if tty and io.interactive else None
    already = 0 if watch is not None else sum(1 for _ in engine.logs(container.id))
    raw = target is not None and tty
    with _attached(engine, container.id, io, raw=raw, sig_proxy=ns.sig_proxy):
        if target is not None and io.stdin is not None:
            copy_input(io.stdin, target, keys, on_detach=detach)
        if watch is not None:
            _watch(watch, io, stop)
        else:
            for i, entry in enumerate(engine.logs(container.id, follow=True, cancel=stop)):
                if i < already:
                    continue
                stream = io.err if entry.stream == "stderr" else io.out
                stream.write(entry.text)
                stream.flush()
    if detached.is_set():
        print("read escape sequence", file=io.err)
        return Report(code=1, containers=[container.id])
    return Report(code=engine.wait(container.id, cancel=io.cancel), containers=[container.id])


def _print_formatted(
    io: IO, fmt: str | None, data: object, text: Callable[[], str], struct: str, name: str = ""
) -> Report:
    """`version`/`info` `--format`: Docker words a parse error "template parsing error: ..."
    (exit 64) and prints an execution error bare (exit 1), `struct` the type it names."""
    if fmt is None:
        io.out.write(text())
        return Report()
    from layerlab.presentation.gotemplate import TemplateError, check, render

    try:
        check(fmt, name)
    except TemplateError as exc:
        print(f"template parsing error: {exc}", file=io.err)
        return Report(code=exc.exit_code)
    try:
        print(render(fmt, data, struct=struct, name=name), file=io.out)
    except TemplateError as exc:  # Docker prints what ran, a newline, then the error
        print(exc.partial, file=io.out)
        print(exc, file=io.err)
        return Report(code=exc.exit_code)
    return Report()


def _listing(io: IO, render: Callable[[], str]) -> Report:
    """Write a `--format`ted output; a template that fails is printed as Docker prints it,
    without our "Error:" (its words come with it: `listing.PS_ERRORS`, ...)."""
    from layerlab.presentation.gotemplate import TemplateError

    try:
        text = render()
    except TemplateError as exc:
        print(exc, file=io.err)
        return Report(code=exc.exit_code)
    io.out.write(text)
    return Report()


@command("version")
def cmd_version(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import sysinfo

    data = sysinfo.version(engine)
    text = lambda: sysinfo.version_text(data)  # noqa: E731
    return _print_formatted(io, ns.format, data, text, "system.versionInfo", "version")


@command("info")
def cmd_info(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import sysinfo

    data = sysinfo.info(engine)
    text = lambda: sysinfo.info_text(data)  # noqa: E731
    return _print_formatted(io, ns.format, data, text, "system.dockerInfo")


@command("help")
def cmd_help(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`help` is `--help`; `help ps` is `ps --help`."""
    from layerlab.commands.grammar import build_parser

    parser = build_parser()
    if ns.topic:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        name = " ".join(ns.topic)
        if name not in sub.choices:
            raise UsageError(f'layerlab help: unknown command "{name}"')
        parser = sub.choices[name]
    io.out.write(parser.format_help())
    return Report()


def _group_help(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """A bare `container`, `image` or `system`: its help, as Docker prints it."""
    from layerlab.commands.grammar import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    io.out.write(sub.choices[ns.cmd].format_help())
    return Report()


for _group in ("container", "image", "system"):
    command(_group)(_group_help)


def _confirmed(io: IO, warning: str, force: bool) -> bool:
    """Docker's prompt: `-f` skips it; anything but y/yes (EOF, no stdin) is No."""
    if force:
        return True
    io.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    io.out.flush()
    if io.stdin is None:
        return False
    answer = io.stdin.readline().decode(errors="replace").strip().lower()
    return answer in ("y", "yes")


def _pruned_report(io: IO, pruned: object) -> Report:
    from layerlab.engine.prune import Pruned

    assert isinstance(pruned, Pruned)
    if pruned.containers:
        io.out.write("Deleted Containers:\n" + "".join(f"{c}\n" for c in pruned.containers))
        io.out.write("\n")
    if pruned.untagged or pruned.deleted:
        io.out.write("Deleted Images:\n")
        io.out.write("".join(f"untagged: {t}\n" for t in pruned.untagged))
        io.out.write("".join(f"deleted: {d}\n" for d in pruned.deleted))
        io.out.write("\n")
    io.out.write(f"Total reclaimed space: {human_size(pruned.reclaimed)}\n")
    return Report(
        containers=list(pruned.containers),
        removed_containers=list(pruned.containers),
        removed_images=list(pruned.deleted_images),
        untagged=list(pruned.untagged),
    )


@command("container prune")
def cmd_container_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import prune

    prune.prune_filter(ns.filter)  # a bad filter is refused before the prompt
    if not _confirmed(io, prune.CONTAINERS_WARNING, ns.force):
        return Report()
    return _pruned_report(io, prune.prune_containers(engine, filters=ns.filter))


@command("image prune")
def cmd_image_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import prune

    prune.prune_filter(ns.filter)
    warning = prune.ALL_IMAGES_WARNING if ns.all else prune.DANGLING_WARNING
    if not _confirmed(io, warning, ns.force):
        return Report()
    return _pruned_report(io, prune.prune_images(engine, all=ns.all, filters=ns.filter))


@command("system prune")
def cmd_system_prune(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import prune

    prune.prune_filter(ns.filter)
    if not _confirmed(io, prune.system_warning(ns.all), ns.force):
        return Report()
    pruned = prune.prune_containers(engine, filters=ns.filter)
    pruned = prune.prune_images(engine, all=ns.all, result=pruned, filters=ns.filter)
    return _pruned_report(io, pruned)


@command("system df")
def cmd_system_df(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.engine import sysinfo
    from layerlab.presentation import listing

    usage = sysinfo.disk_usage(engine)
    if ns.verbose and not ns.format:
        io.out.write(sysinfo.df_verbose_text(usage))
        return Report()
    rows = sysinfo.df_rows(usage)
    context = "*formatter.diskUsageImagesContext"
    return _listing(io, lambda: listing.render_rows(
        ns.format, sysinfo.DF_DEFAULT, rows, sysinfo.DF_TITLES, context
    ))  # fmt: skip


@command("system check")
def cmd_system_check(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """One line per problem (file: reason); exit 1 while any is left unrepaired."""
    from layerlab.engine import fsck

    problems = fsck.check(engine, repair=ns.repair)
    for problem in problems:
        print(problem.line(), file=io.out)
    left = [p for p in problems if not p.repaired]
    if not problems:
        print("the store is consistent", file=io.out)
    return Report(code=1 if left else 0)


# --- helpers -------------------------------------------------------------------
def _each(
    refs: Sequence[str],
    io: IO,
    action: Callable[[str], Report],
    failed: list[str] | None = None,
) -> Report:
    """Docker's multi-container commands: echo each name done, one error line per failure.

    A lone failing name is the command's error, unless `failed` collects the failed names
    (`start` sums them up after, even for one)."""
    report = Report()
    for ref in refs:
        try:
            done = action(ref)
            print(ref, file=io.out)
        except LayerlabError as exc:
            if len(refs) == 1 and failed is None:
                raise
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            report.errors.append(str(exc))
            if failed is not None:
                failed.append(ref)
            continue
        report.merge(done)
    return report


def _touched(container: Container) -> Report:
    return Report(containers=[container.id])


def _container_ids(engine: Engine, ref: str) -> list[str]:
    """`ref`'s full id, or none if it names no container (the engine's own call says so)."""
    with contextlib.suppress(LayerlabError):
        return [engine.container(ref).id]
    return []


def _image_ids(engine: Engine, ref: str) -> list[str]:
    """`ref`'s image id, or none if it names no image (the engine's own call says so)."""
    with contextlib.suppress(LayerlabError):
        return [engine.image(ref).id]
    return []


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def dispatch(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """Run a parsed command; a `LayerlabError` is the user's one-line error, with the
    exit code Docker gives it for this command (`LayerlabError.for_command`)."""
    handler = HANDLERS.get(ns.cmd) or GROUP_HANDLERS.get(ns.cmd)
    if handler is None:  # `tui`: the entry point opens it (layerlab.main), not a handler
        raise UsageError(f"layerlab {ns.cmd}: not a command this face runs")
    try:
        return handler(engine, ns, io)
    except LayerlabError as exc:
        exc.for_command(ns.cmd)
        raise
