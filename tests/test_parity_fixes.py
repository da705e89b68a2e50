"""Issue 10's "wrong today" list, each behaviour run on real containers beside Docker's answer.

Docker 20.10's answers (measured side by side with the same busybox) are stated
in each test: a comment or the expected string.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from layerlab.engine import Engine
from tests.conftest import CLI

pytestmark = pytest.mark.system


# --- 1. exit codes ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        # docker rm nosuch -> "Error response from daemon: No such container: nosuch", 1
        (["rm", "nosuch"], 1, "No such container: nosuch"),
        (["stop", "nosuch"], 1, "No such container: nosuch"),
        (["rmi", "nosuch"], 1, "No such image: nosuch"),
        # docker ps --bogus -> "unknown flag: --bogus", 125 (a flag cobra cannot parse)
        (["ps", "--bogus"], 125, "--bogus"),
        (["run", "--bogus", "busybox"], 125, "--bogus"),
        # docker rm -> '"docker rm" requires at least 1 argument.', 1
        (["rm"], 1, '"layerlab rm" requires at least 1 argument'),
        (["inspect"], 1, "requires at least 1 argument"),
        # docker bogus -> "docker: 'bogus' is not a docker command.", 1
        (["bogus"], 1, "is not a layerlab command"),
        # docker run nosuchimage: 125 (the container never started)
        (["run", "nosuchimage"], 125, "Unable to find image"),
        (["create", "--name", "bad name", "busybox"], 125, "Invalid container name"),
        # docker inspect -f '{{.Nope' busybox -> "template parsing error: ...unclosed action", 64
        (["inspect", "-f", "{{.Nope", "busybox"], 64, "template parsing error"),
        # an execution error -> 1
        (["inspect", "-f", "{{json .Id 1}}", "busybox"], 1, "template parsing error"),
        (["inspect", "-f", "{{.Id}}", "nosuch"], 1, "No such object: nosuch"),
    ],
)
def test_exit_codes_are_dockers(cli: CLI, args: list[str], code: int, message: str) -> None:
    r = cli(*args)
    assert r.code == code, r
    lines = r.err.strip().splitlines()
    # one line, or cobra's usage error: the message, then "See 'layerlab rm --help'." and usage
    assert message in lines[0] and (len(lines) == 1 or lines[1].startswith("See '")), r.err


def test_a_conflict_exits_1_and_run_failures_before_start_125(engine: Engine, cli: CLI) -> None:
    cli("create", "--name", "pf-one", "busybox", "true")
    # docker create --name pf-one busybox (taken) -> "Conflict. The container name ...", 125
    dup = cli("create", "--name", "pf-one", "busybox")
    assert dup.code == 125 and "already in use" in dup.err
    # docker rename pf-one pf-one -> "Renaming a container with the same name ...", 1
    same = cli("rename", "pf-one", "pf-one")
    assert same.code == 1 and "same name" in same.err


# --- 2. no output file truncated by a failed command ----------------------------------
def test_a_failed_save_leaves_the_existing_file(cli: CLI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "keep.tar"
    keep.write_bytes(b"keep me")
    # docker save -o keep.tar typo:1 -> exit 1, keep.tar untouched
    r = cli("save", "-o", str(keep), "typo:1")
    assert r.code == 1 and keep.read_bytes() == b"keep me"
    assert sorted(p.name for p in out.iterdir()) == ["keep.tar"]
    # a successful save replaces it whole
    assert cli("save", "-o", str(keep), "busybox").code == 0
    assert keep.stat().st_size > 1024


def test_a_failed_export_leaves_no_file(cli: CLI, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    # docker export -o f nosuch -> "No such container: nosuch", 1, and no f
    r = cli("export", "-o", str(tmp_path / "f"), "nosuch")
    assert r.code == 1 and not (tmp_path / "f").exists()
    assert list(tmp_path.iterdir()) == []
    cli("create", "--name", "pf-exp", "busybox")
    assert cli("export", "-o", str(tmp_path / "f"), "pf-exp").code == 0
    assert (tmp_path / "f").stat().st_size > 1024
    # docker export -o /dir pf-exp -> "failed to export container: cannot write to a directory"
    r = cli("export", "-o", str(tmp_path), "pf-exp")
    assert (r.code, r.err) == (
        1,
        "Error: failed to export container: cannot write to a directory\n",
    )


# --- 11. OS failures in Docker's words ---------------------------------------------------
def test_os_failures_are_worded_as_docker_words_them(cli: CLI, tmp_path: Path) -> None:
    # docker save -o /missing/dir/x.tar busybox ->
    #   "failed to save image: invalid output path: stat /missing/dir: no such file or directory"
    missing = tmp_path / "missing" / "dir"
    r = cli("save", "-o", str(missing / "x.tar"), "busybox")
    assert (r.code, r.err) == (
        1,
        f"Error: failed to save image: invalid output path: stat {missing}: "
        "no such file or directory\n",
    )
    # docker import <dir> -> "... read /tmp: is a directory", 1
    r = cli("import", str(tmp_path))
    assert (r.code, r.err) == (1, f"Error: read {tmp_path}: is a directory\n")
    r = cli("import", str(tmp_path / "nope.tar"))
    assert (r.code, r.err) == (
        1,
        f"Error: open {tmp_path / 'nope.tar'}: no such file or directory\n",
    )


def test_an_output_folder_that_takes_no_file_is_worded_as_docker(cli: CLI) -> None:
    import re

    # docker save -o /proc/pf.tar busybox ->
    #   "failed to save image: open /proc/.tmp-pf.tar310908792: no such file or directory", 1
    r = cli("save", "-o", "/proc/pf.tar", "busybox")
    assert r.code == 1
    assert re.fullmatch(
        r"Error: failed to save image: open /proc/\.tmp-pf\.tar\w+: no such file or directory\n",
        r.err,
    ), r.err


def test_a_store_root_that_is_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    afile = tmp_path / "afile"
    afile.write_text("")
    for root in (afile, afile / "below"):
        r = subprocess.run(
            [sys.executable, "-m", "layerlab", "--root", str(root), "ps"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
            env=dict(os.environ),
        )  # fmt: skip
        assert (r.returncode, r.stderr) == (1, f"Error: mkdir {root}: not a directory\n")


# --- 3. Docker's PATH, HOSTNAME and /.dockerenv ---------------------------------------
def _import_without_config(cli: CLI, tmp_path: Path, tag: str) -> None:
    """An image with an empty config (`import` without -c): no Env, so no PATH."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("hi\n")
    busybox = _busybox_binary(cli)
    (tree / "busybox").write_bytes(busybox.read_bytes())
    os.chmod(tree / "busybox", 0o755)
    tar = tmp_path / "tree.tar"
    subprocess.run(["tar", "-C", str(tree), "-cf", str(tar), "."], check=True)
    assert cli("import", str(tar), tag).code == 0
    # Docker 20.10 prints the whole container.Config, every field zero: Env is null
    config = json.loads(cli("inspect", "-f", "{{json .Config}}", tag).out)
    assert config["Env"] is None and not any(config.values())


def _busybox_binary(cli: CLI) -> Path:
    layers = cli("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "busybox").out.strip()
    found = [p for p in Path(layers).rglob("busybox") if p.is_file() and not p.is_symlink()]
    return found[0]


def test_an_image_without_path_gets_dockers(cli: CLI, tmp_path: Path) -> None:
    _import_without_config(cli, tmp_path, "pf-nopath:1")
    # docker run pf-nopath:1 /busybox cat /f -> hi, 0 (PATH supplied by Docker)
    r = cli("run", "--name", "pf-np", "pf-nopath:1", "/busybox", "cat", "/f")
    assert (r.code, r.out) == (0, "hi\n"), r
    # docker run pf-nopath:1 /busybox env ->
    #   PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    #   HOSTNAME=<short id>
    #   HOME=/
    r = cli("run", "--rm", "pf-nopath:1", "/busybox", "env")
    lines = r.out.splitlines()
    assert lines[0] == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert lines[1].startswith("HOSTNAME=") and len(lines[1]) == len("HOSTNAME=") + 12
    # docker diff pf-np -> nothing: /.dockerenv is in the init layer
    assert cli("diff", "pf-np").out == ""


def test_hostname_env_and_dockerenv(cli: CLI) -> None:
    # docker run --rm -h myh busybox sh -c 'echo $HOSTNAME; ls -l /.dockerenv' ->
    #   myh / -rwxr-xr-x ... 0 ... /.dockerenv
    r = cli("run", "--rm", "-h", "myh", "busybox", "sh", "-c", "echo $HOSTNAME; ls -l /.dockerenv")
    first, second = r.out.splitlines()
    assert first == "myh" and second.startswith("-rwxr-xr-x") and second.endswith("/.dockerenv")
    # -e HOSTNAME=x wins, as in Docker
    r = cli("run", "--rm", "-e", "HOSTNAME=x", "busybox", "sh", "-c", "echo $HOSTNAME")
    assert r.out == "x\n"
    cli("run", "--name", "pf-de", "busybox", "true")
    assert cli("diff", "pf-de").out == ""


# --- 4. run failures: nothing left behind, Docker's State -------------------------------
def test_a_failed_run_rm_leaves_no_container_and_frees_the_name(cli: CLI) -> None:
    # docker run --rm --name pf-x busybox nosuchcmd -> 127; `ps -a` shows nothing
    r = cli("run", "--rm", "--name", "pf-x", "busybox", "nosuchcmd")
    assert r.code == 127 and len(r.err.strip().splitlines()) == 1
    assert cli("ps", "-aq").out == ""
    r = cli("run", "-d", "--rm", "--name", "pf-x", "busybox", "nosuchcmd")
    assert r.code == 127 and cli("ps", "-aq").out == ""
    assert cli("run", "--rm", "--name", "pf-x", "busybox", "true").code == 0


def test_a_failed_run_records_dockers_state(cli: CLI) -> None:
    r = cli("run", "--name", "pf-y", "busybox", "nosuchcmd")
    docker_error = (
        "failed to create shim task: OCI runtime create failed: runc create failed: unable to "
        'start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown'
    )
    assert (r.code, r.err) == (127, f"Error: {docker_error}\n")
    # docker inspect -> created 127 "<the same error>"
    state = cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", "pf-y")
    assert state.out == f"created 127 {docker_error}\n"
    # docker start pf-y -> the error, exit 1 (not the run's 127)
    r = cli("start", "pf-y")
    assert r.code == 1 and "executable file not found" in r.err


@pytest.mark.parametrize("command", ["run", "create"])
def test_a_relative_workdir_is_refused_at_create(cli: CLI, command: str) -> None:
    # docker run -w rel busybox true -> "the working directory 'rel' is invalid, it needs to
    # be an absolute path", 125, no container
    r = cli(command, "-w", "rel", "busybox", "true")
    assert (r.code, r.err) == (
        125,
        "Error: the working directory 'rel' is invalid, it needs to be an absolute path\n",
    )
    assert cli("ps", "-aq").out == ""


# --- 5. start of a running container; rmi -f of an image in use ------------------------
def test_start_of_a_running_container_says_its_name(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pf-r", "busybox", "sleep", "60").code == 0
    # docker start pf-r (running) -> "pf-r", 0
    r = cli("start", "pf-r")
    assert (r.code, r.out) == (0, "pf-r\n")
    assert cli("inspect", "-f", "{{.State.Running}}", "pf-r").out == "true\n"


def test_rmi_force_of_a_tag_a_running_container_uses_untags(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pf-r", "busybox", "sleep", "60").code == 0
    image = cli("inspect", "-f", "{{.Image}}", "pf-r").out.strip()
    cli("tag", "busybox", "pf-t:1")
    # docker rmi -f pf-t:1 -> "Untagged: pf-t:1", 0
    assert cli("rmi", "-f", "pf-t:1").out == "Untagged: pf-t:1\n"
    # docker rmi busybox (last tag, running user) -> conflict ... (must force) ..., 1
    r = cli("rmi", "busybox")
    assert r.code == 1 and "(must force)" in r.err
    # docker rmi -f busybox (last tag, running user) -> "Untagged: busybox:latest", 0
    r = cli("rmi", "-f", "busybox")
    assert (r.code, r.out) == (0, "Untagged: busybox:latest\n")
    assert cli("inspect", "-f", "{{.Id}}", image).out.strip() == image  # the image stays
    # docker rmi -f <id> (running user) -> "... (cannot be forced) ... running container", 1
    r = cli("rmi", "-f", image)
    assert r.code == 1 and "cannot be forced" in r.err


def test_rmi_force_of_the_last_tag_a_stopped_container_uses_deletes(
    cli: CLI, tmp_path: Path
) -> None:
    _import_without_config(cli, tmp_path, "pf-last:1")
    image = cli("inspect", "-f", "{{.Id}}", "pf-last:1").out.strip()
    cli("create", "--name", "pf-s", "pf-last:1", "/busybox", "echo", "still here")
    # docker rmi -f pf-last:1 -> "Untagged: pf-last:1" / "Deleted: sha256:<image id>", 0
    r = cli("rmi", "-f", "pf-last:1")
    assert (r.code, r.out) == (0, f"Untagged: pf-last:1\nDeleted: {image}\n")
    assert cli("inspect", image).code == 1
    # the container keeps its layers and still starts, as Docker's does
    r = cli("start", "-a", "pf-s")
    assert (r.code, r.out) == (0, "still here\n")
    assert cli("rm", "pf-s").code == 0


# --- 7. exec -t without a terminal; SIGHUP forwarded --------------------------------------
def test_exec_t_without_a_terminal_runs_on_a_pseudo_terminal(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pf-x", "busybox", "sleep", "60").code == 0
    # docker exec -t pf-x sh -c 'echo hi; tty' </dev/null -> "hi\r\n/dev/pts/0\r\n", 0
    r = cli("exec", "-t", "pf-x", "sh", "-c", "echo hi; tty")
    assert r.code == 0 and r.out.startswith("hi\n/dev/pts/"), r  # text mode: \r\n read as \n
    assert cli("exec", "-t", "pf-x", "sh", "-c", "exit 3").code == 3
    # docker exec -it pf-x echo hi </dev/null -> "the input device is not a TTY", 1
    r = cli("exec", "-it", "pf-x", "echo", "hi")
    assert (r.code, r.err) == (1, "the input device is not a TTY\n")  # bare, as Docker's


def test_exec_of_a_missing_command_is_dockers_126_on_stdout(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pf-x", "busybox", "sleep", "60").code == 0
    # docker exec pf-x nosuch -> stdout: OCI runtime exec failed: exec failed: unable to start
    # container process: exec: "nosuch": executable file not found in $PATH: unknown; 126
    docker = (
        'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": '
        "executable file not found in $PATH: unknown\n"
    )
    r = cli("exec", "pf-x", "nosuch")
    assert (r.code, r.out) == (126, docker)
    r = cli("exec", "-t", "pf-x", "nosuch")
    assert r.code == 126 and r.out.endswith(docker)
    # the process's own 127 is its own
    assert cli("exec", "pf-x", "sh", "-c", "exit 127").code == 127


def test_sighup_to_a_foreground_run_reaches_the_container(cli: CLI, root: Path) -> None:
    import signal
    import sys

    client = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "run", "--name", "pf-h", "busybox", "sh", "-c",
         'trap "echo got HUP; exit 3" HUP; while true; do sleep 0.1; done'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=dict(os.environ, LAYERLAB_ROOT=str(root)),
    )  # fmt: skip
    try:
        for _ in range(600):  # poll the state, not the clock
            if cli("inspect", "-f", "{{.State.Running}}", "pf-h").out == "true\n":
                break
            assert client.poll() is None
        # the trap is set once sh runs its loop; it runs it by the time `exec` can see it
        assert cli("exec", "pf-h", "true").code == 0
        client.send_signal(signal.SIGHUP)
        out, _ = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    # Docker's sig-proxy forwards SIGHUP: the container traps it and exits 3, and so does run
    assert (client.returncode, out) == (3, "got HUP\n")
    assert cli("inspect", "-f", "{{.State.Status}}", "pf-h").out == "exited\n"


# --- 9. commit's boolean forms, several -c changes, build - ------------------------------
@pytest.mark.parametrize("flag", ["--pause=false", "-p=false", "-p=0", "--pause=true", "-p"])
def test_commit_accepts_dockers_boolean_forms(cli: CLI, flag: str) -> None:
    cli("run", "-d", "--name", "pf-c", "busybox", "sh", "-c", "echo x > /f; sleep 60")
    # docker commit --pause=false pf-c / -p=false ...: accepted, 0
    r = cli("commit", flag, "pf-c", "pf-cm:1")
    assert r.code == 0 and r.out.startswith("sha256:"), r
    assert cli("run", "--rm", "pf-cm:1", "cat", "/f").out == "x\n"


def test_several_changes_keep_a_cmd_given_before_the_entrypoint(cli: CLI, tmp_path: Path) -> None:
    cli("create", "--name", "pf-c", "busybox", "true")
    show = "{{json .Config.Cmd}} {{json .Config.Entrypoint}}"
    # docker commit -c 'CMD ["a"]' -c 'ENTRYPOINT ["b"]' -> ["a"] ["b"]
    cli("commit", "-c", 'CMD ["a"]', "-c", 'ENTRYPOINT ["b"]', "pf-c", "pf-cm:1")
    assert cli("inspect", "-f", show, "pf-cm:1").out == '["a"] ["b"]\n'
    # docker commit -c 'ENTRYPOINT ["b"]' -> null ["b"] (the container's Cmd is reset)
    cli("commit", "-c", 'ENTRYPOINT ["b"]', "pf-c", "pf-cm:2")
    assert cli("inspect", "-f", show, "pf-cm:2").out == 'null ["b"]\n'
    # docker import -c 'CMD ["a"]' -c 'ENTRYPOINT ["b"]' -> ["a"] ["b"]
    _import_without_config(cli, tmp_path, "pf-plain:1")
    tar = tmp_path / "tree.tar"
    cli("import", "-c", 'CMD ["a"]', "-c", 'ENTRYPOINT ["b"]', str(tar), "pf-im:1")
    assert cli("inspect", "-f", show, "pf-im:1").out == '["a"] ["b"]\n'


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text('FROM busybox\nCOPY hello.txt /\nCMD ["cat", "/hello.txt"]\n')
    (ctx / "Other").write_text('FROM busybox\nCMD ["echo", "from-stdin"]\n')
    return ctx


def _build_stdin(root: Path, args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    import sys

    return subprocess.run(
        [sys.executable, "-m", "layerlab", "build", *args],
        input=data, capture_output=True, env=dict(os.environ, LAYERLAB_ROOT=str(root)),
    )  # fmt: skip


def test_build_from_a_tar_context_on_stdin(cli: CLI, root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    tar = tmp_path / "ctx.tar"
    subprocess.run(["tar", "-C", str(ctx), "-cf", str(tar), "."], check=True)
    # docker build -q -t pf-b1 - < ctx.tar -> sha256:..., and the image prints hello
    r = _build_stdin(root, ["-q", "-t", "pf-b1", "-"], tar.read_bytes())
    assert r.returncode == 0 and r.stdout.startswith(b"sha256:"), r
    assert cli("run", "--rm", "pf-b1").out == "hello\n"
    # docker build -f Other - < ctx.tgz (gzip) -> the Dockerfile named inside the tar
    tgz = subprocess.run(["gzip", "-c", str(tar)], capture_output=True, check=True).stdout
    assert _build_stdin(root, ["-q", "-f", "Other", "-t", "pf-b2", "-"], tgz).returncode == 0
    assert cli("run", "--rm", "pf-b2").out == "from-stdin\n"
    # docker build -f Nope - < ctx.tar -> "Cannot locate specified Dockerfile: Nope", 1
    r = _build_stdin(root, ["-f", "Nope", "-"], tar.read_bytes())
    assert r.returncode == 1 and b"Cannot locate specified Dockerfile: Nope" in r.stderr


def test_build_from_a_dockerfile_on_stdin(cli: CLI, root: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    # docker build -q -t pf-b3 - < Other -> an image that echoes from-stdin
    r = _build_stdin(root, ["-q", "-t", "pf-b3", "-"], (ctx / "Other").read_bytes())
    assert r.returncode == 0, r
    assert cli("run", "--rm", "pf-b3").out == "from-stdin\n"
    # docker build - < Dockerfile (COPY, no context) -> "COPY failed: file not found in build
    # context or excluded by .dockerignore: stat hello.txt: file does not exist", 1
    r = _build_stdin(root, ["-"], (ctx / "Dockerfile").read_bytes())
    assert r.returncode == 1 and b"stat hello.txt: file does not exist" in r.stderr
    # docker build -f - - -> "invalid argument: can't use stdin for both build context and
    # dockerfile", 1
    r = _build_stdin(root, ["-f", "-", "-"], b"FROM busybox\n")
    assert r.returncode == 1
    assert b"can't use stdin for both build context and dockerfile" in r.stderr


# --- 10. ps cells, load -q, images -q, image sizes ------------------------------------------
def _ps_cells(cli: CLI, name: str, *flags: str) -> dict[str, str]:
    """One `ps -a` row as {header: cell}, cut at the header's columns."""
    lines = cli("ps", "-a", *flags).out.splitlines()
    header = lines[0]
    starts = [header.index(h) for h in ("IMAGE", "COMMAND", "CREATED", "PORTS", "NAMES")]
    row = next(line for line in lines[1:] if line.rstrip().endswith(name))
    image, command, _, ports = (row[a:b].strip() for a, b in itertools.pairwise(starts))
    return {"IMAGE": image, "COMMAND": command, "PORTS": ports}


def test_ps_quotes_arguments_with_spaces(cli: CLI) -> None:
    cli("create", "--name", "pf-p1", "busybox", "sh", "-c", "echo a b; sleep 1")
    cli("create", "--name", "pf-p4", "busybox", "echo", "it's", 'a"b', "", "x")
    # docker ps -a -> "sh -c 'echo a b; sl…"; --no-trunc -> "sh -c 'echo a b; sleep 1'"
    assert _ps_cells(cli, "pf-p1")["COMMAND"] == '"sh -c \'echo a b; sl…"'
    assert _ps_cells(cli, "pf-p1", "--no-trunc")["COMMAND"] == "\"sh -c 'echo a b; sleep 1'\""
    # docker: "echo it's a\"b  x"
    assert _ps_cells(cli, "pf-p4")["COMMAND"] == '"echo it\'s a\\"b  x"'


def test_ps_image_of_a_container_made_from_an_id(cli: CLI) -> None:
    image = cli("inspect", "-f", "{{.Id}}", "busybox").out.strip()
    short = image.removeprefix("sha256:")[:12]
    cli("create", "--name", "pf-p2", image, "true")
    cli("create", "--name", "pf-p3", short, "true")
    cli("create", "--name", "pf-p4", short[:5], "true")
    # docker ps -a: fe1a450c5829 for the full id and the short one; fe1a4 as typed
    assert _ps_cells(cli, "pf-p2")["IMAGE"] == short
    assert _ps_cells(cli, "pf-p3")["IMAGE"] == short
    assert _ps_cells(cli, "pf-p4")["IMAGE"] == short[:5]
    # --no-trunc: as typed (sha256:<64 hex>)
    assert _ps_cells(cli, "pf-p2", "--no-trunc")["IMAGE"] == image
    # a tag that no longer names the container's image: Docker shows the image id
    cli("tag", "busybox", "pf-t:1")
    cli("create", "--name", "pf-p5", "pf-t:1", "true")
    assert _ps_cells(cli, "pf-p5")["IMAGE"] == "pf-t:1"
    cli("rmi", "pf-t:1")
    assert _ps_cells(cli, "pf-p5")["IMAGE"] == short


def test_ps_shows_the_exposed_ports_of_a_running_container(
    cli: CLI, root: Path, tmp_path: Path
) -> None:
    dockerfile = b"FROM busybox\nEXPOSE 80 53/udp 8080/tcp 81\n"
    assert _build_stdin(root, ["-q", "-t", "pf-exp", "-"], dockerfile).returncode == 0
    cli("create", "--name", "pf-p5", "pf-exp", "true")
    cli("run", "-d", "--name", "pf-p6", "pf-exp", "sleep", "60")
    # docker ps: "80-81/tcp, 53/udp, 8080/tcp" while running; nothing when created
    assert _ps_cells(cli, "pf-p6")["PORTS"] == "80-81/tcp, 53/udp, 8080/tcp"
    assert _ps_cells(cli, "pf-p5")["PORTS"] == ""
    show = "{{json .Config.ExposedPorts}}"
    # docker inspect: {"53/udp":{},"80/tcp":{},"8080/tcp":{},"81/tcp":{}}
    exposed = json.loads(cli("inspect", "-f", show, "pf-p6").out)
    assert exposed == {"53/udp": {}, "80/tcp": {}, "8080/tcp": {}, "81/tcp": {}}


def test_load_quiet_and_images_quiet_print_what_docker_prints(cli: CLI, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    assert cli("save", "-o", str(archive), "busybox").code == 0
    # docker load -q -i bb.tar -> "Loaded image: busybox:latest"
    assert cli("load", "-q", "-i", str(archive)).out == "Loaded image: busybox:latest\n"
    cli("tag", "busybox", "pf-t:1")
    image = cli("inspect", "-f", "{{.Id}}", "busybox").out.strip()
    short = image.removeprefix("sha256:")[:12]
    # docker images -q -> one line per row: the id twice for two tags
    assert cli("images", "-q").out == f"{short}\n{short}\n"


def test_image_size_counts_symlinks_as_docker(cli: CLI, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "file").write_bytes(b"x" * 1000)
    os.symlink("a-target-of-twenty-c", tree / "link")  # 20 bytes
    os.link(tree / "file", tree / "hard")  # counted once
    tar = tmp_path / "tree.tar"
    subprocess.run(["tar", "-C", str(tree), "-cf", str(tar), "."], check=True)
    cli("import", str(tar), "pf-size:1")
    # Docker's directory.Size: every non-directory's size, hardlinks once -> 1020
    assert cli("inspect", "-f", "{{.Size}}", "pf-size:1").out == "1020\n"
