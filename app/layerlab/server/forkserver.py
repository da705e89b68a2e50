"""The resident fork server behind `layerlab` commands: `python -m layerlab.server.forkserver S`.

Started in the background by a command that found none (client.py). It loads
every module a command may need and the command-line grammar once, then
forks a child per connection; the child becomes the command (the client's
descriptors, directory, environment, arguments), runs `main`, and reports its
exit code. Nothing the server holds is state: the store is read afresh by
every child. It answers only its own user, ends when idle, and refuses (and
ends) once a source file it loaded has changed, so it never runs old code.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import importlib
import io
import os
import pkgutil
import resource
import signal
import socket
import sys
import threading
import time
import traceback
from typing import NoReturn

import layerlab
from layerlab.server import client

IDLE_SECONDS = 900.0  # then the next command starts a new one
SKIP = ("layerlab.tui.serve",)  # it runs in a process of its own (client.RUN_HERE)
HEADER = 8
NAMESPACES = ("mnt", "net", "pid", "uts", "ipc", "user")
LIMITS = [getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")]


def preload() -> dict[str, int]:
    """Import what any command may import, build every command's parser; the sources' mtimes."""
    for mod in pkgutil.walk_packages(layerlab.__path__, "layerlab."):
        if not mod.name.startswith(SKIP) and mod.name != "layerlab.__main__":
            importlib.import_module(mod.name)
    from layerlab.commands import grammar

    grammar.prebuild()
    return _sources()


def _sources() -> dict[str, int]:
    """What the loaded code came from: our modules, and the folders on the import path (a
    package installed, upgraded or removed there changes its folder)."""
    paths = [
        getattr(m, "__file__", None)
        for n, m in list(sys.modules.items())
        if n.startswith("layerlab")
    ]
    found = {}
    for path in [*paths, *sys.path]:
        if path:
            with contextlib.suppress(OSError):
                found[path] = os.stat(path).st_mtime_ns
    return found


def _changed(sources: dict[str, int]) -> bool:
    for path, mtime in sources.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False


def serve(path: str) -> int:
    """Answer commands at `path` until idle, stale, or replaced; one server per address."""
    os.chdir("/")  # not the first client's directory, which may be unmounted or removed
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # nor any descriptor it had left open
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if not client.private(os.path.dirname(path)):
        return 1  # clients would not trust it either
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another one is starting or serving
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who serves here: `kill $(cat ...lock)`
    sources = preload()
    gc.freeze()  # what is loaded stays shared with the children: their collections skip it
    ident = client.identity()
    fixed = client.fixed_at_start([f"{k}={v}" for k, v in os.environ.items()])
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(umask)
    listener.listen(64)
    inode = os.stat(path).st_ino
    listener.settimeout(float(os.environ.get("LAYERLAB_SERVER_IDLE") or IDLE_SECONDS))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, _stop)
    while True:
        try:
            conn, _ = listener.accept()
        except (TimeoutError, _Stopped):
            break
        if not _same_user(conn):
            conn.close()
            continue
        if _changed(sources) or not _still_at(path, inode):
            _leave(path, inode, lock)
            with contextlib.suppress(OSError):
                conn.sendall(b"refused\n")
            return 0
        if os.fork() == 0:
            listener.close()
            os.close(lock)
            _child(conn, ident, fixed)
        conn.close()
    _leave(path, inode, lock)
    return 0


class _Stopped(Exception):
    """SIGTERM: leave as when idle."""


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped()


def _peer(conn: socket.socket) -> tuple[int, int]:
    """The connecting process's pid and uid (SO_PEERCRED), as the kernel vouches for them."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[:4], sys.byteorder), int.from_bytes(creds[4:8], sys.byteorder)


def _same_user(conn: socket.socket) -> bool:
    return _peer(conn)[1] == os.geteuid()


def _still_at(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _leave(path: str, inode: int, lock: int) -> None:
    """Stop answering: our address goes (unless another server's is there now), then our lock."""
    if _still_at(path, inode):
        with contextlib.suppress(OSError):
            os.unlink(path)
    os.close(lock)


# --- the child: one command -------------------------------------------------------------------
def _child(conn: socket.socket, ident: bytes, fixed: list[str]) -> NoReturn:
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        conn.setblocking(True)
        request = _receive(conn)
        peer = _peer(conn)[0]
        if request is None or request[0] != ident or not _same_world(peer):
            raise LookupError("not ours to run")
        if client.fixed_at_start(request[4]) != fixed:  # read as we started: not to be changed
            raise LookupError("not ours to run")
        _become(conn, peer, *request[1:])
        conn.sendall(f"pid {os.getpid()}\n".encode())
    except Exception:  # the client runs its command itself
        with contextlib.suppress(OSError):
            conn.sendall(b"refused\n")
        os._exit(0)
    code = 1
    try:
        code = _run(sys.argv[1:])
    except BaseException:  # a bug: the client hears why, and an exit code
        with contextlib.suppress(Exception):
            traceback.print_exc()
            sys.stderr.flush()
    finally:
        with contextlib.suppress(OSError):
            conn.sendall(f"exit {code}\n".encode())
        os._exit(code)


def _same_world(pid: int) -> bool:
    """Whether the client sees the machine as we do: the same namespaces and root. A
    command from another (`ip netns exec`, `unshare`, a chroot) runs in its own process."""
    try:
        for ns in NAMESPACES:
            if os.stat(f"/proc/{pid}/ns/{ns}").st_ino != os.stat(f"/proc/self/ns/{ns}").st_ino:
                return False
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _receive(conn: socket.socket) -> tuple[bytes, list[int], int, list[str], list[str]] | None:
    """(identity, descriptors, umask, arguments, environment) as client.py sends them."""
    head, fds, _, _ = socket.recv_fds(conn, HEADER, 4)
    while len(head) < HEADER:
        more = conn.recv(HEADER - len(head))
        if not more:
            return None
        head += more
    size = int.from_bytes(head, "big")
    payload = bytearray()
    while len(payload) < size:
        more = conn.recv(min(size - len(payload), 1 << 20))
        if not more:
            return None
        payload += more
    if len(fds) != 4:
        return None
    fields = bytes(payload).split(b"\0")
    ident = b"\0".join(fields[:2])
    umask, argc = int(fields[2]), int(fields[3])
    words = [os.fsdecode(w) for w in fields[4 : 4 + argc]]
    env = [os.fsdecode(e) for e in fields[4 + argc :]]
    return ident, fds, umask, words, env


def _become(
    conn: socket.socket, client: int, fds: list[int], umask: int, words: list[str], env: list[str]
) -> None:
    """Take on the client's descriptors, directory, umask, limits, environment, arguments."""
    for limit in LIMITS:
        resource.setrlimit(limit, resource.prlimit(client, limit))
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
        os.close(fd)
    os.fchdir(fds[3])
    os.close(fds[3])
    os.umask(umask)
    os.environ.clear()
    os.environ.update(e.partition("=")[::2] for e in env if "=" in e)
    time.tzset()
    sys.argv = ["layerlab", *words]
    streams = {
        "stdin": _text(0, "r", "surrogateescape"),
        "stdout": _text(1, "w", "surrogateescape"),
        "stderr": _text(2, "w", "backslashreplace", line_buffered=True),
    }
    for name, stream in streams.items():  # the __stdout__ kind too: the grammar reads its width
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    _end_with_client(conn)


def _text(fd: int, mode: str, errors: str, line_buffered: bool = False) -> io.TextIOWrapper:
    """A standard stream over `fd`, buffered as Python buffers its own (lines on a terminal)."""
    binary = open(fd, mode + "b", closefd=False)  # noqa: SIM115 - the command's, as sys's are
    return io.TextIOWrapper(
        binary, "utf-8", errors, line_buffering=line_buffered or binary.isatty()
    )


def _end_with_client(conn: socket.socket) -> None:
    """A client killed outright (SIGKILL) takes its command with it, as a killed process
    would: its end of the connection closing raises SIGIO here, and SIGIO's default action
    ends us. The kernel marks us killed as the client dies, before anyone sees it dead,
    so the next command finds us gone or ending (store.owner_alive waits for that), never
    still at work. Processes we start do not keep the connection (it is close-on-exec)."""
    signal.signal(signal.SIGIO, signal.SIG_DFL)
    fd = conn.fileno()
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    try:  # a client gone already, before there was a SIGIO to send
        gone = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:  # there, quiet
        gone = False
    except OSError:  # ECONNRESET: it went before reading what we had sent it
        gone = True
    if gone:
        os.kill(os.getpid(), signal.SIGKILL)


def _run(words: list[str]) -> int:
    """`main`, then what the interpreter's exit would do: wait for threads, run atexit."""
    from layerlab.main import main

    try:
        code = main(words)
    except SystemExit as exc:  # --help, --version
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1]))
