"""A container's life: create, run, start, stop, kill, pause, unpause, wait, restart,
update, rename and rm, with the flags `create` and `run` share."""

from __future__ import annotations

import argparse
import sys

from layerlab.commands.grammar import UsageError
from layerlab.commands.handlers.common import command, container_ids, each, touched
from layerlab.commands.ports import port_fields
from layerlab.commands.stdio import IO, _attached, _require_terminal, _stdio
from layerlab.engine import Engine
from layerlab.errors import Cancelled, Detached, LayerlabError, NotFound
from layerlab.report import Report
from layerlab.runtime.detachkeys import DetachKeys
from layerlab.storage.containers import Container, CreateOptions
from layerlab.storage.limits import LimitOptions
from layerlab.storage.reference import normalize_ref


def _create_options(ns: argparse.Namespace, attach: bool, streams: set[str]) -> CreateOptions:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    from layerlab.commands.runflags import labels, read_env_files
    from layerlab.runtime import restart

    policy = restart.parse_policy(ns.restart)
    restart.check_auto_remove(policy, ns.rm, ns.cmd)
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
        restart=policy,
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


def _create(engine: Engine, image: str, opts: CreateOptions, io: IO) -> Container:
    """Docker's client: an image the store lacks is pulled first (`Unable to find image
    'x:latest' locally`, then the pull's lines, on stderr), then the container is made."""
    if engine.find_image_id(image) is None:
        from layerlab.commands.handlers.registry import puller

        pull = puller(engine, io)

        def missing(ref: str) -> None:
            print(f"Unable to find image '{normalize_ref(ref)}' locally", file=io.err)
            pull(ref, io.err)

        engine.image_or_pull(image, missing)
    return engine.create(image, opts)


@command("create")
def cmd_create(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands.runflags import attach_streams, check_cidfile, write_cidfile

    streams = attach_streams(ns.attach_streams, detach=False)
    check_cidfile(ns.cidfile)
    container = _create(engine, ns.image, _create_options(ns, attach=False, streams=streams), io)
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
        container = _create(engine, ns.image, opts, io)
        write_cidfile(ns.cidfile, container.id)
        engine.start(container.id)
        print(container.id, file=io.out)
        return Report(containers=[container.id], created_containers=[container.id])
    container = _create(engine, ns.image, opts, io)
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
        if raw and io.interactive and not sys.stdin.isatty():
            raw = False  # Docker's start attaches a piped stdin as it is, terminal or not
        elif raw:
            _require_terminal(io)
        return _start_attached(engine, container, io, raw, keys=keys)
    failed: list[str] = []
    report = each(ns.containers, io, lambda ref: touched(engine.start(ref)), failed)
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
    if not container_ids(engine, container.id):  # `--rm`: gone with its process
        report.removed_containers.append(container.id)
    return report


@command("stop")
def cmd_stop(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return each(ns.containers, io, lambda ref: touched(engine.stop(ref, ns.time, ns.signal)))


@command("kill")
def cmd_kill(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return each(ns.containers, io, lambda ref: touched(engine.kill(ref, ns.signal)))


@command("pause")
def cmd_pause(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return each(ns.containers, io, lambda ref: touched(engine.pause(ref)))


@command("unpause")
def cmd_unpause(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    return each(ns.containers, io, lambda ref: touched(engine.unpause(ref)))


@command("wait")
def cmd_wait(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    report = Report()
    for ref in ns.containers:
        ids = container_ids(engine, ref)
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

    return each(ns.containers, io, remove)


@command("rename")
def cmd_rename(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    try:
        return touched(engine.rename(ns.container, ns.new_name))
    except LayerlabError as exc:  # docker/cli container/rename.go adds a second line
        exc.args = (f"{exc}\nError: failed to rename container named {ns.container}",)
        raise


@command("restart")
def cmd_restart(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    def restart(ref: str) -> Report:
        if engine.container(ref).running:
            engine.stop(ref, ns.time, ns.signal)
        return touched(engine.start(ref))

    return each(ns.containers, io, restart)


@command("update")
def cmd_update(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`docker update`: prints each container as it was named, once its limits are set."""
    from layerlab.runtime.restart import parse_policy

    changes = _limit_options(ns)
    policy = None if ns.restart is None else parse_policy(ns.restart)
    if all(v is None for v in (changes.memory, changes.memory_swap, changes.pids_limit,
                               changes.cpus, changes.cpu_shares, policy)):  # fmt: skip
        raise UsageError("you must provide one or more flags when using this command", 1)

    def update(ref: str) -> Report:
        return touched(engine.update(ref, changes, policy))

    return each(ns.containers, io, update)
