"""Docker 20.10 parity for the tools around containers: `stats`, `logs --details`,
`attach -i`/`--no-stdin`, `system df -v`/`--format`, `volume ls --filter/--format`, and
`exec -t`'s failure. Expected words and columns are Docker's (docker/cli v20.10, cited by
file); where a Docker daemon answers at DOCKER_HOST, the same commands run side by side."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from . import docker_side
from .conftest import CLI, eventually

pytestmark = pytest.mark.system


def test_a_failed_exec_with_a_terminal_says_so_once(cli: CLI) -> None:
    """`exec -t` runs runc on a pseudo-terminal of ours, where runc also writes its failure:
    Docker prints only its own line, on stdout, exit 126 (as without -t)."""
    assert cli("run", "-d", "--name", "pt-exec", "busybox", "sleep", "300").code == 0
    failed = cli("exec", "-t", "pt-exec", "nosuchcmd")
    assert (failed.code, failed.err) == (126, "")
    assert failed.out == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "nosuchcmd": executable file not found in $PATH: unknown\n'
    )
    ran = cli("exec", "-t", "pt-exec", "sh", "-c", "echo out; exit 3")
    assert (ran.code, ran.out) == (3, "out\n")  # the CLI fixture reads text: \r\n is \n


def _volume_ls_session(run: CLI | docker_side.Daemon, tag: str) -> list[str]:
    """`volume ls` filtered and formatted, in Docker 20.10's words: each output, in order."""
    run("volume", "create", "--label", "a=b", f"vl-{tag}-one")
    run("volume", "create", f"vl-{tag}-two")
    run("run", "--name", f"vl-{tag}", "-v", f"vl-{tag}-two:/v", "busybox", "true")
    mine = f"name=vl-{tag}"
    shown = []
    for flags in (
        ["-f", mine, "--format", "{{json .}}"],
        ["-f", mine, "-f", "dangling=true"],
        ["-f", mine, "-f", "dangling=false", "-f", "driver=local"],
        ["-f", mine, "-f", "label=a"],
        ["-f", mine, "-f", "label=a=b", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Size}}"],
        ["-f", mine, "-q"],
        ["-f", "bogus=1"],
        ["-f", "dangling=maybe"],
        ["--format", "{{.Status}}"],
    ):
        done = run("volume", "ls", *flags)
        err = done.err.replace("Error response from daemon: ", "Error: ")
        shown.append(f"{done.code} {done.out.replace('/tmp/dockerd-root', 'ROOT')}{err}")
    run("rm", f"vl-{tag}")
    run("volume", "rm", f"vl-{tag}-one", f"vl-{tag}-two")
    return shown


def test_volume_ls_filters_and_formats_as_docker_20_10(cli: CLI, root: Path) -> None:
    shown = _volume_ls_session(cli, "x")
    context = "*formatter.volumeContext"
    assert shown == [
        '0 {"Driver":"local","Labels":"a=b","Links":"N/A","Mountpoint":"'
        f'{root}/volumes/vl-x-one/_data","Name":"vl-x-one","Scope":"local","Size":"N/A"}}\n'
        '{"Driver":"local","Labels":"","Links":"N/A","Mountpoint":"'
        f'{root}/volumes/vl-x-two/_data","Name":"vl-x-two","Scope":"local","Size":"N/A"}}\n',
        "0 DRIVER    VOLUME NAME\nlocal     vl-x-one\n",
        "0 DRIVER    VOLUME NAME\nlocal     vl-x-two\n",
        "0 DRIVER    VOLUME NAME\nlocal     vl-x-one\n",
        "0 VOLUME NAME   LABELS    SIZE\nvl-x-one      a=b       N/A\n",
        "0 vl-x-one\nvl-x-two\n",
        "1 Error: Invalid filter 'bogus'\n",
        "1 Error: Invalid filter 'dangling=[maybe]'\n",
        '1 template parsing error: template: :1:2: executing "" at <.Status>: '
        f"can't evaluate field Status in type {context}\n",
    ]


def test_volume_ls_side_by_side_with_docker(
    cli: CLI, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    docker = referee
    if docker is None:
        pytest.skip("no dockerd on this machine (Debian's docker.io)")
    tag = uuid.uuid4().hex[:8]
    theirs = _volume_ls_session(docker, tag)
    ours = _volume_ls_session(cli, tag)
    mountpoints = re.compile(r'"Mountpoint":"[^"]*"')
    assert [mountpoints.sub("", s) for s in ours] == [mountpoints.sub("", s) for s in theirs]


def _stats_fields(line: str) -> list[str]:
    """A table line's columns (tabwriter pads with at least three spaces)."""
    return re.split(r" {2,}", line.strip())


STATS_HEADER = [
    "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS",
]  # fmt: skip


def test_stats_no_stream_reads_the_cgroup(cli: CLI, root: Path) -> None:
    """docker/cli formatter_stats.go's columns: PIDS from pids.current, MEM USAGE from the
    memory cgroup less its inactive cache over the limit (-m, else the machine's), CPU %
    over a second; a stopped container reads as zeros (`-a`, or named)."""
    script = "sleep 300 & dd if=/dev/zero of=/dev/shm/f bs=1M count=8; while :; do :; done"
    busy = cli(
        "run",
        "-d",
        "--name",
        "st-busy",
        "--network",
        "none",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        script,
    )
    assert busy.code == 0, busy.err
    assert cli("create", "--name", "st-made", "busybox", "true").code == 0

    def busy_row() -> list[str]:
        shown = cli("stats", "--no-stream", "st-busy")
        assert shown.code == 0, shown.err
        header, row = shown.out.splitlines()
        assert _stats_fields(header) == STATS_HEADER
        return _stats_fields(row)

    def settled() -> bool:
        row = busy_row()
        used = row[3].split(" / ")[0]
        return float(row[2].rstrip("%")) > 0 and used.endswith("MiB") and row[7] == "2"

    eventually(settled, True, timeout=60)
    row = busy_row()
    assert row[0] == busy.out.strip()[:12] and row[1] == "st-busy"
    assert row[3].endswith(" / 64MiB") and float(row[3].split("MiB")[0]) >= 8
    assert float(row[4].rstrip("%")) >= 12.5  # 8MiB of 64MiB
    assert row[5] == "0B / 0B"  # no interface but lo
    assert re.fullmatch(r"\S+B / \S+B", row[6])
    stopped = cli("stats", "--no-stream", "-a", "--format", "{{.Name}}: {{.CPUPerc}} {{.MemUsage}} "
                  "{{.MemPerc}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}")  # fmt: skip
    assert "st-made: 0.00% 0B / 0B 0.00% 0B / 0B 0B / 0B 0\n" in stopped.out
    running = cli("stats", "--no-stream", "--format", "{{.Name}}").out
    assert running == "st-busy\n"  # without -a, the running ones only
    assert cli("stop", "-t", "0", "st-busy").code == 0


def test_stats_formats_and_errors_are_dockers(cli: CLI) -> None:
    made = cli("run", "-d", "--name", "st-one", "busybox", "sleep", "300")
    cid = made.out.strip()
    json_row = cli("stats", "--no-stream", "--format", "{{json .}}", "st-one").out
    assert sorted(json.loads(json_row)) == [
        "BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs",
    ]  # fmt: skip
    named = cli("stats", "--no-stream", "--no-trunc", "--format",
                "table {{.Container}}\t{{.ID}}\t{{.Name}}", "st-one")  # fmt: skip
    assert named.out == f"CONTAINER   CONTAINER ID{' ' * 55}NAME\nst-one      {cid}   st-one\n"
    by_id = cli("stats", "--no-stream", "--format", "{{.Container}} {{.ID}}", cid[:5]).out
    assert by_id == f"{cid[:5]} {cid[:12]}\n"
    missing = cli("stats", "--no-stream", "st-nosuch", "st-one", "st-gone")
    assert (missing.code, missing.out) == (1, "")
    assert missing.err == "Error: No such container: st-nosuch\nError: No such container: st-gone\n"
    bad = cli("stats", "--no-stream", "--format", "{{.Bogus}}", "st-one")
    assert (bad.code, bad.out) == (1, "")
    assert bad.err == (
        'template parsing error: template: :1:2: executing "" at <.Bogus>: '
        "can't evaluate field Bogus in type *container.statsContext\n"
    )
    unclosed = cli("stats", "--no-stream", "--format", "{{.Bogus", "st-one")
    assert (unclosed.code, unclosed.err) == (
        1,
        "template parsing error: template: :1: unclosed action\n",
    )


def test_stats_redraws_live_until_interrupted(cli: CLI, root: Path) -> None:
    """Without --no-stream: the screen cleared and the table drawn again each second, as
    docker stats draws it, until Ctrl-C."""
    assert cli("run", "-d", "--name", "st-live", "busybox", "sleep", "300").code == 0
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "stats", "st-live"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = b""
    try:
        while seen.count(b"\x1b[2J\x1b[H") < 3:  # the third frame has begun: two are whole
            chunk = proc.stdout.read1(4096)
            assert chunk, "stats ended by itself"
            seen += chunk
        proc.send_signal(signal.SIGINT)
        seen += proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    frames = seen.decode().split("\x1b[2J\x1b[H")
    assert frames[0] == ""
    for frame in frames[1:3]:
        header, row = frame.splitlines()
        assert _stats_fields(header) == STATS_HEADER
        assert _stats_fields(row)[1] == "st-live"


def test_stats_side_by_side_with_docker(
    cli: CLI, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    """What does not vary between two engines: the names, pids, I/O of an idle container and
    the zeros of a stopped one; the header; the errors."""
    docker = referee
    if docker is None:
        pytest.skip("no dockerd on this machine (Debian's docker.io)")
    tag = uuid.uuid4().hex[:8]
    fmt = "{{.Container}} {{.Name}} {{.NetIO}} {{.BlockIO}} {{.PIDs}}"

    def session(run: CLI | docker_side.Daemon) -> list[str]:
        # no network: an idle bridge's I/O is not the same twice (Docker's sends IPv6 chatter)
        run("run", "-d", "--network", "none", "--name", f"st-{tag}", "busybox", "sleep", "300")
        run("create", "--name", f"st-{tag}-made", "busybox", "true")
        shown = [
            run("stats", "--no-stream", "--format", fmt, f"st-{tag}", f"st-{tag}-made").out,
            run("stats", "--no-stream", f"st-{tag}").out.splitlines()[0],
            run("stats", "--no-stream", f"st-{tag}-nosuch").err.replace(
                "Error response from daemon: ", "Error: "),
            run("stats", "--no-stream", "--format", "{{.Nope}}", f"st-{tag}").err,
        ]  # fmt: skip
        run("rm", "-f", f"st-{tag}", f"st-{tag}-made")
        return shown

    assert session(cli) == session(docker)


def test_logs_details_as_docker(
    cli: CLI, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    """The json-file driver's attributes (`--log-opt labels=`, `env=`), sorted and
    URL-escaped, before each line; a lone space when there are none."""

    def session(run: CLI | docker_side.Daemon, tag: str) -> list[tuple[str, str]]:
        run("run", "--name", f"ld-{tag}", "busybox", "sh", "-c", "echo hello; echo err >&2")
        run("run", "--name", f"ld-{tag}-attrs", "--label", "a=b c", "--label", "z=1",
            "--log-opt", "labels=z,a,missing", "-e", "E=x/y", "--log-opt", "env=E",
            "busybox", "echo", "hi")  # fmt: skip
        shown = [
            (done.out, done.err)
            for done in (
                run("logs", "--details", f"ld-{tag}"),
                run("logs", "--details", f"ld-{tag}-attrs"),
                run("logs", "--details", "--tail", "1", f"ld-{tag}-attrs"),
            )
        ]
        run("rm", f"ld-{tag}", f"ld-{tag}-attrs")
        return shown

    ours = session(cli, "x")
    assert ours == [(" hello\n", " err\n"), ("E=x%2Fy,a=b+c,z=1 hi\n", ""),
                    ("E=x%2Fy,a=b+c,z=1 hi\n", "")]  # fmt: skip
    docker = referee
    if docker is not None:
        assert session(docker, uuid.uuid4().hex[:8]) == ours


def _df_session(run: CLI | docker_side.Daemon, tag: str) -> list[str]:
    """`system df -v --format` on a volume and the container that wrote to it."""
    name = f"dv-{tag}"
    run("run", "--name", name, "-v", f"{name}:/d", "busybox", "sh", "-c",
        "head -c 1000 /dev/zero > /d/f")  # fmt: skip
    whole = run("system", "df", "-v", "--format", "{{json .}}").out
    data = json.loads(whole)
    picked = (
        f'{{{{range .Volumes}}}}{{{{if eq .Name "{name}"}}}}{{{{.Links}}}} {{{{.Size}}}} '
        f"{{{{.Driver}}}}{{{{end}}}}{{{{end}}}}|{{{{range .Containers}}}}"
        f'{{{{if eq .Names "{name}"}}}}{{{{.LocalVolumes}}}} {{{{.Size}}}} {{{{.Command}}}} '
        "{{.State}}{{end}}{{end}}|{{len .BuildCache}}"
    )
    shown = [
        whole[-1],  # no newline after it
        " ".join(data),
        " ".join(sorted(data["Images"][0])),
        " ".join(sorted(data["Containers"][0])),
        " ".join(sorted(data["Volumes"][0])),
        run("system", "df", "-v", "--format", picked).out,
    ]
    for fmt in ("{{.Bogus}}", '{{"\\n"}}'):
        done = run("system", "df", "-v", "--format", fmt)
        shown.append(f"{done.code} {done.out}{done.err}")
    run("rm", name)
    run("volume", "rm", name)
    return shown


def test_system_df_verbose_format_as_docker_20_10(
    cli: CLI, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    """The template runs once on diskUsageContext: `.Images`, `.Containers`, `.Volumes`,
    `.BuildCache`, each a listing's contexts with df's counts and sizes."""
    ours = _df_session(cli, "x")
    assert ours == [
        "}",
        "Images Containers Volumes BuildCache",
        "Containers CreatedAt CreatedSince Digest ID Repository SharedSize Size Tag "
        "UniqueSize VirtualSize",
        "Command CreatedAt ID Image Labels LocalVolumes Mounts Names Networks Ports RunningFor "
        "Size State Status",
        "Driver Labels Links Mountpoint Name Scope Size",
        "1 1kB local|1 0B \"sh -c 'head -c 1000 /dev/zero > /d/f'\" exited|0",
        '1 template: :1:2: executing "" at <.Bogus>: can\'t evaluate field Bogus in type '
        "*formatter.diskUsageContext\n",
        "1 template parsing error: template: :1: unterminated quoted string\n",
    ]
    docker = referee
    if docker is not None:
        assert _df_session(docker, uuid.uuid4().hex[:8]) == ours


def _attach_session(
    run: CLI | docker_side.Daemon, root: Path | None, tmp: Path, tag: str
) -> list[str]:
    """`attach` to a `run -di` container: our input reaches its stdin, unless --no-stdin."""
    reader = ["busybox", "sh", "-c", "read x; echo got:$x"]
    run("run", "-di", "--name", f"at-{tag}", *reader)
    fed = run("attach", f"at-{tag}", input="hi\n")
    # --no-stdin leaves our input out: once it is attached (it shows a tick), the next
    # attach's input is the first to reach the container.
    ticking = ["busybox", "sh", "-c", "while :; do echo tick; sleep 1; done & read x; echo got:$x"]
    run("run", "-di", "--name", f"at-{tag}-no", *ticking)
    if isinstance(run, docker_side.Daemon):
        argv, env = run.argv, dict(os.environ)
    else:
        argv, env = [sys.executable, "-m", "layerlab"], dict(os.environ, LAYERLAB_ROOT=str(root))
    ignored = tmp / "ignored"
    ignored.write_text("ignored\n")
    with ignored.open() as given:
        quiet = subprocess.Popen(
            [*argv, "attach", "--no-stdin", f"at-{tag}-no"], stdin=given,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
    try:
        assert quiet.stdout is not None
        assert select.select([quiet.stdout], [], [], 60)[0], "attach --no-stdin shows nothing"
        assert quiet.stdout.readline() == "tick\n"  # it is attached
        second = run("attach", f"at-{tag}-no", input="bye\n")
        err = quiet.communicate(timeout=60)[1]
    finally:
        if quiet.poll() is None:
            quiet.kill()
            quiet.wait()
    # What the container read is in its log; what an attach printed is not compared: the
    # output of a container that ends as our input ends may or may not reach Docker's own.
    logged = run("logs", f"at-{tag}-no").out.replace("tick\n", "")
    shown = [
        f"{fed.code} {fed.err}{run('logs', f'at-{tag}').out}",
        f"{second.code} {second.err}{quiet.returncode} {err}{logged}",
    ]
    run("rm", "-f", f"at-{tag}", f"at-{tag}-no")
    return shown


def test_attach_input_and_no_stdin_as_docker(
    cli: CLI, root: Path, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    ours = _attach_session(cli, root, tmp_path, "x")
    assert ours == ["0 got:hi\n", "0 0 got:bye\n"]
    docker = referee
    if docker is not None:
        assert _attach_session(docker, None, tmp_path, uuid.uuid4().hex[:8]) == ours
    # Docker's attach has no -i: its input is attached unless --no-stdin.
    assert cli("attach", "-i", "x").err == (
        "unknown shorthand flag: 'i' in -i\nSee 'layerlab attach --help'.\n"
    )


def _df_image_rows(run: CLI | docker_side.Daemon, tag: str) -> list[list[str]]:
    """`system df -v`'s image rows for busybox under a second name, and a commit on it."""
    run("tag", "busybox", f"aaa-df-{tag}:x")
    run("run", "--name", f"df-{tag}", "busybox", "sh", "-c", "echo hi > /x")
    run("commit", f"df-{tag}", f"dfimg-{tag}:1")
    verbose = run("system", "df", "-v").out
    table = verbose.split("Images space usage:\n\n")[1].split("\n\n")[0].splitlines()
    rows = [re.split(r" {2,}", line) for line in table[1:]]
    run("rm", f"df-{tag}")
    run("rmi", f"dfimg-{tag}:1", f"aaa-df-{tag}:x")
    return [row for row in rows if tag in row[0] or row[0] == "busybox"]


def test_system_df_verbose_lists_each_image_once(
    cli: CLI, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    """docker system df -v: one row an image, by its first name; SIZE as `images`'
    VirtualSize; a layer is shared only between listed images (moby daemon/images)."""
    rows = _df_image_rows(cli, "x")
    size = cli("images", "--format", "{{.VirtualSize}}", "busybox").out.strip()
    assert [(r[0], r[1], r[4], r[5], r[6], r[7]) for r in rows] == [
        ("dfimg-x", "1", size, size, "3B", "0"),
        ("aaa-df-x", "x", size, size, "0B", "1"),
    ]
    docker = referee
    if docker is not None:
        tag = uuid.uuid4().hex[:8]
        theirs = [(r[0].replace(tag, "x"), r[1], r[6]) for r in _df_image_rows(docker, tag)]
        assert theirs[:2] == [(r[0], r[1], r[6]) for r in rows]  # its busybox has others
