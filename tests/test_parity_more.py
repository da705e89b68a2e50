"""Issue 10's remaining gaps, each run on real containers beside Docker 20.10's answer.

`attach` with input, `start`'s summary line, `volume ls -f/--format`, `volume inspect -f`,
and the words and exit codes of a `--format` that fails, command by command.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from layerlab.engine import Engine
from layerlab.runtime.detachkeys import DetachKeys, Scanner
from tests.conftest import CLI, eventually

pytestmark = pytest.mark.system


def _status(cli: CLI, name: str) -> str:
    return cli("inspect", "-f", "{{.State.Status}}", name).out.strip()


def _attach(root: Path, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    return subprocess.Popen(
        [sys.executable, "-m", "layerlab", "attach", *args],
        stdin=stdin if stdin is not None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


# --- attach: stdin ---------------------------------------------------------------------
def test_attach_sends_its_input_to_a_container_started_with_i(cli: CLI) -> None:
    assert cli("run", "-di", "--name", "pm-a", "busybox", "sh").code == 0
    # docker run -di --name c busybox sh; echo 'echo hi; exit 3' | docker attach c
    #   -> hi, exit 3
    r = cli("attach", "pm-a", input="echo hi; exit 3\n")
    assert (r.code, r.out, r.err) == (3, "hi\n", "")


def test_the_end_of_attachs_input_leaves_the_container_running(cli: CLI, root: Path) -> None:
    assert cli("run", "-di", "--name", "pm-b", "busybox", "sh").code == 0
    # Docker (StdinOnce false for `run -d`): the input's end does not close the container's
    # stdin; `docker attach` waits for the container to exit and exits with its code.
    first = _attach(root, "pm-b")
    assert first.stdin is not None
    first.stdin.write(b"echo one\n")
    first.stdin.close()
    eventually(lambda: cli("logs", "pm-b").out, "one\n")
    assert first.poll() is None and _status(cli, "pm-b") == "running"
    # A second attach writes into the same stdin: the shell is still reading it.
    second = cli("attach", "pm-b", input="echo two; exit 4\n")
    assert (second.code, second.out) == (4, "two\n")
    assert first.wait(timeout=60) == 4 and first.stdout is not None
    assert first.stdout.read().endswith(b"two\n")


def test_attach_no_stdin_and_a_container_without_i_take_no_input(cli: CLI, root: Path) -> None:
    assert cli("run", "-di", "--name", "pm-c", "busybox", "sh").code == 0
    assert cli("run", "-d", "--name", "pm-d", "busybox", "sleep", "300").code == 0
    # docker attach --no-stdin c: the input is not read; the container goes on. Each attach's
    # stdin is a pipe holding `exit 3` and its end: still there once the attach has ended, it
    # was never read, so never forwarded.
    pipes = [os.pipe() for _ in range(2)]
    for _, write_end in pipes:
        os.write(write_end, b"exit 3\n")
        os.close(write_end)
    quiet = _attach(root, "--no-stdin", "pm-c", stdin=pipes[0][0])
    deaf = _attach(root, "pm-d", stdin=pipes[1][0])  # no -i: Docker attaches the output only
    for name, proc in (("pm-c", quiet), ("pm-d", deaf)):  # attached: the output reaches it
        assert proc.stdout is not None
        shown = b""
        deadline = time.monotonic() + 60  # a hang guard, not a measure
        while b"attached" not in shown:
            assert time.monotonic() < deadline, f"{name}'s attach shows {shown!r}"
            assert cli("exec", name, "sh", "-c", "echo attached > /proc/1/fd/1").code == 0
            if select.select([proc.stdout], [], [], 1)[0]:
                shown += os.read(proc.stdout.fileno(), 4096)
    assert _status(cli, "pm-c") == _status(cli, "pm-d") == "running"
    assert cli("kill", "pm-c", "pm-d").code == 0
    assert quiet.wait(timeout=60) == 137 and deaf.wait(timeout=60) == 137
    for read_end, _ in pipes:
        assert os.read(read_end, 64) == b"exit 3\n"
        os.close(read_end)


class Terminal:
    """A `layerlab` command on a pseudo-terminal of its own, as typed in a real one."""

    def __init__(self, root: Path, *args: str) -> None:
        env = dict(os.environ, LAYERLAB_ROOT=str(root))
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "layerlab", *args],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.seen = b""

    def read_until(self, word: bytes) -> None:
        deadline = time.monotonic() + 30
        while word not in self.seen:
            assert time.monotonic() < deadline, self.seen
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    return

    def raw(self) -> None:
        """What is typed before the command made the terminal raw is flushed: wait for it."""
        eventually(lambda: termios.tcgetattr(self.master)[3] & termios.ICANON, 0, timeout=60)

    def close(self) -> None:
        os.close(self.master)
        if self.proc.poll() is None:
            self.proc.kill()


def test_attach_to_a_terminal_detaches_on_ctrl_p_ctrl_q(cli: CLI, root: Path) -> None:
    assert cli("run", "-dit", "--name", "pm-t", "busybox", "sh").code == 0
    # docker attach c (a -it container), type `echo hi`, then Ctrl-P Ctrl-Q:
    #   "read escape sequence", exit 1, the container still running.
    term = Terminal(root, "attach", "pm-t")
    try:
        term.raw()
        # As Docker's, live: what is typed is echoed before Enter, the next prompt at once.
        os.write(term.master, b"echo h''i")
        term.read_until(b"echo h''i")
        os.write(term.master, b"\r")
        term.read_until(b"hi\r\n/ # ")
        os.write(term.master, b"\x10\x11")
        assert term.proc.wait(timeout=60) == 1
        term.read_until(b"read escape sequence")
    finally:
        term.close()
    assert _status(cli, "pm-t") == "running"
    bad = cli("attach", "--detach-keys", "ctrl-", "pm-t")
    assert bad.code == 1 and "Invalid detach keys (ctrl-) provided" in bad.err


@pytest.mark.parametrize("keys", [None, "ctrl-a,x"])
def test_run_it_detaches_on_the_detach_keys(cli: CLI, root: Path, keys: str | None) -> None:
    # docker run -it --name c busybox sh, `echo hi`, Ctrl-P Ctrl-Q: nothing printed, exit 0,
    # the container still running (and `attach` takes it up again).
    flags = ["--detach-keys", keys] if keys else []
    term = Terminal(root, "run", "-it", *flags, "--name", "pm-r", "busybox", "sh")
    try:
        term.raw()
        os.write(term.master, b"echo h''i\r")
        term.read_until(b"hi\r\n")
        os.write(term.master, b"\x01x" if keys else b"\x10\x11")
        assert term.proc.wait(timeout=60) == 0
    finally:
        term.close()
    assert b"read escape sequence" not in term.seen
    assert _status(cli, "pm-r") == "running"
    back = Terminal(root, "attach", "pm-r")  # its shell still reads the terminal's input
    try:
        back.raw()
        os.write(back.master, b"exit 5\r")
        assert back.proc.wait(timeout=60) == 5
    finally:
        back.close()


def test_detach_keys_held_back_until_they_are_or_are_not_the_sequence() -> None:
    scanner = Scanner(DetachKeys.parse("ctrl-p,ctrl-q"))
    assert scanner.feed(b"ab\x10") == (b"ab", False)  # Ctrl-P may begin it: held
    assert scanner.feed(b"c") == (b"\x10c", False)  # it did not
    assert scanner.feed(b"d\x10") == (b"d", False)
    assert scanner.feed(b"\x11rest") == (b"", True)
    held = Scanner(DetachKeys())
    assert held.feed(b"\x10") == (b"", False)
    assert held.feed(b"") == (b"\x10", False)  # the input ended: what was held goes


# --- start: the summary line -----------------------------------------------------------
def test_start_names_the_containers_that_failed_and_starts_the_others(cli: CLI) -> None:
    cli("create", "--name", "pm-bad", "busybox", "nosuchcmd")
    cli("create", "--name", "pm-good", "busybox", "sleep", "300")
    # docker start bad -> the OCI error, then "Error: failed to start containers: bad", 1
    one = cli("start", "pm-bad")
    lines = one.err.splitlines()
    assert one.code == 1 and len(lines) == 2, one
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in lines[0]
    assert lines[1] == "Error: failed to start containers: pm-bad"
    # docker start good bad nosuch -> good started (its name on stdout), both failures, then
    # "Error: failed to start containers: bad, nosuch", 1
    many = cli("start", "pm-good", "pm-bad", "nosuch")
    assert many.code == 1 and many.out == "pm-good\n"
    assert many.err.splitlines()[1:] == [
        "Error: No such container: nosuch",
        "Error: failed to start containers: pm-bad, nosuch",
    ]
    assert _status(cli, "pm-good") == "running"


# --- volume ls -f / --format, volume inspect -f ----------------------------------------
def test_volume_ls_filters_and_formats_as_docker(cli: CLI, engine: Engine) -> None:
    cli("volume", "create", "pm-v1")
    cli("volume", "create", "--label", "env=prod", "--label", "x", "pm-v2")
    cli("create", "--name", "pm-u", "-v", "pm-v3:/d", "busybox")

    def names(*args: str) -> list[str]:
        r = cli("volume", "ls", "-q", *args)
        assert r.code == 0, r
        return r.out.split()

    # Docker 20.10, same volumes (pm-v3 mounted by a created container):
    assert names("-f", "dangling=true") == ["pm-v1", "pm-v2"]
    assert names("-f", "dangling=false") == ["pm-v3"]
    assert names("-f", "dangling=1", "-f", "dangling=0") == ["pm-v1", "pm-v2"]  # true wins
    assert names("-f", "name=v2") == ["pm-v2"]
    assert names("-f", "name=^pm-v1$") == ["pm-v1"]
    assert names("-f", "name=pm-v1", "-f", "name=pm-v3") == ["pm-v1", "pm-v3"]
    assert names("-f", "name=pm-v[") == []  # a bad expression matches nothing, exit 0
    assert names("-f", "driver=local") == ["pm-v1", "pm-v2", "pm-v3"]
    assert names("-f", "driver=loc") == []
    assert names("-f", "label=env") == names("-f", "label=env=prod") == ["pm-v2"]
    assert names("-f", "label=env=dev") == []
    assert names("-f", "dangling=true", "-f", "name=pm-v3") == []
    bad = cli("volume", "ls", "-f", "dangling=yes")
    assert (bad.code, bad.err) == (1, "Error: Invalid filter 'dangling=[yes]'\n")
    assert cli("volume", "ls", "-f", "bogus=1").err == "Error: Invalid filter 'bogus'\n"
    assert cli("volume", "ls", "-f", "name").code == 125  # cobra: bad format of filter
    table = cli("volume", "ls", "-f", "name=pm-v1")
    assert table.out == "DRIVER    VOLUME NAME\nlocal     pm-v1\n"
    mountpoint = str(engine.volume("pm-v2").mountpoint)
    fmt = '{{.Name}}|{{.Driver}}|{{.Scope}}|{{.Mountpoint}}|{{.Labels}}|{{.Label "env"}}|{{.Size}}'
    shown = cli("volume", "ls", "-f", "name=pm-v2", "--format", fmt).out
    assert shown == f"pm-v2|local|local|{mountpoint}|env=prod,x=|prod|N/A\n"
    # `--format json`: every field of Docker 20.10's volumeContext, keys sorted.
    row = cli("volume", "ls", "-f", "name=pm-v2", "--format", "json").out
    assert json.loads(row) == {
        "Driver": "local", "Labels": "env=prod,x=", "Links": "N/A", "Mountpoint": mountpoint,
        "Name": "pm-v2", "Scope": "local", "Size": "N/A",
    }  # fmt: skip
    assert list(json.loads(row)) == sorted(json.loads(row))
    header = cli(
        "volume", "ls", "-f", "name=pm-v2", "--format", 'table {{.Name}}\t{{.Label "env"}}'
    )
    assert header.out.splitlines() == ["VOLUME NAME   env", "pm-v2         prod"]
    # A custom format wins over -q; `table` does not.
    assert cli("volume", "ls", "-q", "--format", "{{.Driver}}", "-f", "name=pm-v1").out == "local\n"
    assert cli("volume", "ls", "-q", "--format", "table", "-f", "name=pm-v1").out == "pm-v1\n"
    # docker volume ls --format '{{.Label}}' -> template parsing error: ... wrong number of
    # args for Label: want 1 got 0, exit 1
    label = cli("volume", "ls", "--format", "{{.Label}}")
    assert label.code == 1 and label.err == (
        'template parsing error: template: :1:2: executing "" at <.Label>: '
        "wrong number of args for Label: want 1 got 0\n"
    )


def test_volume_inspect_format_errors_are_dockers(cli: CLI) -> None:
    cli("volume", "create", "--label", "env=prod", "pm-vi")
    ok = cli("volume", "inspect", "-f", "{{.Name}} {{.Labels}} {{.Options}} {{json .Options}}",
             "pm-vi")  # fmt: skip
    # Docker 20.10: `volume create` sends Options as an empty map (a `-v` volume's is null)
    assert ok.out == "pm-vi map[env:prod] map[] {}\n"
    # docker volume inspect -f '{{.Nope' v -> exit 64; '{{.Nope}}' -> exit 1, volume.Volume
    parse = cli("volume", "inspect", "-f", "{{.Nope", "pm-vi")
    assert (parse.code, parse.err) == (
        64,
        "template parsing error: template: :1: unclosed action\n",
    )
    run = cli("volume", "inspect", "-f", "{{.Nope}}", "pm-vi")
    assert (run.code, run.err) == (
        1,
        'template parsing error: template: :1:2: executing "" at <.Nope>: '
        "can't evaluate field Nope in type volume.Volume\n",
    )


# --- --format errors, command by command -----------------------------------------------
NOPE = 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type'
ARGS = "at <json>: wrong number of args for json: want 1 got 2"


@pytest.mark.parametrize(
    ("args", "parse", "run"),
    [  # Docker 20.10 (client 28): (exit code, stderr) for '{{.Nope' and '{{.Nope}}'
        (["ps", "-a"], (1, "failed to parse template: template: :1: unclosed action"),
         (1, f"failed to execute template: {NOPE} *formatter.ContainerContext")),
        (["images"], (1, "template parsing error: template: :1: unclosed action"),
         (1, f"template parsing error: {NOPE} *formatter.imageContext")),
        (["history", "busybox"], (1, "template parsing error: template: :1: unclosed action"),
         (1, f"template parsing error: {NOPE} *image.historyContext")),
        (["volume", "ls"], (1, "template parsing error: template: :1: unclosed action"),
         (1, f"template parsing error: {NOPE} *formatter.volumeContext")),
        (["system", "df"], (1, "template parsing error: template: :1: unclosed action"),
         (1, f"template parsing error: {NOPE} *formatter.diskUsageImagesContext")),
        (["info"], (64, "template parsing error: template: :1: unclosed action"),
         (1, f"{NOPE} system.dockerInfo")),
        (["version"], (64, "template parsing error: template: version:1: unclosed action"),
         (1, 'template: version:1:2: executing "version" at <.Nope>: '
             "can't evaluate field Nope in type system.versionInfo")),
        (["inspect", "busybox"], (64, "template parsing error: template: :1: unclosed action"),
         (1, 'template parsing error: template: :1:2: executing "" at <.Nope>: '
             'map has no entry for key "Nope"')),
    ],
)  # fmt: skip
def test_a_failing_format_is_worded_as_docker_words_it(
    cli: CLI, args: list[str], parse: tuple[int, str], run: tuple[int, str]
) -> None:
    for fmt, (code, err) in (("{{.Nope", parse), ("{{.Nope}}", run)):
        r = cli(*args, "--format", fmt)
        assert (r.code, r.err) == (code, err + "\n"), r
    # Go counts a function's arguments before it evaluates them (no field Id in a row).
    r = cli(*args, "--format", "{{json .Id 1}}")
    assert r.code == 1 and r.err.rstrip("\n").endswith(ARGS), r


def test_json_of_a_ps_row_is_escaped_and_sorted(cli: CLI) -> None:
    cli("create", "--name", "pm-j", "-l", "a=<b>&c", "busybox", "sh", "-c", 'echo "<x> & y"')
    # docker ps -a --format '{{json .}}': json.Marshal of the row - keys sorted, <>& escaped,
    # the size computed: ..."Labels":"a=\u003cb\u003e\u0026c",..."Size":"0B (virtual ...)"
    row = cli("ps", "-a", "-f", "name=pm-j", "--format", "{{json .}}").out.strip()
    assert '"Labels":"a=\\u003cb\\u003e\\u0026c"' in row and "<" not in row
    data = json.loads(row)
    assert list(data) == sorted(data) and "Label" not in data
    assert data["Size"].startswith("0B (virtual ")
    # `--format json` does not ask for sizes (Docker 28 client: "Size":"0B"); `-s` does.
    plain = json.loads(cli("ps", "-a", "-f", "name=pm-j", "--format", "json").out)
    assert plain["Size"] == "0B" and list(plain) == list(data)
    sized = json.loads(cli("ps", "-a", "-s", "-f", "name=pm-j", "--format", "json").out)
    assert sized["Size"].startswith("0B (virtual ")
    # `{{json .Labels}}` and inspect's `{{json ...}}`: Docker's encoder does not escape.
    assert cli("ps", "-a", "-f", "name=pm-j", "--format", "{{json .Labels}}").out == ('"a=<b>&c"\n')
    assert cli("inspect", "-f", "{{json .Config.Labels}}", "pm-j").out == '{"a":"<b>&c"}\n'


def test_ps_filters_and_counts_volumes_and_volume_create_takes_dockers_words(
    cli: CLI, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    cli("create", "--name", "pm-m", "-v", "pm-mv:/data", "-v", f"{host}:/host", "busybox")
    # docker ps -a --format '{{.Mounts}}|{{.LocalVolumes}}' -> "pm-mv,/tmp/...|1"
    shown = cli("ps", "-a", "-f", "name=pm-m", "--format", "{{.Mounts}}|{{.LocalVolumes}}")
    assert shown.out == f"pm-mv,{host}|1\n"
    # docker ps -a -f volume=X matches a volume's name, a bind's host path, a destination.
    for key in ("pm-mv", "/data", str(host), "/host"):
        assert cli("ps", "-a", "-q", "-f", f"volume={key}").out.strip(), key
    assert cli("ps", "-a", "-q", "-f", "volume=nope").out == ""
    # docker volume create --name X (the hidden, old flag) -> X; with a positional too:
    # "conflicting options: cannot specify a volume-name through both --name and as a
    # positional arg", 1; -d nope -> "create X: error looking up volume plugin nope: ..."
    assert cli("volume", "create", "--name", "pm-old").out == "pm-old\n"
    both = cli("volume", "create", "--name", "a", "b")
    assert both.code == 1 and "cannot specify a volume-name through both --name" in both.err
    plugin = cli("volume", "create", "-d", "nope", "pm-x")
    assert (plugin.code, plugin.err) == (
        1,
        'Error: create pm-x: error looking up volume plugin nope: plugin "nope" not found\n',
    )
    # docker volume: its usage, the names padded to cobra's 11 columns, exit 0.
    usage = cli("volume")
    assert usage.code == 0 and usage.out.startswith("Usage:  layerlab volume COMMAND\n")
    assert "\n  create      Create a volume\n" in usage.out


def test_system_df_counts_local_volumes(cli: CLI) -> None:
    cli("volume", "create", "pm-free")
    written = cli("run", "--name", "pm-w", "-v", "pm-used:/d", "busybox", "sh", "-c",
                  "head -c 5000 /dev/zero > /d/f")  # fmt: skip
    assert written.code == 0, written
    # Docker 20.10, same volumes: "Local Volumes   2   1   5kB   0B (0%)" (the used one holds
    # the bytes); -v lists them with their LINKS, and the container's LOCAL VOLUMES is 1.
    rows = cli("system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|"
               "{{.Reclaimable}}").out.splitlines()  # fmt: skip
    assert "Local Volumes|2|1|5kB|0B (0%)" in rows
    verbose = cli("system", "df", "-v").out
    volumes = verbose.split("Local Volumes space usage:\n\n")[1].split("\n\n")[0].splitlines()
    assert [line.split() for line in volumes] == [
        ["VOLUME", "NAME", "LINKS", "SIZE"], ["pm-free", "0", "0B"], ["pm-used", "1", "5kB"],
    ]  # fmt: skip
    container = next(line for line in verbose.splitlines() if line.endswith(" pm-w"))
    assert "   1   " in container


def test_inspect_reports_each_failing_object_and_version_prints_what_ran(cli: CLI) -> None:
    # docker inspect -f 'x{{.Nope}}' busybox busybox: one error line per object, exit 1,
    # and stdout a lone newline (nothing was printed).
    both = cli("inspect", "-f", "x{{.Nope}}", "busybox", "busybox")
    assert (both.code, both.out) == (1, "\n")
    assert (
        both.err.splitlines()
        == [
            'template parsing error: template: :1:3: executing "" at <.Nope>: '
            'map has no entry for key "Nope"'
        ]
        * 2
    )
    # docker version -f 'x{{.Nope}}': "x\n" on stdout, then the error; info the same.
    for args in (["version"], ["info"]):
        r = cli(*args, "-f", "x{{.Nope}}")
        assert (r.code, r.out) == (1, "x\n"), r


def test_volume_prune_filters_by_label(cli: CLI) -> None:
    cli("volume", "create", "pm-p1")
    cli("volume", "create", "--label", "keep=1", "pm-p2")
    # docker volume prune -f --filter label=keep=1 -> only pm-p2 goes:
    # "Deleted Volumes:\npm-p2\n\nTotal reclaimed space: 0B"
    only = cli("volume", "prune", "-f", "--filter", "label=keep=1")
    assert only.out == "Deleted Volumes:\npm-p2\n\nTotal reclaimed space: 0B\n"
    # until= is not a volume filter in Docker 20.10: "Invalid filter 'until'", 1
    until = cli("volume", "prune", "-f", "--filter", "until=1h")
    assert (until.code, until.err) == (1, "Error: Invalid filter 'until'\n")
    cli("volume", "create", "--label", "keep=1", "pm-p3")
    rest = cli("volume", "prune", "-f", "--filter", "label!=keep")
    assert rest.out.splitlines()[:2] == ["Deleted Volumes:", "pm-p1"]
    assert cli("volume", "ls", "-q").out == "pm-p3\n"
