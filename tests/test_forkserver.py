"""The resident fork server (client.py, forkserver.py): a command handed to it behaves as one
run in its own process - its output, input, exit code, directory, umask, environment,
signals - and the server never outlives its code, its idleness, or a rival."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from layerlab.server.client import _server_may_run
from tests.conftest import end_servers, eventually

pytestmark = pytest.mark.system

APP = Path(__file__).resolve().parent.parent / "app"


class Served:
    """`layerlab` commands with a server folder of their own; its servers are ended after."""

    def __init__(self, root: Path, folder: Path, **env: str) -> None:
        self.folder = folder
        self.env = dict(os.environ, LAYERLAB_ROOT=str(root), LAYERLAB_SERVER_DIR=str(folder), **env)
        self.env.pop("LAYERLAB_NO_SERVER", None)

    def popen(self, *args: str, **kw: object) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "layerlab", *args]
        return subprocess.Popen(cmd, env=self.env, text=True, **kw)  # type: ignore[call-overload]

    def __call__(self, *args: str, input: str | None = None, cwd: Path | None = None) -> tuple:
        proc = subprocess.run(
            [sys.executable, "-m", "layerlab", *args], env=self.env, text=True, input=input,
            capture_output=True, cwd=cwd, timeout=60,
            stdin=None if input is not None else subprocess.DEVNULL,
        )  # fmt: skip
        return proc.returncode, proc.stdout, proc.stderr

    def server(self) -> int | None:
        """The pid of the server answering here, None while there is none."""
        for lock in self.folder.glob("cli-*.sock.lock"):
            sock = lock.with_name(lock.name.removesuffix(".lock"))
            try:
                pid = int(lock.read_text())
            except (OSError, ValueError):
                continue
            if sock.exists() and psutil.pid_exists(pid):
                return pid
        return None

    def started(self, only: bool = True) -> int:
        """A command, then the server it started, once it answers; `only`: every command
        after must be run by a server (none runs in its own process unnoticed)."""
        assert self("version", "--format", "{{.Client.Version}}")[0] == 0
        eventually(lambda: self.server() is not None, True)
        pid = self.server()
        assert pid is not None
        if only:
            self.env["LAYERLAB_SERVER_REQUIRED"] = "1"
        return pid

    def end(self) -> None:
        end_servers(self.folder)


@pytest.fixture
def served(root: Path, tmp_path: Path, engine: object) -> Iterator[Served]:
    s = Served(root, tmp_path / "server")
    yield s
    s.end()


def child_of(server: int, client: subprocess.Popen[str]) -> psutil.Process:
    """The command the server runs for `client`: the child holding its stdout pipe (a child
    for an earlier command may not be reaped yet, so "the one child" could be that one)."""
    assert client.stdout is not None
    pipe = os.readlink(f"/proc/self/fd/{client.stdout.fileno()}")

    def find() -> psutil.Process | None:
        for child in psutil.Process(server).children():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{child.pid}/fd/1") == pipe:
                    return child
        return None

    eventually(lambda: find() is not None, True)
    found = find()
    assert found is not None
    return found


def test_a_command_runs_in_a_server_child_with_our_output_and_directory(
    served: Served, tmp_path: Path
) -> None:
    server = served.started()
    code, cid, err = served("run", "-d", "busybox", "sh", "-c", "echo hello; sleep 60")
    assert code == 0, err
    here = tmp_path / "here"
    here.mkdir()
    follow = served.popen("logs", "-f", cid.strip(), stdout=subprocess.PIPE, cwd=here)
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "hello\n"
        child = child_of(server, follow)  # it holds our pipe as its stdout
        assert child.cwd() == str(here)
        follow.terminate()  # forwarded: the command ends as it would have, by SIGTERM
        assert follow.wait(30) == -signal.SIGTERM
        eventually(lambda: psutil.Process(server).children(), [])
    finally:
        follow.kill()


def test_exit_codes_streams_and_input_are_the_commands(served: Served) -> None:
    served.started()
    script = "cat; echo err >&2; exit 3"
    assert served("run", "--rm", "-i", "busybox", "sh", "-c", script, input="piped\n") == (
        3, "piped\n", "err\n",
    )  # fmt: skip
    code, out, err = served("ps", "--bogus")
    assert (code, out) == (125, "") and "unknown flag: --bogus" in err
    assert served("--version")[:2] == (0, "layerlab 0.1.0\n")


def test_each_command_has_its_own_store_directory_and_umask(served: Served, tmp_path: Path) -> None:
    served.started()
    assert served("create", "--name", "mine", "busybox")[0] == 0
    other = Served(tmp_path / "other-store", served.folder, LAYERLAB_SERVER_REQUIRED="1")
    assert other("ps", "-aq")[:2] == (0, "")  # the same server, another store
    here = tmp_path / "cwd"
    here.mkdir()
    umask = os.umask(0o027)
    try:
        code, _, err = served("export", "-o", "rel.tar", "mine", cwd=here)
    finally:
        os.umask(umask)
    assert code == 0, err
    assert (here / "rel.tar").stat().st_mode & 0o777 == 0o640


def test_ctrl_c_reaches_the_container_through_the_server(served: Served) -> None:
    served.started()
    script = 'trap "exit 7" INT; echo ready; sleep 60 & wait'
    run = served.popen("run", "--rm", "busybox", "sh", "-c", script, stdout=subprocess.PIPE)
    try:
        assert run.stdout is not None and run.stdout.readline() == "ready\n"
        run.send_signal(signal.SIGINT)
        assert run.wait(30) == 7
    finally:
        run.kill()


def test_a_killed_client_takes_its_command_with_it(served: Served) -> None:
    """Killed at once, as soon as its command is forked (before it listens for a hangup),
    or before it read the command's first words (the command then sees ECONNRESET, not an
    end): the command ends. Eight times, to meet those moments (one in ~10 did once)."""
    server = served.started()
    code, cid, _ = served("run", "-d", "busybox", "sleep", "60")
    assert code == 0
    for _ in range(8):
        waiting = served.popen("wait", cid.strip(), stdout=subprocess.PIPE)
        try:
            child = child_of(server, waiting)
            waiting.kill()
            waiting.wait(30)
            eventually(child.is_running, False)
        finally:
            waiting.kill()


def test_a_shim_is_a_process_of_its_own_with_the_commands_environment(
    served: Served, root: Path
) -> None:
    """`ps` tells a container's shim from the server (its name, its command line naming the
    container), and its environment is the command's, not the server's first client's."""
    server = served.started()
    served.env["LAYERLAB_TEST_MARK"] = "this command's"
    code, cid, err = served("run", "-d", "busybox", "sleep", "60")
    assert code == 0, err
    shim = psutil.Process(int((root / "containers" / cid.strip() / "shim.pid").read_text()))
    assert shim.name() == "layerlab-shim"
    assert shim.cmdline()[-4:-1] == ["layerlab.runtime.shim", str(root), cid.strip()]
    assert shim.environ().get("LAYERLAB_TEST_MARK") == "this command's"
    assert "LAYERLAB_TEST_MARK" not in psutil.Process(server).environ()


def test_ctrl_z_stops_the_command_and_fg_goes_on(served: Served) -> None:
    """Job control: the client stopped (SIGTSTP) stops its command too; SIGCONT (`fg`)
    lets both go on. The client is a job of its own, as a shell starts it (in an orphaned
    process group, one whose parent is in another session, the kernel would not stop it)."""
    server = served.started()
    code, cid, _ = served("run", "-d", "busybox", "sleep", "60")
    assert code == 0
    waiting = served.popen("wait", cid.strip(), stdout=subprocess.PIPE, process_group=0)
    try:
        child = child_of(server, waiting)
        client = psutil.Process(waiting.pid)
        waiting.send_signal(signal.SIGTSTP)
        eventually(child.status, psutil.STATUS_STOPPED)
        eventually(client.status, psutil.STATUS_STOPPED)
        waiting.send_signal(signal.SIGCONT)
        eventually(lambda: child.status() != psutil.STATUS_STOPPED, True)
        assert served("kill", cid.strip())[0] == 0
        out, _ = waiting.communicate(timeout=30)
        assert (waiting.returncode, out) == (0, "137\n")
    finally:
        waiting.kill()


def test_an_environment_read_at_start_gets_a_server_of_its_own(served: Served) -> None:
    """A server's interpreter took its locale, time zone, Python's and the loader's settings
    from the environment it started with: a command with others is not served by it."""
    first = served.started()
    served.env["TZ"] = "Europe/Paris"
    code, _, err = served("ps", "-q")
    assert code == 1 and "no layerlab server answered" in err
    del served.env["LAYERLAB_SERVER_REQUIRED"]
    assert served("ps", "-q")[:2] == (0, "")  # run by itself, and it starts a server for TZ
    served.env["LAYERLAB_SERVER_REQUIRED"] = "1"
    eventually(lambda: served("ps", "-q")[0], 0)
    served.env["LAYERLAB_OTHER"] = "not read at start"  # and the same server takes it
    assert served("ps", "-q")[:2] == (0, "")
    assert psutil.pid_exists(first)


def test_a_changed_source_retires_the_server(root: Path, tmp_path: Path, engine: object) -> None:
    """A copy of the code, so that it can change: the next command runs that change."""
    copy = tmp_path / "app"
    shutil.copytree(
        APP / "layerlab", copy / "layerlab", ignore=shutil.ignore_patterns("__pycache__")
    )
    s = Served(root, tmp_path / "server", PYTHONPATH=str(copy))
    try:
        first = s.started(only=False)
        names = copy / "layerlab" / "storage" / "names.py"
        os.utime(names, ns=(names.stat().st_atime_ns, names.stat().st_mtime_ns + 10**9))
        assert s("ps", "-aq")[:2] == (0, "")  # run by the client itself, and right
        eventually(lambda: psutil.pid_exists(first), False)
        eventually(lambda: s.server() not in (None, first), True)  # and a new one for the next
    finally:
        s.end()


def test_an_idle_server_leaves_and_takes_its_address(
    root: Path, tmp_path: Path, engine: object
) -> None:
    # Idle long enough to be seen answering on a loaded machine, short enough to wait for.
    s = Served(root, tmp_path / "server", LAYERLAB_SERVER_IDLE="5")
    try:
        pid = s.started(only=False)
        eventually(lambda: psutil.pid_exists(pid), False)
        assert list(s.folder.glob("*.sock")) == []
    finally:
        s.end()


def test_commands_started_together_start_one_server(served: Served) -> None:
    procs = [served.popen("ps", "-q", stdout=subprocess.PIPE) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    for p in procs:
        assert p.stdout is not None
        p.stdout.close()
    eventually(lambda: served.server() is not None, True)

    def servers() -> int:
        found = 0
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            found += "layerlab.server.forkserver" in cmdline and str(served.folder) in cmdline
        return found

    eventually(servers, 1)  # the others found it taken, and left


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["run", "--rm", "busybox"], True),
        (["docker", "ps", "-a"], True),
        (["--root", "/tmp/x", "images"], True),
        (["--root=/tmp/x", "build", "."], True),
        ([], True),  # the TUI, or help
        (["tui"], True),
        (["--root", "/tmp/x"], True),
        (["lesson", "run", "1", "--auto"], True),
        (["serve"], False),
        (["--root", "/tmp/x", "serve", "--port", "0"], False),
    ],
)
def test_which_commands_go_to_the_server(
    words: list[str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command but `serve` (which serves browsers for long, each its own TUI)."""
    monkeypatch.delenv("LAYERLAB_NO_SERVER", raising=False)
    assert _server_may_run(words) is expected


def test_the_client_imports_nothing_that_costs() -> None:
    """Every command imports client.py first: Python's start plus this, then the server."""
    code = (
        "import sys; before = set(sys.modules); import layerlab.server.client; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(eval(out.stdout)) <= {
        "layerlab",
        "layerlab.server",  # its docstring only
        "layerlab.server.client",
        "_signal",
        "_socket",
        "__future__",
    }


def test_a_server_folder_others_can_write_to_is_not_used(served: Served) -> None:
    """A socket there could be anyone's: our descriptors and environment stay ours."""
    served.folder.mkdir(mode=0o777)
    served.folder.chmod(0o777)
    assert served("ps", "-q")[:2] == (0, "")  # run by the client itself
    served.env["LAYERLAB_SERVER_REQUIRED"] = "1"
    code, _, err = served("ps", "-q")
    assert code == 1 and "no layerlab server answered" in err
    assert list(served.folder.iterdir()) == []  # and none was started there


def test_a_command_has_its_clients_limits(served: Served) -> None:
    """`ulimit` in the user's shell holds for the command as for a process of its own
    (a container's open-file limit is the most the command may hand on)."""
    served.started()
    cmd = [sys.executable, "-m", "layerlab", "run", "--rm", "busybox", "sh", "-c", "ulimit -Hn"]
    out = subprocess.run(
        ["prlimit", "--nofile=1024:4096", *cmd], env=served.env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert (out.returncode, out.stdout) == (0, "4096\n"), out.stderr


def test_a_client_in_other_namespaces_runs_its_command_itself(served: Served) -> None:
    """`ip netns exec`, `unshare`: the server's world is not the command's."""
    served.started()
    cmd = [sys.executable, "-m", "layerlab", "ps", "-q"]
    refused = subprocess.run(
        ["unshare", "--uts", *cmd], env=served.env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1 and "no layerlab server answered" in refused.stderr
    env = {k: v for k, v in served.env.items() if k != "LAYERLAB_SERVER_REQUIRED"}
    alone = subprocess.run(["unshare", "--uts", *cmd], env=env, capture_output=True, timeout=60)
    assert alone.returncode == 0


def test_the_tui_runs_in_a_server_child_and_follows_the_terminals_size(
    served: Served, tmp_path: Path
) -> None:
    """In a real terminal (tmux, a server of its own): the TUI paints from a server child,
    re-lays itself out when the terminal is resized (SIGWINCH, forwarded), and quits."""
    server = served.started()
    tmux = ["tmux", "-L", f"layerlab-test-{os.getpid()}", "-f", "/dev/null"]
    env = " ".join(
        f"{k}={v}" for k, v in served.env.items() if k.startswith(("LAYERLAB_", "PYTHON"))
    )
    command = f"env {env} {sys.executable} -m layerlab tui"
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", "110", "-y", "34", command],
                   check=True, env=served.env)  # fmt: skip

    def screen() -> str:
        out = subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True)
        return out.stdout.decode(errors="replace")

    def re_laid_out(text: str) -> bool:
        return "subjects" not in text and "layers · top first" in text

    try:
        eventually(lambda: "layers · top first" in screen(), True, timeout=60)
        eventually(lambda: "subjects" in screen(), True, timeout=60)  # wide: beside the layers
        eventually(lambda: len(psutil.Process(server).children()), 1)  # the TUI, served
        subprocess.run([*tmux, "resize-window", "-t", "t", "-x", "90", "-y", "30"], check=True)
        # Narrow: laid out anew (a terminal that only cut the old frame keeps "subjects").
        eventually(lambda: re_laid_out(screen()), True, timeout=60)
        subprocess.run([*tmux, "send-keys", "-t", "t", "C-q"], check=True)
        eventually(lambda: psutil.Process(server).children(), [], timeout=60)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        Path(f"/tmp/tmux-{os.getuid()}/layerlab-test-{os.getpid()}").unlink(missing_ok=True)
