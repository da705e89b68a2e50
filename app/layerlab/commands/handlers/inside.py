"""Inside a running container: exec, attach, logs, top, stats, diff and cp."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from layerlab.commands.handlers.common import command, container_ids, write_listing
from layerlab.commands.stdio import (
    IO,
    _attached,
    _binary_output,
    _require_terminal,
    _stdio,
    no_stdin,
)
from layerlab.engine import Engine, LogEntry
from layerlab.errors import ExecFailed, LayerlabError
from layerlab.presentation.table import format_table
from layerlab.report import Report
from layerlab.runtime.detachkeys import DetachKeys

if TYPE_CHECKING:
    import socket


@command("exec")
def cmd_exec(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if ns.tty and ns.interactive and not ns.detach:  # Docker needs a terminal for -it only
        _require_terminal(io)
    ids = container_ids(engine, ns.container)
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
    ids = container_ids(engine, ns.container)
    entries: Iterable[LogEntry] = engine.logs(ns.container, follow=ns.follow, cancel=io.cancel)
    if ns.tail != "all" or ns.since or ns.until:
        entries = _log_window(engine, ns, entries)
    details = _log_details(engine, ns) if ns.details else ""
    for entry in entries:
        stream = io.err if entry.stream == "stderr" else io.out
        text = details + entry.text
        stream.write(f"{entry.time} {text}" if ns.timestamps else text)
        stream.flush()
    return Report(containers=ids)


def _log_details(engine: Engine, ns: argparse.Namespace) -> str:
    from layerlab.commands.observe import log_details

    return log_details(engine.container(ns.container).data)


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
    return Report(containers=container_ids(engine, ns.container))


@command("stats")
def cmd_stats(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands.observe import stats

    return stats(engine, ns, io, write_listing)


@command("diff")
def cmd_diff(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    io.out.write("".join(f"{change}\n" for change in engine.diff(ns.container)))
    return Report(containers=container_ids(engine, ns.container))


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
    cid = engine.container(ns.container).id
    already = sum(1 for _ in engine.logs(cid))  # the output so far: ours is what comes next
    container = engine.attach(cid)  # refused as Docker refuses, else attached from here on
    from layerlab.commands.attach import copy_input

    tty = bool(container.data["Config"].get("Tty"))
    run = str(container.state["StartedAt"])  # the run followed: it ends at its process's exit
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
    raw = target is not None and tty
    with _attached(engine, container.id, io, raw=raw, sig_proxy=ns.sig_proxy):
        if target is not None and io.stdin is not None:
            copy_input(io.stdin, target, keys, on_detach=detach)
        if watch is not None:
            _watch(watch, io, stop)
        else:
            for i, entry in enumerate(engine.logs(container.id, True, stop, run)):
                if i < already:
                    continue
                stream = io.err if entry.stream == "stderr" else io.out
                stream.write(entry.text)
                stream.flush()
    if detached.is_set():
        print("read escape sequence", file=io.err)
        return Report(code=1, containers=[container.id])
    code = engine.wait(container.id, cancel=io.cancel, run=run)
    return Report(code=code, containers=[container.id])
