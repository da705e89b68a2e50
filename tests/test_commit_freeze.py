"""A commit's freeze is held by the container's shim: no commit that dies leaves it frozen
(issue 18), and `inspect` says Paused while a commit holds it (real runc, real freezer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.engine import Engine
from layerlab.runtime import cgroups
from tests.conftest import CLI, eventually

pytestmark = pytest.mark.system

# 200 MB in the writable layer: a commit copies it for long enough to be caught frozen.
WRITER = (
    "dd if=/dev/zero of=/big bs=1M count=200 2>/dev/null; touch /ready; "
    "i=0; while :; do i=$((i+1)); echo $i > /counter; usleep 2000; done"
)


def _start_writer(cli: CLI, engine: Engine, root: Path) -> str:
    """A container that writes continuously, with a big writable layer; its id."""
    assert cli("run", "-d", "--name", "writer", "busybox", "sh", "-c", WRITER).code == 0
    cid = engine.container("writer").id
    eventually(lambda: (root / "containers" / cid / "diff" / "ready").exists(), True, 60)
    return cid


def _commit(root: Path, served: bool) -> subprocess.Popen[bytes]:
    """A real `layerlab commit`: through the fork server (as typed) or in its own process."""
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    if not served:
        env["LAYERLAB_NO_SERVER"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "layerlab", "commit", "writer"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _frozen(cid: str) -> bool:
    """The cgroup's freezer state, read from the kernel (no layerlab command runs)."""
    return cgroups.frozen(cgroups.container_group(cid))


def _counter(root: Path, cid: str) -> str:
    try:
        return (root / "containers" / cid / "diff" / "counter").read_text()
    except FileNotFoundError:  # between the shell's truncation and its write
        return ""


def test_a_commit_killed_while_it_holds_the_freeze_leaves_it_running(
    cli: CLI, engine: Engine, root: Path
) -> None:
    cid = _start_writer(cli, engine, root)
    images = len(engine.images(all=True))
    killed_mid_commit = 0
    for trial in range(6):
        served = trial % 2 == 0  # the client killed (its command goes with it), or the command
        proc = _commit(root, served)
        eventually(lambda: _frozen(cid), True, 60)
        if not served and trial == 1:  # held frozen by a stopped commit: shown as paused
            proc.send_signal(signal.SIGSTOP)
            status = cli("inspect", "-f", "{{.State.Paused}} {{.State.Status}}", "writer").out
            assert status == "true paused\n"
            assert "(Paused)" in cli("ps", "--format", "{{.Status}}").out
        proc.kill()
        proc.wait()
        # No layerlab command runs from here until it is thawed: its shim must do it.
        eventually(lambda: _frozen(cid), False, 30)
        before = _counter(root, cid)
        eventually(lambda b=before: _counter(root, cid) not in ("", b), True, 30)  # it runs
        now = len(engine.images(all=True))
        killed_mid_commit += now == images
        images = now
    print(f"{killed_mid_commit} of 6 commits were killed before their image was written")
    assert killed_mid_commit >= 1
    assert cli("inspect", "-f", "{{.State.Paused}} {{.State.Status}}", "writer").out == (
        "false running\n"
    )
    assert cli("exec", "writer", "echo", "alive").out == "alive\n"
    assert cli("commit", "writer", "after:kills").code == 0  # and it cleans what they left
    assert not _frozen(cid)
    assert cli("system", "check").out.strip() == "the store is consistent"


def test_a_commit_leaves_a_paused_container_paused_and_a_running_one_running(
    cli: CLI, engine: Engine
) -> None:
    assert cli("run", "-d", "--name", "sleeper", "busybox", "sleep", "300").code == 0
    cid = engine.container("sleeper").id
    assert cli("commit", "sleeper").code == 0
    assert not _frozen(cid)
    assert cli("pause", "sleeper").code == 0
    assert cli("commit", "sleeper").code == 0
    assert _frozen(cid)
    assert cli("inspect", "-f", "{{.State.Paused}}", "sleeper").out == "true\n"
    assert cli("unpause", "sleeper").code == 0
    assert not _frozen(cid)
