"""Failures told as what they are, in Docker's words, with nothing left half-written.

Docker's answers quoted here: `docker run --cpus=nan busybox true` -> `invalid argument "nan"
for "--cpus" flag: failed to parse nan as a rational number` (opts.ParseCPUs), exit 125;
`--cpu-shares=-5` -> `shares: invalid argument` (its daemon, as it makes the spec).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerlab import libc
from layerlab.engine import Engine

from .conftest import CLI, eventually

NAN = 'invalid argument "nan" for "--cpus" flag: failed to parse nan as a rational number'

pytestmark = pytest.mark.system


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--cpus=nan", NAN),
        ("--cpus=inf", NAN.replace("nan", "inf")),
        ("--cpus=0.000000001", None),  # one nano-CPU: precise enough
        ("--cpus=0.0000000001", 'invalid argument "0.0000000001" for "--cpus" flag: value is too'),
        ("--cpus=1e400", "Range of CPUs is from 0.01 to"),
        ("--cpu-shares=-5", "shares: invalid argument"),
        ("--memory=nan", 'invalid argument "nan" for "--memory" flag: invalid size'),
        ("--memory-swap=nan", 'invalid argument "nan" for "--memory-swap" flag: invalid size'),
    ],
)  # fmt: skip
def test_a_bad_limit_flag_is_named_not_the_store_s_daemon_json(
    cli: CLI, flag: str, message: str | None
) -> None:
    r = cli("run", "--rm", flag, "busybox", "true")
    if message is None:
        assert (r.code, r.err) == (0, "")
        return
    assert r.code == 125 and r.err.startswith(f"Error: {message}"), r.err
    assert len(r.err.splitlines()) == 1 and "daemon.json" not in r.err
    assert cli("ps", "-aq").out == ""  # nothing created


def test_update_names_the_flag_and_daemon_json_is_blamed_only_for_its_own_values(
    cli: CLI,
) -> None:
    assert cli("create", "--name", "he-up", "busybox").code == 0
    r = cli("update", "--cpus", "nan", "he-up")
    assert (r.code, r.err) == (1, f"Error: {NAN}\n")
    (cli.root / "daemon.json").write_text('{"default-cpus": "nan"}')
    r = cli("run", "--rm", "busybox", "true")
    assert r.code == 125 and "daemon.json: failed to parse nan as a rational number" in r.err
    assert cli("run", "--rm", "--cpus", "1", "busybox", "true").code == 0  # the flag wins


# --- a full disk ------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[CLI, Path]]:
    """A store on a tmpfs of its own, 16 MB, that a test fills; unmounted after."""
    disk = tmp_path / "disk"
    disk.mkdir()
    libc.mount("tmpfs", str(disk), "tmpfs", 0, "size=16m")
    try:
        cli = CLI(disk / "store")
        assert cli("create", "--name", "he-first", "busybox").code == 0  # busybox made
        yield cli, disk
        engine = Engine(disk / "store")
        for container in engine.containers(all=True):
            engine.rm(container.id, force=True)
    finally:
        libc.umount(str(disk), libc.MNT_DETACH)


def fill(disk: Path, leave: int) -> None:
    """A file that leaves `leave` bytes of the disk free."""
    vfs = os.statvfs(disk)
    with open(disk / "filler", "wb") as f:
        f.truncate(0)
        f.write(b"\0" * (vfs.f_bavail * vfs.f_frsize - leave))


def store_state(store: Path) -> dict[str, object]:
    """What a failed command must leave as it was: layers, images, tags, scratch work."""
    return {
        "layers": sorted(os.listdir(store / "layers")),
        "images": sorted(os.listdir(store / "images")),
        "tags": (store / "repositories.json").read_text(),
        "tmp": sorted(os.listdir(store / "tmp")) if (store / "tmp").exists() else [],
    }


def test_a_commit_on_a_full_disk_says_so_and_leaves_nothing(
    small_disk: tuple[CLI, Path],
) -> None:
    cli, disk = small_disk
    made = cli("run", "--name", "he-big", "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1M",
               "count=2")  # fmt: skip
    assert made.code == 0, made.err
    before = store_state(cli.root)
    fill(disk, 1 << 20)  # 1 MB left: the 2 MB layer cannot be copied
    r = cli("commit", "he-big", "big:1")
    assert (r.code, r.err) == (1, f"Error: write {cli.root}: no space left on device\n")
    assert store_state(cli.root) == before
    (disk / "filler").unlink()
    assert cli("commit", "he-big", "big:1").code == 0  # the store works on


def test_a_build_on_a_full_disk_tells_the_engine_s_failure(
    small_disk: tuple[CLI, Path], tmp_path: Path
) -> None:
    """The RUN's output outgrows the disk: its log loses lines, as Docker's json-file
    drops what it cannot write, and the container's own exit code stands (it was 255)."""
    cli, disk = small_disk
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN yes hello | head -c 3000000\n")
    fill(disk, 512 << 10)
    r = cli("build", "-t", "loud", str(context))
    assert "non-zero code" not in r.out + r.err
    if r.code == 0:
        assert "Successfully built" in r.out
    else:  # the step's commit found no room left
        assert r.err.splitlines()[-1] == f"write {cli.root}: no space left on device"
    assert cli("ps", "-aq").out.split() == [cli("ps", "-aq", "-f", "name=he-first").out.strip()]


# --- a foreground container's shim killed -------------------------------------------------
@pytest.mark.parametrize("remove", [False, True])
def test_a_killed_shim_under_a_foreground_run_is_told(
    cli: CLI, engine: Engine, root: Path, tmp_path: Path, remove: bool
) -> None:
    out, err = tmp_path / "out", tmp_path / "err"
    argv = ["run", *(["--rm"] if remove else []), "--name", "he-fg", "busybox"]
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "layerlab", *argv, "sh", "-c", "echo up; sleep 300"],
            env=dict(os.environ, LAYERLAB_ROOT=str(root)), stdin=subprocess.DEVNULL,
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
    try:
        eventually(out.read_text, "up\n", timeout=60)
        cid = engine.container("he-fg").id
        shim = int((root / "containers" / cid / "shim.pid").read_text())
        os.kill(shim, signal.SIGKILL)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = f"Error: the container's shim (pid {shim}) died while it ran: layerlab stopped its"
    assert code == 255 and err.read_text().startswith(said), (code, err.read_text())
    assert len(err.read_text().splitlines()) == 1
    listed = cli("ps", "-a", "--format", "{{.Names}} {{.Status}}").out
    assert ("he-fg" not in listed) if remove else listed.startswith("he-fg Exited (255)")
    assert cli("system", "check").out.strip() == "the store is consistent"
