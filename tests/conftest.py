"""Every test gets its own store root; containers it started are stopped and removed after.

Every test is of one of two kinds, marked in its file (`pytestmark`, or per test where a file
mixes them): `system` tests start runc, containers, the fork server, mounts or a served TUI;
`unit` tests start none of these, and are held to it here: a unit test that spawns runc or the
CLI, mounts, binds a socket or asks for the engine fails. So `pytest -m "not system"` is quick
and safe on any machine, and it is checked, not hoped.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from layerlab import libc
from layerlab.engine import Engine

SYSTEM, UNIT = "system", "unit"


def eventually(read: Callable[[], object], want: object, timeout: float = 20) -> None:
    """Wait for state: re-read `read()` until it equals `want`; fail naming the last value.

    The deadline is a hang guard, not a measure: a busy CI machine may be slow.
    """
    deadline = time.monotonic() + timeout
    while (got := read()) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r}, waiting for {want!r}")
        time.sleep(0.02)


async def eventually_async(read: Callable[[], object], want: object, timeout: float = 20) -> None:
    """`eventually`, for a test on an event loop: waits without stopping the loop."""
    deadline = time.monotonic() + timeout
    while (got := read()) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r}, waiting for {want!r}")
        await asyncio.sleep(0.02)


def kind_of(item: pytest.Item) -> str | None:
    """`system` if the test or its file is marked so (a mixed file marks its system tests one by
    one over a file-wide `unit`), else `unit` if marked so, else None."""
    names = {mark.name for mark in item.iter_markers()}
    return SYSTEM if SYSTEM in names else UNIT if UNIT in names else None


def pytest_configure(config: pytest.Config) -> None:
    """A pytest-xdist worker is given an 80x24 terminal's COLUMNS and LINES: a TUI or a CLI the
    tests start would take them for the user's terminal. Each worker runs as `pytest` alone."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if kind_of(item) is None]
    if unmarked:
        raise pytest.UsageError(
            f"{len(unmarked)} tests are neither `system` nor `unit` (mark their file with "
            f"pytestmark): {', '.join(unmarked[:5])}"
        )


class Refused(Exception):
    """What a unit test did that only a system test may do."""


# While a unit test runs: what it tried that it may not (kept even if the code under test
# swallowed the Refused exception), else None.
_unit_attempts: list[str] | None = None


def _forbidden(event: str, args: tuple[Any, ...]) -> str | None:
    """What a spawn or a bind starts, if it is runc, the CLI, a shim, a server or a served TUI.

    A bound UNIX socket is a file in a tree (the fork server's is bound in its own process).
    """
    if event == "socket.bind":
        served = args[0].family in {socket.AF_INET, socket.AF_INET6}
        return f"serves on {args[1]!r}" if served else None
    words = [os.fsdecode(word) for word in args[1]]  # Popen's, posix_spawn's, exec's argv
    program = Path(words[0]).name if words else ""
    module = words[words.index("-m") + 1] if "-m" in words[:-1] else ""
    code = words[words.index("-c") + 1] if "-c" in words[:-1] else ""
    if (
        program in {"runc", "layerlab", "tini"}
        or module.split(".")[0] == "layerlab"
        or "layerlab" in code
    ):
        return f"spawns {shlex.join(words)[:120]}"
    return None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _unit_attempts is None or event not in {
        "subprocess.Popen", "os.posix_spawn", "os.exec", "socket.bind"
    }:  # fmt: skip
        return
    if what := _forbidden(event, args):
        _unit_attempts.append(what)
        raise Refused(f"a unit test {what}: mark it `system`")


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def test_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A unit test is refused what only a system test may do, and fails if it tried."""
    global _unit_attempts
    kind = kind_of(request.node)
    assert kind is not None
    if kind == SYSTEM:
        yield kind
        return
    attempts: list[str] = []

    def refuse(name: str) -> Callable[..., None]:
        def call(*args: object) -> None:
            attempts.append(f"calls {name}{args}")
            raise Refused(f"a unit test calls {name}: mark it `system`")

        return call

    for name in ("mount", "umount", "unshare", "setns"):
        monkeypatch.setattr(libc, name, refuse(name))
    _unit_attempts = attempts
    try:
        yield kind
    finally:
        _unit_attempts = None
    assert not attempts, f"a unit test {attempts[0]}: mark it `system`"


@pytest.fixture(autouse=True, scope="session")
def fork_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | None]:
    """The CLI as a user gets it: through the resident fork server (client.py), one of the
    session's own, ended (by its pid, in its lock file) when the session is done. A session
    of unit tests alone has none, and none can start (LAYERLAB_NO_SERVER)."""
    if not any(kind_of(item) == SYSTEM for item in request.session.items):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LAYERLAB_NO_SERVER", "1")
            yield None
        return
    folder = tmp_path_factory.mktemp("server")
    saved = os.environ.get("LAYERLAB_SERVER_DIR")
    os.environ["LAYERLAB_SERVER_DIR"] = str(folder)
    yield folder
    if saved is None:
        del os.environ["LAYERLAB_SERVER_DIR"]
    else:
        os.environ["LAYERLAB_SERVER_DIR"] = saved
    end_servers(folder)


@pytest.fixture(scope="session")
def referee(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Docker 20.10's daemon, started for this session (one per pytest-xdist worker) in its own
    folder, with busybox imported: the referee side-by-side tests compare with; None where
    dockerd is not installed (Debian's docker.io)."""
    from . import docker_side  # it imports this module

    started = docker_side.start_daemon(tmp_path_factory.mktemp("dockerd"))
    if started is None:
        yield None
        return
    daemon, proc = started
    yield daemon
    docker_side.stop_daemon(proc)


@pytest.fixture
def real_docker(referee: Any) -> Any:
    """The referee daemon, for a test that is about Docker itself: skipped without one."""
    if referee is None:
        pytest.skip("no dockerd on this machine (Debian's docker.io)")
    return referee


def end_servers(folder: Path) -> None:
    """End the fork servers answering in `folder`, and wait until they are gone."""
    for lock in folder.glob("*.lock"):
        try:
            proc = psutil.Process(int(lock.read_text()))
            if "layerlab.server.forkserver" in " ".join(proc.cmdline()):
                proc.terminate()
                proc.wait(30)
        except (OSError, ValueError, psutil.NoSuchProcess):
            continue


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The TUI keeps its command history in the XDG state dir: a test's own, never the user's."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def lesson_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Lesson sandboxes under the test's temp folder, progress in its own state folder."""
    sandboxes = tmp_path / "sandboxes"
    sandboxes.mkdir()
    monkeypatch.setenv("LAYERLAB_LESSON_TMP", str(sandboxes))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    yield sandboxes
    assert list(sandboxes.iterdir()) == []  # every sandbox removed, with its containers


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def engine(root: Path, test_kind: str) -> Iterator[Engine]:
    if test_kind != SYSTEM:
        pytest.fail("a unit test starts no engine: mark it `system`", pytrace=False)
    eng = Engine(root)
    yield eng
    for container in eng.containers(all=True):
        eng.rm(container.id, force=True)


@dataclass
class Result:
    code: int
    out: str
    err: str


class CLI:
    """The real command line, as a user runs it, against the test's store."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60) -> Result:
        env = dict(os.environ, LAYERLAB_ROOT=str(self.root))
        proc = subprocess.run(
            [sys.executable, "-m", "layerlab", *args],
            capture_output=True,
            text=True,
            input=input,
            env=env,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(root: Path, engine: Engine) -> CLI:
    return CLI(root)
