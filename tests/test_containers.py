"""The article's claims about containers, proved on real containers (runc, overlayfs)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.errors import LayerlabError

from .conftest import CLI, eventually

pytestmark = pytest.mark.system


def _run_d(engine: Engine, *cmd: str, name: str | None = None) -> str:
    container, _ = engine.run("busybox", CreateOptions(command=list(cmd), name=name))
    return container.id


def test_create_adds_an_empty_writable_layer_and_no_process(engine: Engine) -> None:
    c = engine.create("busybox", CreateOptions(command=["sleep", "60"], name="web"))
    assert c.status == "created"
    assert c.data["State"]["Pid"] == 0
    upper = Path(c.upper_dir)
    assert upper.is_dir() and list(upper.iterdir()) == []
    assert not os.path.ismount(c.data["GraphDriver"]["Data"]["MergedDir"])
    lowers = c.data["GraphDriver"]["Data"]["LowerDir"].split(":")
    image = engine.image("busybox")
    assert lowers[1:] == [str(layer.diff_path) for layer in reversed(image.layers)]


def test_happiness_persists_in_the_writable_layer_until_rm(engine: Engine, cli: CLI) -> None:
    r = cli("run", "--name", "happy", "busybox", "touch", "happiness.txt")
    assert r.code == 0, r.err
    c = engine.container("happy")
    assert c.status == "exited" and c.state["ExitCode"] == 0
    found = Path(c.upper_dir) / "happiness.txt"
    assert found.is_file()
    assert not os.path.ismount(c.data["GraphDriver"]["Data"]["MergedDir"])
    # nothing but the file itself: mount points live in the init layer, not the diff
    assert sorted(p.name for p in Path(c.upper_dir).iterdir()) == ["happiness.txt"]
    assert cli("rm", "happy").code == 0
    assert not found.exists()
    assert not Path(c.upper_dir).parent.exists()


def test_foreground_run_streams_output_and_returns_the_exit_code(cli: CLI) -> None:
    r = cli("run", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.code, r.out, r.err) == (3, "out\n", "err\n")
    logs = cli("logs", cli("ps", "-aq").out.split()[0])
    assert logs.out == "out\n" and logs.err == "err\n"


def test_run_rm_leaves_nothing(cli: CLI, engine: Engine) -> None:
    r = cli("run", "--rm", "busybox", "true")
    assert r.code == 0, r.err
    assert engine.containers(all=True) == []


def test_interactive_stdin_reaches_the_container(cli: CLI) -> None:
    r = cli("run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got $x", input="hello\n")
    assert (r.code, r.out) == (0, "got hello\n")


def test_ps_shows_running_and_ps_a_shows_all(engine: Engine, cli: CLI) -> None:
    engine.create("busybox", CreateOptions(command=["true"], name="made"))
    _run_d(engine, "sleep", "60", name="up")
    ps = cli("ps").out.splitlines()
    assert ps[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert len(ps) == 2 and ps[1].endswith("up") and "Up " in ps[1]
    assert '"sleep 60"' in ps[1]
    psa = cli("ps", "-a").out
    assert "made" in psa and "Created" in psa
    assert len(cli("ps", "-aq").out.split()) == 2


def test_start_creates_a_process_space(engine: Engine) -> None:
    c = engine.create("busybox", CreateOptions(command=["sleep", "60"]))
    c = engine.start(c.id)
    assert c.status == "running" and c.state["Pid"] > 0
    proc = psutil.Process(c.state["Pid"])
    eventually(proc.cmdline, ["sleep", "60"])  # for a moment it is still `runc init`
    assert os.readlink(f"/proc/{proc.pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert os.path.ismount(c.data["GraphDriver"]["Data"]["MergedDir"])
    # Docker: starting a running container leaves it as it is (same process)
    assert engine.start(c.id).state["Pid"] == c.state["Pid"]


def test_stop_waits_the_grace_time_for_a_pid1_without_handler(engine: Engine) -> None:
    cid = _run_d(engine, "sleep", "60")
    t0 = time.monotonic()
    c = engine.stop(cid, timeout=1)
    assert time.monotonic() - t0 >= 1
    assert c.status == "exited" and c.state["ExitCode"] == 137
    assert "Exited (137)" in c.status_text()


def test_stop_lets_a_trapping_pid1_exit_with_its_own_code(engine: Engine) -> None:
    cid = _run_d(engine, "sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done")
    pid1 = psutil.Process(engine.container(cid).state["Pid"])
    # Its loop runs only once the trap is set: SIGTERM is then handled, not fatal.
    eventually(lambda: any(p.name() == "sleep" for p in pid1.children()), True)
    c = engine.stop(cid, timeout=10)
    assert c.state["ExitCode"] == 7  # its own code: SIGTERM was handled, no SIGKILL (137)


def test_kill_exits_137_at_once(engine: Engine) -> None:
    cid = _run_d(engine, "sleep", "60")
    c = engine.kill(cid)
    assert c.state["ExitCode"] == 137 and not c.running


def test_pause_freezes_without_a_signal(engine: Engine, cli: CLI) -> None:
    cid = _run_d(engine, "sleep", "60", name="frozen")
    pid = engine.container(cid).state["Pid"]
    engine.pause(cid)
    assert "(Paused)" in cli("ps").out
    assert psutil.Process(pid).status() != psutil.STATUS_STOPPED  # not SIGSTOP/SIGTSTP
    cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    freezer = next(
        line.split(":")[2]
        for line in cgroup.splitlines()
        if "freezer" in line or line.startswith("0::")
    )
    state_file = next(
        p
        for p in (
            Path("/sys/fs/cgroup/freezer") / freezer.lstrip("/") / "freezer.state",
            Path("/sys/fs/cgroup") / freezer.lstrip("/") / "cgroup.freeze",
        )
        if p.exists()
    )
    assert state_file.read_text().strip() in ("FROZEN", "1")
    with pytest.raises(LayerlabError, match="paused"):
        engine.rm(cid)
    engine.unpause(cid)
    assert engine.container(cid).status == "running"


def test_exec_runs_in_the_containers_pid_namespace_and_cgroup(engine: Engine, cli: CLI) -> None:
    cid = _run_d(engine, "sleep", "60")
    r = cli("exec", cid, "ps")
    assert r.code == 0
    assert "sleep 60" in r.out and " ps" in r.out
    pids = r.out.split()
    assert "1" in pids  # PID 1 is the container's sleep: its own pid namespace
    cli("exec", "-d", cid, "sleep", "30")
    top = cli("top", cid)
    assert top.code == 0 and "sleep 30" in top.out and "sleep 60" in top.out
    assert cli("exec", cid, "touch", "/from-exec").code == 0
    assert (Path(engine.container(cid).upper_dir) / "from-exec").exists()
    assert cli("exec", cid, "sh", "-c", "exit 4").code == 4
    assert cli("exec", cid, "nosuchcmd").code == 126  # Docker: 126 for any exec failure


def test_rm_refuses_a_running_container_without_force(engine: Engine, cli: CLI) -> None:
    cid = _run_d(engine, "sleep", "60")
    r = cli("rm", cid)
    assert r.code == 1 and "You cannot remove a running container" in r.err  # Docker: 1
    assert len(r.err.strip().splitlines()) == 1
    assert engine.container(cid).running
    assert cli("rm", "-f", cid).code == 0
    assert engine.containers(all=True) == []


def test_names_prefixes_and_rename(engine: Engine, cli: CLI) -> None:
    c = engine.create("busybox", CreateOptions(command=["true"]))
    assert "_" in c.name
    assert engine.container(c.id[:6]).id == c.id
    assert cli("rename", c.name, "renamed").code == 0
    assert engine.container("renamed").id == c.id
    dup = cli("create", "--name", "renamed", "busybox")
    assert dup.code == 125 and "already in use" in dup.err


def test_inspect_fields_and_templates(engine: Engine, cli: CLI) -> None:
    cid = _run_d(engine, "sleep", "60", name="insp")
    c = engine.container(cid)
    assert cli("inspect", "-f", "{{.State.Pid}}", "insp").out.strip() == str(c.state["Pid"])
    assert cli("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "insp").out.strip() == c.upper_dir
    assert cli("inspect", "-f", "{{.State.Status}} {{.Config.Hostname}}", "insp").out.split() == [
        "running",
        cid[:12],
    ]
    cfg = cli("inspect", "-f", "{{json .Config}}", "insp").out
    assert '"Cmd":["sleep","60"]' in cfg
    image = cli("inspect", "busybox")
    assert '"RootFS"' in image.out and image.code == 0
    assert cli("exec", "insp", "hostname").out.strip() == cid[:12]


def test_logs_follow_and_wait(engine: Engine, cli: CLI) -> None:
    cid = _run_d(engine, "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done; exit 5")
    r = cli("logs", "-f", cid)
    assert r.out == "line1\nline2\nline3\n"
    assert cli("wait", cid).out.strip() == "5"
    ts = cli("logs", "-t", cid).out.splitlines()[0]
    assert ts.endswith(" line1") and ts[:4].isdigit() and "T" in ts.split()[0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [  # Docker's codes: 1 for a command's error, 125 when `run` cannot start one
        (["stop", "nosuch"], 1, "No such container: nosuch"),
        (["run", "nosuchimage"], 125, "Unable to find image 'nosuchimage:latest' locally"),
        (["run", "--bogus", "busybox"], 125, "unknown flag: --bogus"),
        (["kill", "-s", "NOPE", "x"], 1, "No such container: x"),
        (["run", "busybox", "/no/such/binary"], 127, "no such file"),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_store(
    cli: CLI, root: Path, args: list[str], code: int, message: str
) -> None:
    cli("create", "--name", "keep", "busybox")
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)
    r = cli(*args)
    assert r.code == code, r
    lines = r.err.strip().splitlines()
    # one line, or cobra's flag error: the message, then "See 'layerlab run --help'."
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("See '")), r.err
    assert message.lower() in lines[0].lower()
    assert "Traceback" not in r.err
    if args[0] != "run" or args[1] == "--bogus" or args[1] == "nosuchimage":
        after = sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)
        assert after == before


def test_ambiguous_prefix(engine: Engine) -> None:
    ids = [engine.create("busybox", CreateOptions(command=["true"])).id for _ in range(20)]
    firsts = [i[0] for i in ids]
    dup = next(ch for ch in firsts if firsts.count(ch) > 1)
    with pytest.raises(LayerlabError, match="multiple IDs found"):
        engine.container(dup)


def test_not_root_is_refused(root: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "layerlab",
            "ps",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, LAYERLAB_ROOT=str(root)),
    )
    assert r.returncode == 1 and "must run as root" in r.stderr


def test_run_it_hands_the_terminal_to_the_container(root: Path, engine: Engine) -> None:
    """`run -it` in a real pseudo-terminal: a prompt, typed input, Ctrl-C, the exit code."""
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = dict(os.environ, LAYERLAB_ROOT=str(root), TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "run", "-it", "--rm", "busybox", "sh"],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        """Read the terminal until `marker` and consume it with all before it: the next wait
        is met only by what the terminal shows after it (a prompt is a new prompt)."""
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert marker in seen, seen
        seen = seen.split(marker, 1)[1]

    def sleeping() -> bool:
        """`sleep 600` runs in the container (as `docker top` shows it)."""
        (container,) = engine.containers()
        return any(row[-1] == "sleep 600" for row in engine.top(container.id)[1])

    read_until(b"# ")
    os.write(master, b"echo in-$((6*7))-tty; tty\r")
    read_until(b"in-42-tty")
    read_until(b"/dev/pts/")
    read_until(b"# ")
    os.write(master, b"sleep 600\r")
    read_until(b"sleep 600\r\n")  # its echo: no prompt can come before the sleep ends
    eventually(sleeping, True, timeout=30)
    os.write(master, b"\x03")  # Ctrl-C reaches the container's foreground job, not us
    read_until(b"# ")  # the shell's prompt again, long before the sleep could end by itself
    assert not sleeping() and proc.poll() is None
    os.write(master, b"exit 5\r")
    assert proc.wait(timeout=30) == 5
    os.close(master)
    assert engine.containers(all=True) == []  # --rm


# --- defects, each proved fixed ---------------------------------------------------------
QUIET = (subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL)


def test_exec_leaks_no_file_descriptor(engine: Engine) -> None:
    cid = _run_d(engine, "sleep", "60")
    assert engine.exec(cid, ["true"], stdio=QUIET) == 0  # warm up whatever is lazily opened
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        assert engine.exec(cid, ["true"], stdio=QUIET) == 0
    assert len(os.listdir("/proc/self/fd")) == before


def test_wait_ignores_a_process_that_reused_a_dead_shims_pid(engine: Engine) -> None:
    cid = _run_d(engine, "sleep", "60")
    cdir = engine.store.container_dir(cid)
    shim_pid = int((cdir / "shim.pid").read_text())
    os.kill(shim_pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(shim_pid, 0)
    stranger = subprocess.Popen(["sleep", "30"])
    (cdir / "shim.pid").write_text(f"{stranger.pid}\n")  # the kernel gave the pid away
    try:
        result: dict[str, int] = {}
        waiter = threading.Thread(target=lambda: result.update(code=engine.wait(cid)), daemon=True)
        waiter.start()
        waiter.join(10)
        assert result == {"code": 255}  # the lost shim's container, as Docker reports it
    finally:
        stranger.kill()
        stranger.wait()


def test_logs_follow_ends_cleanly_when_the_container_is_removed(engine: Engine) -> None:
    cid = _run_d(engine, "sh", "-c", "echo hi; sleep 60")
    entries = engine.logs(cid, follow=True)
    assert next(entries).text == "hi\n"
    engine.rm(cid, force=True)
    assert list(entries) == []


def test_a_console_that_never_comes_fails_the_start_cleanly(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYERLAB_CONSOLE_TIMEOUT", "0")
    c = engine.create("busybox", CreateOptions(command=["sleep", "60"], tty=True))
    with pytest.raises(LayerlabError) as exc:
        engine.start(c.id)
    assert "console" in str(exc.value) and "\n" not in str(exc.value)
    after = engine.container(c.id)
    assert after.status == "created" and not after.running
    assert not os.path.ismount(after.data["GraphDriver"]["Data"]["MergedDir"])
    assert engine.runtime.state(c.id) is None
    monkeypatch.delenv("LAYERLAB_CONSOLE_TIMEOUT")
    assert engine.start(c.id).running  # nothing was left behind to trip a second start
