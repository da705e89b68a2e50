"""Every test gets its own store root; containers it started are stopped and removed after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from layerlab.engine import Engine


def eventually(read: Callable[[], object], want: object, timeout: float = 20) -> None:
    """Wait for state: re-read `read()` until it equals `want`; fail naming the last value.

    The deadline is a hang guard, not a measure: a busy CI machine may be slow.
    """
    deadline = time.monotonic() + timeout
    while (got := read()) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r}, waiting for {want!r}")
        time.sleep(0.02)


@pytest.fixture(autouse=True, scope="session")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The CLI as a user gets it: through the resident fork server (client.py), one of the
    session's own, ended (by its pid, in its lock file) when the session is done."""
    folder = tmp_path_factory.mktemp("server")
    saved = os.environ.get("LAYERLAB_SERVER_DIR")
    os.environ["LAYERLAB_SERVER_DIR"] = str(folder)
    yield folder
    if saved is None:
        del os.environ["LAYERLAB_SERVER_DIR"]
    else:
        os.environ["LAYERLAB_SERVER_DIR"] = saved
    end_servers(folder)


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
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def engine(root: Path) -> Iterator[Engine]:
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
