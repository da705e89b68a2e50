"""Inside a container: `exec`, `attach`, `top`, `stats`, `logs`, `cp`, `diff`.

`exec` runs one more process in a running container's namespaces and cgroup
(`runc exec`); `attach` connects to what its shim serves; `top` filters the
host's `ps` by the container's cgroup, `stats` reads its counters; `logs` reads
the json-file log the shim writes; `cp` and `diff` go through the union: into the
writable layer, out of the merged view.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from layerlab.engine.context import Context
from layerlab.engine.start import user_ids
from layerlab.errors import Conflict, ExecFailed, LayerlabError, NotFound
from layerlab.layerfs import unionfs
from layerlab.presentation.humanize import parse_rfc3339
from layerlab.runtime import restart, usage
from layerlab.runtime.launch import POLL_SECONDS, Stdio, Stream
from layerlab.runtime.runc import ATTACH_SOCKET, STDIN_FIFO, pid_file, process_file, runtime_message
from layerlab.runtime.spec import spec_user
from layerlab.storage import events as journal
from layerlab.storage.containers import Container, merge_env, run_over

if TYPE_CHECKING:
    import socket

    from layerlab.runtime.pipes import Held


@dataclass(frozen=True)
class LogEntry:
    stream: str
    text: str
    time: str


@dataclass(frozen=True)
class ExecOptions:
    """`docker exec`'s flags."""

    detach: bool = False
    interactive: bool = False
    tty: bool = False
    env: list[str] | None = None
    workdir: str | None = None
    user: str | None = None


# --- exec --------------------------------------------------------------------------------
def exec_command(
    ctx: Context, ref: str, command: list[str], opts: ExecOptions, stdio: Stdio
) -> int:
    """Run one more process in the container's namespaces and cgroup; its exit code."""
    cid = ctx.store.resolve_container(ref)
    container = ctx.require_running(cid)
    if container.paused:
        # daemon/exec.go getActiveContainer: errExecPaused(name), the name as given
        raise Conflict(f"Container {ref} is paused, unpause the container before exec")
    restart.refuse_restarting(container.data)
    if not command:
        raise LayerlabError("exec requires at least 1 argument")
    if opts.detach and opts.tty:
        raise LayerlabError("exec -d with -t is not supported: attach needs a terminal")
    try:  # Docker: exec's unknown user is the runtime's failure, 126
        ids = user_ids(ctx.writable(container), opts.user) if opts.user else None
    except LayerlabError as exc:
        raise LayerlabError(str(exc), 126) from None
    exec_id, words = os.urandom(32).hex(), f"{command[0]} {' '.join(command[1:])}"
    for action in ("exec_create", "exec_start"):  # Docker names the command in the action
        journal.container(ctx.store.root, container.data, f"{action}: {words}", execID=exec_id)
    import tempfile  # on use: its import costs every `run` milliseconds

    fd, name = tempfile.mkstemp(prefix="exec-", suffix=".log", dir=ctx.store.container_dir(cid))
    os.close(fd)  # runc writes it by name
    log = Path(name)
    env = merge_env(["TERM=xterm"] if opts.tty else [], opts.env or [])  # Docker's, for -t
    process = None if ids is None else _user_process(ctx, cid, command, env, opts, ids)
    own_terminal = stdio[0] is None and opts.interactive and os.isatty(0)
    if opts.tty and not opts.detach and not own_terminal:
        # -t without our terminal: a pseudo-terminal of our own, as Docker allocates one
        code = _exec_in_pty(ctx, cid, command, env, opts.workdir, stdio[1], log, process)
    else:
        code = _exec_on(ctx, cid, command, env, opts, stdio, log, process)
    failure = log.read_text(errors="replace") if code == 255 else ""
    for path in (log, process_file(log), pid_file(log)):
        path.unlink(missing_ok=True)
    if failure.strip():  # runc could not start the process: Docker's 126 and words
        raise ExecFailed(f"OCI runtime exec failed: {runtime_message(failure)}: unknown")
    if not opts.detach:
        journal.container(
            ctx.store.root, container.data, "exec_die", execID=exec_id, exitCode=str(code)
        )
    return code


def _exec_on(
    ctx: Context, cid: str, command: list[str], env: list[str], opts: ExecOptions,
    stdio: Stdio, log: Path, process: dict[str, Any] | None,
) -> int:  # fmt: skip
    """`runc exec` on the streams given (ours when None); runc's own failure said once."""
    err = subprocess.DEVNULL if opts.detach else stdio[2]
    with _runc_errors_held(err, log) as held:
        proc = ctx.runtime.exec(
            cid,
            command,
            env=env,
            cwd=opts.workdir,
            tty=opts.tty,
            detach=opts.detach,
            stdin=stdio[0] if opts.interactive and not opts.detach else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if opts.detach else stdio[1],
            stderr=err if held is None else held.fd,
            process=process,
            log=log,
        )
        code = proc.wait()
        if held is not None:  # runc's own line, once: ours below is Docker's
            held.drop = code == 255 and bool(log.read_text(errors="replace").strip())
    return code


def _exec_in_pty(
    ctx: Context, cid: str, command: list[str], env: list[str], workdir: str | None,
    out: Stream, log: Path, process: dict[str, Any] | None,
) -> int:  # fmt: skip
    """`runc exec --tty` on a pseudo-terminal we own (its controlling terminal), its
    output copied to `out` (None: our stdout) - what Docker's `exec -t` shows."""
    master, slave = os.openpty()
    try:
        proc = ctx.runtime.exec(
            cid, command, env=env, cwd=workdir, tty=True, detach=False,
            stdin=slave, stdout=slave, stderr=slave, log=log, own_terminal=True,
            process=process,
        )  # fmt: skip
    finally:
        os.close(slave)
    out_fd = 1 if out is None else out if isinstance(out, int) else out.fileno()
    pending = early = b""  # early: before the process started, maybe runc's own error
    started = pid_file(log).exists
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal has gone
                break
            if not data:
                break
            # runc clears the container terminal's ONLCR only once the process runs,
            # so an early line may reach ours as \r\r\n: one \r\n, as Docker shows.
            data = (pending + data).replace(b"\r\r\n", b"\r\n")
            cut = len(data.rstrip(b"\r"))  # a \r at the end waits for what follows
            data, pending = data[:cut], data[cut:]
            if not started():
                early += data
                continue
            os.write(out_fd, early + data)
            early = b""
        code = proc.wait()
        if not (code == 255 and log.read_text(errors="replace").strip()):
            os.write(out_fd, early + pending)  # runc's failure: Docker's line says it
    finally:
        os.close(master)
    return code


def _user_process(
    ctx: Context, cid: str, command: list[str], env: list[str], opts: ExecOptions,
    ids: tuple[int, int, list[int]],
) -> dict[str, Any]:  # fmt: skip
    """`exec -u`'s process: the container's (capabilities, limits, env), run as the
    user with only that user's groups, as Docker's exec (moby daemon/exec_linux.go)."""
    base = dict((ctx.bundle_spec(cid) or {}).get("process") or {})
    return {
        **base,
        "args": command,
        "env": merge_env(base.get("env") or [], env),
        "cwd": opts.workdir or base.get("cwd") or "/",
        "terminal": opts.tty,
        "user": spec_user(ids),
    }


@contextlib.contextmanager
def _runc_errors_held(err: Any, log: Path) -> Iterator[Held | None]:
    """`exec`'s stderr through a pipe that holds what comes before the process started:
    runc writes its failure there as well as to its log, and Docker prints it once."""
    if err == subprocess.DEVNULL:
        yield None
        return
    from layerlab.runtime.pipes import held_until  # a thread and a pipe: only for exec

    dest = 2 if err is None else err if isinstance(err, int) else err.fileno()
    with held_until(dest, pid_file(log).exists) as held:
        yield held


# --- attach ------------------------------------------------------------------------------
def attach(ctx: Context, ref: str) -> Container:
    """`docker attach`'s checks, in its words, and its `attach` event; the container."""
    container = ctx.container(ref)
    if not container.running:
        raise LayerlabError("You cannot attach to a stopped container, start it first", 1)
    if container.paused:
        raise LayerlabError("You cannot attach to a paused container, unpause it first", 1)
    if container.state.get("Restarting"):
        raise LayerlabError(
            "You cannot attach to a restarting container, wait until it is running", 1
        )
    journal.container(ctx.store.root, container.data, "attach")
    return container


def attach_output(ctx: Context, ref: str) -> socket.socket | None:
    """A running `-t` container's output as it comes (from its shim), to read; None
    when there is none to connect to (no terminal, or its shim is gone)."""
    return shim_socket(ctx, ctx.store.resolve_container(ref), ATTACH_SOCKET)


def attach_input(ctx: Context, ref: str) -> BinaryIO | None:
    """A running container's stdin, to write to (`attach`); None when it has none open
    (started without `-i`, or its shim is gone): Docker then attaches the output only.

    Closing it leaves the container's stdin open: another attach can go on."""
    cid = ctx.store.resolve_container(ref)
    path = ctx.store.container_dir(cid) / STDIN_FIFO
    try:  # non-blocking: with no shim reading, this fails (ENXIO) instead of hanging
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb", buffering=0)


def shim_socket(ctx: Context, cid: str, name: str) -> socket.socket | None:
    """A connection to the socket `name` a running container's shim serves; None when
    nothing answers there."""
    import socket

    folder = os.open(ctx.store.container_dir(cid), os.O_PATH | os.O_CLOEXEC)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:  # through the folder's descriptor: a socket's path must fit in 108 bytes
        conn.connect(f"/proc/self/fd/{folder}/{name}")
    except OSError:
        conn.close()
        return None
    finally:
        os.close(folder)
    return conn


# --- logs, stats, top, diff --------------------------------------------------------------
def logs(
    ctx: Context,
    ref: str,
    follow: bool = False,
    cancel: threading.Event | None = None,
    run: str | None = None,
) -> Iterator[LogEntry]:
    """The json-file log as entries; with `follow`, until the container stops, or with `run`
    (a `StartedAt`: `attach`) until that run ends, restarted or not.

    Following also ends - quietly, the iteration just stops - when the
    container is removed meanwhile (`rm -f`) or once `cancel` is set.
    """
    from layerlab.runtime import logread

    cid = ctx.store.resolve_container(ref)
    path = Path(ctx.settled(cid).data["LogPath"])

    def wait() -> bool:
        if cancel is None:
            time.sleep(POLL_SECONDS)
            return True
        return not cancel.wait(POLL_SECONDS)

    began = None if run is None else parse_rfc3339(run)

    def still_running() -> bool:
        try:
            container = ctx.settled(cid)
        except (NotFound, FileNotFoundError):  # removed while followed
            return False
        return container.running and (began is None or not run_over(container.state, began))

    with contextlib.suppress(FileNotFoundError):  # the container went with its folder
        for record in logread.records(path, follow, still_running, wait):
            with contextlib.suppress(KeyError, TypeError):
                yield LogEntry(record["stream"], record["log"], record["time"])


def stats(ctx: Context, ref: str) -> usage.Sample:
    """What the container uses now, from its cgroup (`docker stats`); zeros when stopped."""
    container = ctx.container(ref)
    pid = int(container.data["State"].get("Pid") or 0) if container.running else 0
    return usage.sample(container.id, container.name, pid)


def top(
    ctx: Context, ref: str, ps_args: list[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """`ps` on the host, filtered to the container's cgroup - as `docker top` does."""
    cid = ctx.store.resolve_container(ref)
    container = ctx.require_running(cid)
    restart.refuse_restarting(container.data)
    journal.container(ctx.store.root, container.data, "top")
    pids = {str(p) for p in ctx.runtime.pids(cid)}
    args = ps_args or ["-ef"]
    out = subprocess.run(["ps", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise LayerlabError(f"ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    headers = lines[0].split()
    if "PID" not in headers:
        raise LayerlabError("Couldn't find PID field in ps output")
    pid_col = headers.index("PID")
    rows = []
    for line in lines[1:]:
        cells = line.split(None, len(headers) - 1)
        if len(cells) > pid_col and cells[pid_col] in pids:
            rows.append(cells)
    return headers, rows


def diff(ctx: Context, ref: str) -> list[unionfs.Change]:
    """What the writable layer added, changed and deleted - `docker diff`."""
    return ctx.writable(ctx.container(ref)).changes()


# --- cp: into the writable layer, out of the merged view (layerfs/copy.py) ---------------
def copy_to(
    ctx: Context, ref: str, src: str, dest: str, *, archive: bool = False,
    follow_link: bool = False, stdin: BinaryIO | None = None,
) -> Container:  # fmt: skip
    """`cp SRC|- CONTAINER:DEST`: the files land in the writable layer (or a volume).

    A container that is not running is written through a union mounted for the
    copy alone, so a directory only its image has receives the files as Docker's do.
    """
    from layerlab.layerfs import copy as copylib  # tarfile's users load only for `cp`

    container = _cp_container(ctx, ref)
    with _rootfs(ctx, container, write=True) as root:
        copylib.copy_in(
            root, copylib.mounts_of(container.data), src, dest, ref,
            archive=archive, follow_link=follow_link, stdin=stdin,
        )  # fmt: skip
    journal.container(ctx.store.root, container.data, "extract-to-dir")
    return container


def copy_from(
    ctx: Context, ref: str, src: str, dest: str, *, follow_link: bool = False,
    stdout: BinaryIO | None = None,
) -> Container:  # fmt: skip
    """`cp CONTAINER:SRC DEST|-`: read through the union (the merged view)."""
    from layerlab.layerfs import copy as copylib

    container = _cp_container(ctx, ref)
    with _rootfs(ctx, container, write=False) as root:
        copylib.copy_out(
            root, copylib.mounts_of(container.data), src, dest, ref,
            follow_link=follow_link, stdout=stdout,
        )  # fmt: skip
    journal.container(ctx.store.root, container.data, "archive-path")
    return container


def _cp_container(ctx: Context, ref: str) -> Container:
    try:
        return ctx.container(ref)
    except NotFound as exc:  # `docker cp` exits 1 for it
        raise NotFound(str(exc), exit_code=1) from None


@contextlib.contextmanager
def _rootfs(ctx: Context, container: Container, write: bool) -> Iterator[int]:
    """The container's merged view as an open directory, for the length of the block."""
    rw = ctx.writable(container)
    with contextlib.ExitStack() as stack:
        if write:
            stack.enter_context(ctx.store.lock())  # no `start` mounts it meanwhile
        if rw.is_mounted():
            root = rw.merged
        else:
            view = ctx.store.make_tmp_dir("cp-")
            stack.callback(_rmdir, view)  # never rmtree: it may still be a mount
            if write:
                unionfs.mount_overlay(rw.lowers, rw.upper, rw.work, view)
                stack.callback(unionfs.unmount, view)
                root = view
            else:
                root = stack.enter_context(rw.readonly_view(view))
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        stack.callback(os.close, fd)
        yield fd


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)
