"""A file the user names on the host is theirs: devices are refused and stay devices, a FIFO
is written in place, a regular file is replaced only whole.

Every node here is made with mknod/mkfifo in the test's own temporary folder, never in /dev.
Docker's words: `docker save -o /dev/random x` -> "failed to save image: cannot write to a
character device file" (its atomic writer); `docker cp c:/f /dev/null` -> `invalid output path:
"/dev/null" must be a directory or a regular file: got a device` (ValidateOutputPath).
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.lessons.progress import Progress
from layerlab.tui import history

from .conftest import CLI

pytestmark = pytest.mark.system

CHAR = os.makedev(1, 3)  # what /dev/null is: harmless even if it were opened
BLOCK = os.makedev(240, 0)  # a "local use" major with no driver: opening it fails


@pytest.fixture
def nodes(tmp_path: Path) -> Path:
    """A folder with a character device, a block device and a symlink to the former."""
    folder = tmp_path / "nodes"
    folder.mkdir()
    os.mknod(folder / "char", stat.S_IFCHR | 0o666, CHAR)
    os.mknod(folder / "block", stat.S_IFBLK | 0o600, BLOCK)
    (folder / "link").symlink_to(folder / "char")
    return folder


def assert_nodes_intact(folder: Path) -> None:
    assert stat.S_ISCHR(os.lstat(folder / "char").st_mode)
    assert os.lstat(folder / "char").st_rdev == CHAR
    assert stat.S_ISBLK(os.lstat(folder / "block").st_mode)
    assert os.lstat(folder / "block").st_rdev == BLOCK
    assert os.readlink(folder / "link") == str(folder / "char")
    assert sorted(p.name for p in folder.iterdir()) == ["block", "char", "link"]  # no temp left


class FifoReader:
    """A FIFO at `path` read whole by a thread of its own, as the other end of a pipe is."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.data = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.path, "rb") as f:
            self.data = f.read()

    def received(self) -> bytes:
        self.thread.join(60)  # hang guard: the writer closes its end when done
        assert not self.thread.is_alive(), "the FIFO was never written and closed"
        assert stat.S_ISFIFO(os.lstat(self.path).st_mode)
        return self.data


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


@pytest.mark.parametrize(
    ("command", "failed"),
    [("save", "failed to save image"), ("export", "failed to export container")],
)
def test_save_and_export_refuse_devices_and_leave_them_devices(
    cli: CLI, nodes: Path, command: str, failed: str
) -> None:
    assert cli("create", "--name", "ho-exp", "busybox").code == 0
    subject = "busybox" if command == "save" else "ho-exp"
    for name, words in [
        ("char", "cannot write to a character device file"),
        ("link", "cannot write to a character device file"),  # a symlink is what it points at
        ("block", "cannot write to a block device file"),
    ]:
        r = cli(command, "-o", str(nodes / name), subject)
        assert (r.code, r.err) == (1, f"Error: {failed}: {words}\n"), name
        assert_nodes_intact(nodes)


@pytest.mark.parametrize("command", ["save", "export"])
def test_save_and_export_write_a_fifo_in_place(cli: CLI, tmp_path: Path, command: str) -> None:
    assert cli("create", "--name", "ho-fifo", "busybox").code == 0
    fifo = FifoReader(tmp_path / "pipe")
    r = cli(command, "-o", str(fifo.path), "busybox" if command == "save" else "ho-fifo")
    assert r.code == 0, r.err
    names = tar_names(fifo.received())
    assert "manifest.json" in names if command == "save" else "bin/busybox" in names


def layerlab_bytes(root: Path, *args: str, stdout: int | io.BufferedWriter) -> int:
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    return subprocess.run(
        [sys.executable, "-m", "layerlab", *args], env=env, stdout=stdout,
        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60,
    ).returncode  # fmt: skip


# /proc/self/fd/1 is what /dev/stdout links to; named here so that a regression could
# never put a file in the host's /dev (procfs refuses new files)
STDOUT = "/proc/self/fd/1"


def test_save_to_dev_stdout_writes_where_stdout_goes(cli: CLI, root: Path, tmp_path: Path) -> None:
    # a pipe: the bytes come through it
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    piped = subprocess.run(
        [sys.executable, "-m", "layerlab", "save", "-o", STDOUT, "busybox"],
        env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "manifest.json" in tar_names(piped.stdout)
    # a file opened for appending (`>> log`): what it held stays, the tar comes after it
    log = tmp_path / "log"
    log.write_bytes(b"kept\n")
    with open(log, "ab") as out:
        assert layerlab_bytes(root, "save", "-o", STDOUT, "busybox", stdout=out) == 0
    data = log.read_bytes()
    assert data.startswith(b"kept\n") and "manifest.json" in tar_names(data[5:])


def test_cp_out_refuses_devices_and_writes_a_fifo_in_place(
    engine: Engine, cli: CLI, nodes: Path, tmp_path: Path
) -> None:
    engine.create("busybox", CreateOptions(command=["true"], name="ho-cp"))
    for name in ("char", "link", "block"):
        r = cli("cp", "ho-cp:/etc/passwd", str(nodes / name))
        got = f'"{nodes / name}" must be a directory or a regular file: got a device'
        assert (r.code, r.err) == (1, f"Error: invalid output path: {got}\n"), name
        assert_nodes_intact(nodes)
    # a folder holding a device where the copy would land: the device stays
    (nodes / "dir" / "etc").mkdir(parents=True)
    os.mknod(nodes / "dir" / "etc" / "passwd", stat.S_IFCHR | 0o666, CHAR)
    r = cli("cp", "ho-cp:/etc", str(nodes / "dir"))
    assert r.code == 1 and "cannot replace a device" in r.err
    assert os.lstat(nodes / "dir" / "etc" / "passwd").st_rdev == CHAR
    # a FIFO receives the file's bytes and stays a FIFO
    fifo = FifoReader(tmp_path / "pipe")
    assert cli("cp", "ho-cp:/etc/passwd", str(fifo.path)).code == 0
    assert fifo.received().startswith(b"root:x:0:0:")


def test_cidfile_on_a_device_is_refused_and_left_alone(cli: CLI, nodes: Path) -> None:
    r = cli("run", "--rm", "--cidfile", str(nodes / "char"), "busybox", "true")
    assert r.code == 125 and "container ID file found" in r.err
    assert_nodes_intact(nodes)


def test_lesson_record_refuses_a_device(tmp_path: Path, nodes: Path) -> None:
    target = tmp_path / "01-dev.yaml"
    target.symlink_to(nodes / "char")
    env = dict(os.environ, LAYERLAB_ROOT=str(tmp_path / "learner"),
               LAYERLAB_LESSON_TMP=str(tmp_path))  # fmt: skip
    made = subprocess.run(
        [sys.executable, "-m", "layerlab", "lesson", "record", "dev", "-o", str(target)],
        env=env, input="images\ndone\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 1
    assert made.stderr.endswith(
        "failed to write the lesson: cannot write to a character device file\n"
    )
    assert target.is_symlink() and stat.S_ISCHR(os.stat(target).st_mode)
    assert_nodes_intact(nodes)


def in_thread(work: Callable[[], object]) -> None:
    """Run `work`; a FIFO opened for reading or writing would block it: fail, never hang."""
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(30), "blocked on the state file"


def test_state_files_that_are_no_regular_files_are_not_kept(tmp_path: Path) -> None:
    """The TUI's history and the course progress: a FIFO or device there is left alone."""
    state = tmp_path / "nodes"
    state.mkdir()
    os.mkfifo(state / "history")
    os.mknod(state / "progress.json", stat.S_IFCHR | 0o666, CHAR)
    os.mkfifo(state / "progress-fifo.json")
    in_thread(lambda: history.load(state / "history"))
    in_thread(lambda: history.append(state / "history", "ps -a"))
    for name in ("progress.json", "progress-fifo.json"):
        in_thread(lambda name=name: Progress.load(state / name).finish("first"))  # type: ignore[misc]
    assert stat.S_ISFIFO(os.lstat(state / "history").st_mode)
    assert os.lstat(state / "progress.json").st_rdev == CHAR
    assert stat.S_ISFIFO(os.lstat(state / "progress-fifo.json").st_mode)
    assert sorted(p.name for p in state.iterdir()) == [
        "history", "progress-fifo.json", "progress.json",
    ]  # fmt: skip


def test_a_symlink_to_a_regular_file_is_written_through(cli: CLI, tmp_path: Path) -> None:
    """The file the link names gets the tar, whole; the link stays a link. A link to
    nothing is refused, as Docker's atomic writer refuses every link."""
    real, link, dangling = tmp_path / "real.tar", tmp_path / "link.tar", tmp_path / "gone.tar"
    real.write_bytes(b"old")
    link.symlink_to(real)
    dangling.symlink_to(tmp_path / "nothing")
    assert cli("save", "-o", str(link), "busybox").code == 0
    assert link.is_symlink() and "manifest.json" in tar_names(real.read_bytes())
    r = cli("save", "-o", str(dangling), "busybox")
    assert (r.code, r.err) == (
        1,
        "Error: failed to save image: cannot write to a symbolic link directly\n",
    )
    assert dangling.is_symlink() and not (tmp_path / "nothing").exists()
