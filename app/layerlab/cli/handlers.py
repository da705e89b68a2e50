"""One function per command: each runs through the engine, prints what Docker prints,
and returns a `Report` of the ids it touched.

`dispatch(engine, ns, io)` runs a namespace from `grammar.parse`; an error for
the user is raised as a `LayerlabError` (the face prints it as one line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from layerlab.cli.grammar import COMMANDS, UsageError
from layerlab.cli.stdio import IO, _attached, _binary_output, _require_terminal, _stdio, no_stdin
from layerlab.containers import Container, CreateOptions
from layerlab.engine import Engine
from layerlab.errors import Cancelled, LayerlabError
from layerlab.humanize import ago, human_size, parse_rfc3339
from layerlab.reference import display_id
from layerlab.report import Report
from layerlab.table import format_table

Handler = Callable[[Engine, argparse.Namespace, IO], Report]
HANDLERS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    if name not in COMMANDS:
        raise AssertionError(f"{name} is not in the grammar's COMMANDS")

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


# --- commands ------------------------------------------------------------------
def _create_options(ns: argparse.Namespace, attach: bool) -> CreateOptions:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    return CreateOptions(
        command=command,
        name=ns.name,
        env=ns.env,
        workdir=ns.workdir,
        hostname=ns.hostname,
        entrypoint=ns.entrypoint,
        tty=ns.tty,
        interactive=ns.interactive,
        auto_remove=ns.rm,
        attach=attach,
    )


@command("create")
def cmd_create(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    container = engine.create(ns.image, _create_options(ns, attach=False))
    print(container.id, file=io.out)
    return Report(containers=[container.id], created_containers=[container.id])


@command("run")
def cmd_run(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    attach = not ns.detach
    if attach and ns.tty and ns.interactive:
        _require_terminal(io)
    opts = _create_options(ns, attach=attach)
    if not attach:
        container, _ = engine.run(ns.image, opts)
        print(container.id, file=io.out)
        return Report(containers=[container.id], created_containers=[container.id])
    container = engine.create(ns.image, opts)
    report = _start_attached(engine, container, io, raw=ns.tty and ns.interactive)
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
        if raw:
            _require_terminal(io)
        return _start_attached(engine, container, io, raw=raw)
    return _each(ns.containers, io, lambda ref: _touched(engine.start(ref)))


def _start_attached(engine: Engine, container: Container, io: IO, raw: bool) -> Report:
    """Start attached until the container exits; its exit code is the command's."""
    with _attached(engine, container.id, io, raw=raw), _stdio(io) as stdio:
        code = engine.start_attached(container.id, stdio, cancel=io.cancel)
    report = Report(code=code, containers=[container.id])
    if not _container_ids(engine, container.id):  # `--rm`: gone with its process
        report.removed_containers.append(container.id)
    return report


@command("ps")
def cmd_ps(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    containers = engine.containers(all=ns.all)
    if ns.quiet:
        for c in containers:
            print(c.id if ns.no_trunc else c.short_id, file=io.out)
        return Report()
    io.out.write(format_table(PS_HEADERS, ps_rows(containers, no_trunc=ns.no_trunc)))
    return Report()


PS_HEADERS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


def ps_rows(containers: Sequence[Container], no_trunc: bool = False) -> list[list[str]]:
    """Docker's `ps` cells; the TUI shows the same rows."""
    rows = []
    for c in containers:
        cmd = c.command
        if not no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        rows.append(
            [
                c.id if no_trunc else c.short_id,
                c.image_ref,
                json.dumps(cmd, ensure_ascii=False),  # Go's strconv.Quote, as Docker prints it
                ago(c.created),
                c.status_text(),
                "",
                c.name,
            ]
        )
    return rows


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
        engine.rm(container.id, force=ns.force)
        return Report(images=[container.data["Image"]], removed_containers=[container.id])

    return _each(ns.containers, io, remove)


@command("exec")
def cmd_exec(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if ns.tty and not ns.detach:
        _require_terminal(io)
    ids = _container_ids(engine, ns.container)
    with _stdio(io) as stdio:
        code = engine.exec(
            ns.container,
            command,
            detach=ns.detach,
            interactive=ns.interactive,
            tty=ns.tty,
            env=ns.env,
            workdir=ns.workdir,
            stdio=stdio,
        )
    return Report(code=code, containers=ids)


@command("logs")
def cmd_logs(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    ids = _container_ids(engine, ns.container)
    for entry in engine.logs(ns.container, follow=ns.follow, cancel=io.cancel):
        stream = io.err if entry.stream == "stderr" else io.out
        stream.write(f"{entry.time} {entry.text}" if ns.timestamps else entry.text)
        stream.flush()
    return Report(containers=ids)


@command("top")
def cmd_top(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    headers, rows = engine.top(ns.container, ns.ps_args)
    io.out.write(format_table(headers, rows))
    return Report(containers=_container_ids(engine, ns.container))


@command("rename")
def cmd_rename(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return _touched(engine.rename(ns.container, ns.new_name))


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
    if not ns.quiet:
        for line in lines:
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
        except FileNotFoundError:
            raise LayerlabError(f"open {ns.file}: no such file or directory") from None
    print(image_id, file=io.out)
    return Report(images=[image_id], created_images=[image_id])


@command("export")
def cmd_export(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    with _binary_output(ns.output, io) as out:
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
    if ns.quiet:
        seen: list[str] = []
        for _, image in rows:
            short = display_id(image.id, ns.no_trunc)
            if short not in seen:
                seen.append(short)
                print(short, file=io.out)
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


@command("history")
def cmd_history(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    rows = engine.history(ns.image)
    report = Report(images=_image_ids(engine, ns.image))
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
    for ref in ns.names:
        try:
            item = engine.inspect(ref)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            report.code = 1
            continue
        found.append(item)
        # A container's record has a State; an image's inspect has none.
        (report.containers if "State" in item else report.images).append(item["Id"])
    if ns.format is not None:
        from layerlab.gotemplate import TemplateError, render  # on use: -f only, start-up is lean

        try:
            for item in found:
                print(render(ns.format, item), file=io.out)
        except TemplateError as exc:
            raise LayerlabError(f"template parsing error: {exc}") from None
    elif found or not report.code:
        print(json.dumps(found, indent=4), file=io.out)
    return report


@command("build")
def cmd_build(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    text = None
    if ns.file == "-":
        if io.stdin is None:
            raise no_stdin("build -f -", "the Dockerfile", "give a file with -f PATH")
        text = io.stdin.read()

    from layerlab.build import BuildOptions  # on use: the builder loads for builds only

    before: set[str] = set()  # to tell a new image from one the cache had whole
    with contextlib.suppress(LayerlabError):  # an image vanishing mid-listing is no failure
        before = {image.id for _, image in engine.images(all=True)}
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
        )
        try:
            image_id = engine.build(Path(ns.context), options)
        except LayerlabError as exc:  # Docker prints a failed build's message bare
            io.out.flush()
            print(exc, file=io.err)
            return Report(code=exc.exit_code)
    if ns.quiet:
        print(image_id, file=io.out)
    # All from the cache: the image was there already, and the build made nothing new.
    return Report(images=[image_id], created_images=[] if image_id in before else [image_id])


# --- helpers -------------------------------------------------------------------
def _each(refs: Sequence[str], io: IO, action: Callable[[str], Report]) -> Report:
    """Docker's multi-container commands: echo each name done, one error line per failure."""
    report = Report()
    for ref in refs:
        try:
            done = action(ref)
            print(ref, file=io.out)
        except LayerlabError as exc:
            if len(refs) == 1:
                raise
            print(f"Error: {exc}", file=io.err)
            report.code = 1
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
    """Run a parsed command; a `LayerlabError` is the user's one-line error."""
    handler = HANDLERS.get(ns.cmd)
    if handler is None:  # `tui`: the entry point opens it (layerlab.main), not a handler
        raise UsageError(f"layerlab {ns.cmd}: not a command this face runs")
    return handler(engine, ns, io)
