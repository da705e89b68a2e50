"""The `layerlab` command's way in: hand the command to the resident fork server, or run it.

A Python CLI pays ~80 ms of imports before it does anything, twice a bare
`runc run`. So, like Mercurial's chg, the command is handed to a resident
server (`forkserver.py`) that has every module loaded and forks a child per
command: the child takes our stdin/stdout/stderr and working directory (passed
as file descriptors), our arguments, environment and umask, runs the command,
and sends its exit code back. Signals we get are forwarded to it (Ctrl-Z stops
it with us). The store stays the only state: the server holds nothing but
loaded code; a server serves only commands whose environment it started with
(`FIXED_AT_START`).

This module is what each command imports first, so it imports nothing that
costs: `_socket` and `_signal` (not `socket`, `signal`: their enums cost ms).
Whenever the server cannot take a command (none yet, stale, not root, `serve`,
`LAYERLAB_NO_SERVER=1`), the command runs here as before, and a missing
server is started in the background for the next one. The TUI is a command
like the others: Textual is loaded in the server too, so its first frame comes
sooner; the terminal's size changes are forwarded to it.
"""

from __future__ import annotations

import _signal
import _socket
import os
import sys

# A command that serves browsers for long (each starts its own TUIs) keeps its own process.
RUN_HERE = frozenset(("serve",))
# What Docker's sig-proxy forwards (all but CHLD, PIPE, URG, WINCH), and a resized terminal
# (for the TUI), which the kernel tells the terminal's foreground processes: us.
ENDING = (
    _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
    _signal.SIGUSR1, _signal.SIGUSR2,
)  # fmt: skip
# Job control (Ctrl-Z, then `fg`), as chg forwards it: the command stops (by SIGSTOP: in the
# server's orphaned process group a SIGTSTP would be discarded), then we do; as we go on, so
# does the command.
STOPPING = (_signal.SIGTSTP, _signal.SIGTTIN, _signal.SIGTTOU)
FORWARDED = (*ENDING, *STOPPING, _signal.SIGWINCH)
SERVER_DIR = "/run/layerlab"
# What an interpreter reads from its environment as it starts or imports, so that a server
# cannot take it from a command's (Mercurial's chg keys its servers on the same kinds):
# Python's settings and path, the dynamic loader's, the locale, the time zone, Textual's
# constants. Commands that differ in one of these are served by a server each. No
# LAYERLAB_ variable is read at import: every one is read when a command runs.
FIXED_AT_START = ("PYTHON", "LD_", "LC_", "LANG", "TZ", "TEXTUAL_", "ESCDELAY")


def identity() -> bytes:
    """Which code a server must have loaded to run our command: this package, this Python."""
    return f"{os.path.dirname(os.path.abspath(__file__))}\0{sys.executable}".encode()


def fixed_at_start(env: list[str]) -> list[str]:
    """The `NAME=value`s of `env` that a server must have started with to run a command."""
    return sorted(e for e in env if e.startswith(FIXED_AT_START))


def socket_path(ident: bytes, env: list[str]) -> str:
    """The server's address for `ident` and `env`: one server per checkout, interpreter and
    environment fixed at start."""
    import zlib  # a C module, cheap; the name only has to tell them apart (both are checked)

    key = b"\0".join([ident, *(os.fsencode(e) for e in fixed_at_start(env))])
    folder = os.environ.get("LAYERLAB_SERVER_DIR") or SERVER_DIR
    return f"{folder}/cli-{zlib.crc32(key):08x}.sock"


def private(folder: str) -> bool:
    """Whether only we can put a socket in `folder`: else a stranger's "server" could be
    handed our descriptors and environment, so none is used (nor started) there."""
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return True  # the server makes it, ours alone
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def entry() -> None:
    """Run `layerlab ARGS...`: through the server when it can, else in this process."""
    words = sys.argv[1:]
    ident = identity()
    env = [f"{k}={v}" for k, v in os.environ.items()]
    path = socket_path(ident, env)
    if _server_may_run(words):
        trusted = private(os.path.dirname(path))
        code = _through_server(path, ident, words, env) if trusted else None
        if code is not None:
            os._exit(code)
        if os.environ.get("LAYERLAB_SERVER_REQUIRED"):  # the tests' way to know it served
            sys.stderr.write(f"Error: no layerlab server answered at {path}\n")
            os._exit(1)
        if trusted:
            _start_server(path)
    from layerlab.main import entry as run_here

    run_here()


def _server_may_run(words: list[str]) -> bool:
    if os.environ.get("LAYERLAB_NO_SERVER") or os.geteuid() != 0:
        return False
    i = 1 if words[:1] == ["docker"] else 0  # the article's commands, typed as printed
    while i < len(words) and words[i].startswith("-"):  # global flags: only --root takes a value
        i += 2 if words[i] == "--root" else 1
    return i >= len(words) or words[i] not in RUN_HERE  # no command: the TUI, or help


def _through_server(path: str, ident: bytes, words: list[str], env: list[str]) -> int | None:
    """The command's exit code from the server; None when no server could take it."""
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(path)
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        conn.close()
        return None
    umask = os.umask(0)
    os.umask(umask)
    fields = [ident, str(umask).encode(), str(len(words)).encode()]
    fields += [os.fsencode(w) for w in words] + [os.fsencode(e) for e in env]
    payload = b"\0".join(fields)
    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, cwd))
    header = len(payload).to_bytes(8, "big")
    try:
        conn.sendmsg([header], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        conn.sendall(payload)
    except OSError:  # a closed stdin/stdout (EBADF), or the server went away
        conn.close()
        return None
    finally:
        os.close(cwd)
    return _wait(conn)


def _wait(conn: _socket.socket) -> int | None:
    """Read the server's lines: `pid N` (then signals go there), `exit N`, or `refused`."""
    pid = 0
    forwarded = 0
    buf = b""

    def forward(signum: int, _frame: object) -> None:
        nonlocal forwarded
        if signum in ENDING:
            forwarded = signum
        if pid:
            try:  # noqa: SIM105 - contextlib is an import every command would pay for
                os.kill(pid, _signal.SIGSTOP if signum in STOPPING else signum)
            except ProcessLookupError:
                pass
        if signum in STOPPING:  # we stop, as the signal's default action would, until SIGCONT
            _signal.signal(signum, _signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            _signal.signal(signum, forward)
            if pid:
                forward(_signal.SIGCONT, None)

    for signum in FORWARDED:
        _signal.signal(signum, forward)
    while True:
        try:
            chunk = conn.recv(256)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            word, _, value = line.partition(b" ")
            if word == b"pid":
                pid = int(value)
                if forwarded:  # Ctrl-C came before the command began: it ends it now
                    forward(forwarded, None)
            elif word == b"exit":
                return int(value)
            elif word == b"refused":  # stale or another checkout: run it here
                return None
    if not pid:
        return None  # the server went away before it forked: run it here
    # The command's process ended without an exit code: killed. End as it ended.
    if forwarded:
        _signal.signal(forwarded, _signal.SIG_DFL)
        os.kill(os.getpid(), forwarded)
    sys.stderr.write("Error: the command's process was killed\n")
    return 137


def _start_server(path: str) -> None:
    """Start a server for the next command, detached; this one does not wait for it."""
    null = os.O_RDWR
    try:  # noqa: SIM105 - as above
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-P", "-m", "layerlab.server.forkserver", path],  # -P: not our cwd
            os.environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, fd, os.devnull, null, 0) for fd in (0, 1, 2)],
            setsid=True,
        )
    except OSError:
        pass  # no server: every command runs in its own process, as it always could
