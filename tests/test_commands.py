"""Command groups and the commands a learner reaches for next, on real containers: prune,
system df, version, info, help, attach, and the run flags (-u, --env-file, -l, --label-file,
--stop-signal, --read-only, --init, --cidfile, -a). Each test states Docker 20.10's answer
(docker 28 CLI) for the same busybox where it was measured."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.commands.grammar import parse
from layerlab.commands.handlers import dispatch
from layerlab.commands.stdio import IO
from layerlab.engine import CreateOptions, Engine
from layerlab.storage.limits import LimitOptions

from .conftest import CLI

pytestmark = pytest.mark.system

CONTAINERS_PROMPT = (
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
)


def test_groups_map_onto_the_top_level_commands(cli: CLI) -> None:
    assert vars(parse(["container", "ls", "-a"])) == vars(parse(["ps", "-a"]))
    assert vars(parse(["container", "list", "-q"])) == vars(parse(["ps", "-q"]))
    assert parse(["image", "ls"]).cmd == "images"
    assert parse(["image", "rm", "x"]).cmd == "rmi"
    assert parse(["image", "inspect", "x"]).type == "image"
    assert parse(["container", "inspect", "x"]).type == "container"
    assert parse(["--root", "/tmp/x", "container", "ls"]).cmd == "ps"
    assert parse(["image", "prune", "-a", "-f"]).cmd == "image prune"
    assert parse(["system", "df", "-v"]).verbose
    assert cli("container", "create", "--name", "pl-g", "busybox", "true").code == 0
    assert cli("container", "ls", "-a", "--format", "{{.Names}}").out == "pl-g\n"
    assert cli("image", "ls", "--format", "{{.Repository}}").out == "busybox\n"
    assert cli("container", "rm", "pl-g").out == "pl-g\n"
    # `layerlab container` alone: the group's help, listing its commands.
    group = cli("container")
    assert group.code == 0 and "prune" in group.out and "ls" in group.out
    assert "container prune" not in cli("--help").out  # only the groups at the top level
    assert cli("help").out == cli("--help").out
    assert cli("help", "ps").out.startswith("\nUsage:  layerlab ps [OPTIONS]\n")


def test_container_prune_prompts_and_removes_only_stopped(cli: CLI) -> None:
    assert cli("create", "--name", "pl-dead", "busybox", "true").code == 0
    assert cli("run", "-d", "--name", "pl-live", "busybox", "sleep", "300").code == 0
    # Docker: with stdin not a terminal and empty, the prompt is answered No; exit 0.
    declined = cli("container", "prune")
    assert (declined.code, declined.out) == (0, CONTAINERS_PROMPT)
    assert cli("ps", "-a", "-q").out.count("\n") == 2
    assert cli("container", "prune", input="n\n").out == CONTAINERS_PROMPT
    dead = cli("inspect", "-f", "{{.Id}}", "pl-dead").out.strip()
    # Docker: `Deleted Containers:`, the ids, a blank line, `Total reclaimed space: 0B`.
    done = cli("container", "prune", input="y\n")
    assert (
        done.out
        == CONTAINERS_PROMPT + f"Deleted Containers:\n{dead}\n\nTotal reclaimed space: 0B\n"
    )
    assert cli("ps", "-a", "--format", "{{.Names}}").out == "pl-live\n"
    # Docker: -f, nothing to remove: only the total.
    assert cli("container", "prune", "-f").out == "Total reclaimed space: 0B\n"


def test_image_prune_dangling_and_all(cli: CLI, tmp_path: Path) -> None:
    assert cli("run", "--name", "pl-c", "busybox", "touch", "/f").code == 0
    first = cli("commit", "pl-c", "pl-img:1").out.strip()
    cli("commit", "pl-c", "pl-img:1")  # the tag moves: the first image is dangling now
    # Docker: `WARNING! This will remove all dangling images.` and `[y/N] `.
    prompt = cli("image", "prune")
    assert prompt.out == (
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    )
    pruned = cli("image", "prune", "-f")
    assert pruned.out.startswith(f"Deleted Images:\ndeleted: {first}\n")
    assert pruned.out.endswith("\nTotal reclaimed space: 0B\n") or "Total reclaimed" in pruned.out
    # Docker -a: every image no container uses; busybox stays for pl-c.
    prompt_all = cli("image", "prune", "-a")
    assert "all images without at least one container associated to them" in prompt_all.out
    everything = cli("image", "prune", "-a", "-f")
    assert "untagged: pl-img:1\n" in everything.out
    assert cli("images", "--format", "{{.Repository}}").out == "busybox\n"


def test_system_df_counts_shared_layers_once(cli: CLI) -> None:
    assert cli("create", "--name", "pl-df", "busybox", "true").code == 0
    assert cli("tag", "busybox", "pl-other:1").code == 0
    out = cli("system", "df").out.splitlines()
    # Docker: TYPE TOTAL ACTIVE SIZE RECLAIMABLE; Images, Containers, Local Volumes, Build Cache.
    assert out[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in out[1:]] == ["Images", "Containers", "Local", "Build"]
    images = out[1].split()
    assert images[1:3] == ["1", "1"]  # one image under two tags, in use
    size = cli("images", "--format", "{{.VirtualSize}}", "busybox").out.strip()
    assert images[3] == size  # the layers once, not once per tag
    assert images[4] == "0B" or images[4].startswith("0B")
    assert out[2].split()[1:4] == ["1", "0", "0B"]
    verbose = cli("system", "df", "-v").out
    assert "Images space usage:" in verbose and "Containers space usage:" in verbose
    assert "pl-df" in verbose
    formatted = cli("system", "df", "--format", "{{.Type}}={{.TotalCount}}").out
    assert formatted.splitlines()[:2] == ["Images=1", "Containers=1"]


def test_system_prune(cli: CLI) -> None:
    assert cli("create", "--name", "pl-sp", "busybox", "true").code == 0
    declined = cli("system", "prune")
    # Docker's list, then a blank line and the question.
    assert declined.out.startswith("WARNING! This will remove:\n  - all stopped containers\n")
    assert declined.out.endswith("\n\nAre you sure you want to continue? [y/N] ")
    done = cli("system", "prune", "-a", "-f")
    assert done.out.startswith("Deleted Containers:\n")
    assert "Deleted Images:\nuntagged: busybox:latest\n" in done.out
    assert cli("ps", "-a", "-q").out == "" and cli("images", "-q").out == ""


def test_prune_reports_what_it_removed(engine: Engine, root: Path) -> None:
    container = engine.create("busybox", CreateOptions(command=["true"]))
    out, err = io.StringIO(), io.StringIO()
    report = dispatch(engine, parse(["container", "prune", "-f"]), IO(out, err, interactive=False))
    assert report.removed_containers == [container.id]
    assert out.getvalue() == f"Deleted Containers:\n{container.id}\n\nTotal reclaimed space: 0B\n"


def test_version_and_info_shapes(cli: CLI, root: Path) -> None:
    version = cli("version").out
    # Docker: `Client:` and `Server:` sections; the server lists its runtime.
    assert version.startswith("Client:\n Version:")
    assert "\nServer:\n Engine:\n  Version:" in version
    assert "\n runc:\n  Version:" in version
    assert (
        cli("version", "-f", "{{.Server.Version}}").out.strip()
        == cli("version", "-f", "{{.Client.Version}}").out.strip()
    )
    info = cli("info").out
    for line in (
        " Containers: 0\n", "  Running: 0\n", "  Paused: 0\n", "  Stopped: 0\n",
        " Storage Driver: overlay2\n", " Logging Driver: json-file\n",
        f" Docker Root Dir: {root}\n", " Default Runtime: runc\n",
    ):  # fmt: skip
        assert line in info, line
    assert " Cgroup Version: " in info and " Kernel Version: " in info
    assert cli("info", "-f", "{{.DockerRootDir}}").out == f"{root}\n"


def test_attach_streams_new_output_and_returns_the_exit_code(cli: CLI, root: Path) -> None:
    script = "echo before; while [ ! -f /go ]; do echo tick; sleep 0.1; done; echo after; exit 3"
    assert cli("run", "-d", "--name", "pl-at", "busybox", "sh", "-c", script).code == 0
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    attach = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "attach", "pl-at"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert attach.stdout is not None
        assert attach.stdout.readline() == "tick\n"  # attached: new output streams
        assert cli("exec", "pl-at", "touch", "/go").code == 0
        rest = attach.stdout.read()
        # Docker attach: the output from now on (not what was logged before), its exit code.
        assert attach.wait(timeout=60) == 3
    finally:
        if attach.poll() is None:
            attach.kill()
            attach.wait()
    assert rest.endswith("after\n") and "before" not in rest
    stopped = cli("attach", "pl-at")
    # Docker: `You cannot attach to a stopped container, start it first`.
    assert stopped.code == 1 and "You cannot attach to a stopped container" in stopped.err


def test_user_flag_resolves_names_in_the_container(cli: CLI) -> None:
    # Docker: -u nobody -> the image's passwd entry; a numeric uid alone gets gid 0.
    assert cli("run", "--rm", "-u", "nobody", "busybox", "id").out.startswith("uid=65534(nobody)")
    assert cli("run", "--rm", "-u", "1000", "busybox", "id").out.startswith("uid=1000 gid=0")
    assert cli("run", "--rm", "-u", "nobody:root", "busybox", "id").out.startswith(
        "uid=65534(nobody) gid=0(root)"
    )
    bad = cli("run", "-u", "nosuch", "busybox", "id")
    # Docker: `unable to find user nosuch: no matching entries in passwd file`, 125.
    assert bad.code == 125
    assert "unable to find user nosuch: no matching entries in passwd file" in bad.err
    bad = cli("run", "-u", "0:nosuch", "busybox", "id")
    assert "unable to find group nosuch: no matching entries in group file" in bad.err
    assert cli("run", "-d", "--name", "pl-u", "busybox", "sleep", "300").code == 0
    assert cli("exec", "-u", "nobody", "pl-u", "id").out.startswith("uid=65534(nobody)")
    assert cli("exec", "-u", "5:6", "pl-u", "id").out.startswith("uid=5 gid=6")
    assert cli("exec", "-u", "nosuch", "pl-u", "id").code == 126  # Docker: 126


def test_env_file_labels_stop_signal_read_only(cli: CLI, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# c\nA=1\n\nB\nC=x y\n")
    labels = tmp_path / "labels"
    labels.write_text("x=1\ny\n")
    # Docker: A=1, B from the caller's environment, C=x y.
    out = cli("run", "--rm", "--env-file", str(env_file), "-e", "A=2", "busybox", "env").out
    assert "A=2\n" in out and "C=x y\n" in out
    missing = cli("run", "--rm", "--env-file", str(tmp_path / "nosuch"), "busybox", "true")
    assert missing.code == 125 and "no such file or directory" in missing.err
    made = cli(
        "create", "--name", "pl-l", "--label-file", str(labels), "-l", "z=2",
        "--stop-signal", "SIGUSR1", "--read-only", "busybox", "true",
    )  # fmt: skip
    assert made.code == 0
    fmt = "{{json .Config.Labels}} {{.Config.StopSignal}} {{.HostConfig.ReadonlyRootfs}}"
    # Docker: {"x":"1","z":"2"} SIGUSR1 true (a bare label-file key is dropped).
    assert cli("inspect", "-f", fmt, "pl-l").out == '{"x":"1","z":"2"} SIGUSR1 true\n'
    ro = cli("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert ro.code == 1 and "Read-only file system" in ro.err  # Docker: same line, exit 1
    bad = cli("run", "--rm", "--stop-signal", "BOGUS", "busybox", "true")
    assert bad.code == 125 and "Invalid signal: BOGUS" in bad.err
    assert cli("ps", "-a", "-q").out.count("\n") == 1  # refused before anything was made


@pytest.mark.skipif(
    not (shutil.which("docker-init") or shutil.which("tini-static")), reason="no tini"
)
def test_init_runs_tini_as_pid_1(cli: CLI) -> None:
    out = cli("run", "--rm", "--init", "busybox", "ps").out
    # Docker: `1 0 /sbin/docker-init -- ps`.
    first = out.splitlines()[1].split()
    assert first[0] == "1" and first[2:] == ["/sbin/docker-init", "--", "ps"]
    assert cli("create", "--init", "--name", "pl-in", "busybox", "true").code == 0
    assert cli("inspect", "-f", "{{.HostConfig.Init}}", "pl-in").out == "true\n"
    assert cli("diff", "pl-in").out == ""  # the mount point lives in the init layer


@pytest.mark.skipif(
    not (shutil.which("docker-init") or shutil.which("tini-static")), reason="no tini"
)
def test_stop_right_after_run_init_is_forwarded_by_tini(engine: Engine) -> None:
    """pid 1 drops a signal it has no handler for: a `stop` that reached tini before it
    set its mask would be lost (SIGKILL, 137); tini forwards it to `sleep` (143)."""
    slow = CreateOptions(command=["sleep", "300"], init=True, limits=LimitOptions(cpus="0.01"))
    for _ in range(3):  # 1% of a CPU: tini takes several periods to set itself up
        container, _ = engine.run("busybox", slow)
        assert engine.stop(container.id, timeout=5).state["ExitCode"] == 143


def test_cidfile_and_attach_streams(cli: CLI, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    run = cli("run", "--cidfile", str(cidfile), "--name", "pl-cid", "busybox", "true")
    assert run.code == 0
    assert cidfile.read_text() == cli("inspect", "-f", "{{.Id}}", "pl-cid").out.strip()
    again = cli("run", "--cidfile", str(cidfile), "busybox", "true")
    # Docker: `container ID file found, make sure the other container isn't running or
    # delete FILE`, 125, nothing created.
    assert again.code == 125 and "container ID file found" in again.err
    assert cli("ps", "-a", "-q").out.count("\n") == 1
    script = "echo out; echo err >&2"
    only_out = cli("run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script)
    assert (only_out.out, only_out.err) == ("out\n", "")  # Docker: stderr not attached
    only_err = cli("run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script)
    assert (only_err.out, only_err.err) == ("", "err\n")
    bad = cli("run", "--rm", "-a", "bogus", "busybox", "true")
    assert "valid streams are STDIN, STDOUT and STDERR" in bad.err and bad.code == 125
    both = cli("run", "-d", "-a", "stdout", "busybox", "true")
    assert "conflicting options: cannot specify both --attach and --detach" in both.err


def test_help_texts_of_new_commands(cli: CLI) -> None:
    for words in (
        ["restart"], ["attach"], ["version"], ["info"], ["container", "prune"],
        ["image", "prune"], ["system", "df"], ["system", "prune"],
    ):  # fmt: skip
        result = cli(*words, "--help")
        assert result.code == 0 and result.out.startswith("\nUsage:  layerlab "), words
    run_help = cli("run", "--help").out
    for flag in ("--user", "--env-file", "--label-file", "--stop-signal", "--read-only",
                 "--init", "--cidfile", "--attach"):  # fmt: skip
        assert flag in run_help


def test_prune_filters(cli: CLI) -> None:
    assert cli("create", "-l", "keep=1", "--name", "pl-k", "busybox", "true").code == 0
    assert cli("create", "--name", "pl-d", "busybox", "true").code == 0
    # Docker: `Invalid filter 'bogus'` and `failed to parse value as time or duration`, exit 1.
    bad = cli("container", "prune", "-f", "--filter", "bogus=1")
    assert bad.code == 1 and "Invalid filter 'bogus'" in bad.err
    bad = cli("container", "prune", "-f", "--filter", "until=bogus")
    assert bad.code == 1 and 'failed to parse value as time or duration: "bogus"' in bad.err
    # until=1h keeps what is younger than an hour; label!= spares the labelled one.
    assert cli("container", "prune", "-f", "--filter", "until=1h").out == (
        "Total reclaimed space: 0B\n"
    )
    assert cli("container", "prune", "-f", "--filter", "label!=keep").code == 0
    assert cli("ps", "-a", "--format", "{{.Names}}").out == "pl-k\n"
    assert cli("container", "prune", "-f", "--filter", "label=keep=1").code == 0
    assert cli("ps", "-a", "-q").out == ""


def test_inspect_of_nothing_found_prints_an_empty_list(cli: CLI) -> None:
    # Docker: `[]` on stdout, `Error: No such object: nosuch`, exit 1.
    result = cli("inspect", "nosuch")
    assert (result.code, result.out) == (1, "[]\n")
    assert "No such object: nosuch" in result.err
