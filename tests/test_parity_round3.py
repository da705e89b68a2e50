"""Docker 20.10 parity, round three: help and usage words, `build`'s output and failed steps,
and the smaller differences a Docker user notices. The expected strings are Docker's, taken
from docker/cli v20.10's source (cited by file), with `docker` read as `layerlab`."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from layerlab.build.context import SourceRoot, sent_size
from layerlab.build.dockerignore import IgnoreMatcher
from layerlab.commands.grammar import UsageError, parse
from layerlab.commands.usage import _wrap
from layerlab.engine import Engine
from layerlab.layerfs import layer_writer
from layerlab.main import main

from .conftest import CLI

pytestmark = pytest.mark.unit


def _help(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """What `layerlab WORDS` prints as help, and that it exits 0 (cobra's help does)."""
    with pytest.raises(SystemExit) as done:
        main(list(words))
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def _usage_error(*words: str) -> UsageError:
    with pytest.raises(UsageError) as raised:
        parse(list(words))
    return raised.value


def test_an_unknown_command_in_docker_20_10s_words() -> None:
    # cmd/docker/docker.go: "docker: '%s' is not a docker command.\nSee 'docker --help'", exit 1
    for word in ("frob", "plugin", "swarm"):
        error = _usage_error(word)
        assert str(error) == f"layerlab: '{word}' is not a layerlab command.\nSee 'layerlab --help'"
        assert error.exit_code == 1


def test_a_missing_argument_in_docker_20_10s_words() -> None:
    # cli/required.go RequiresMinArgs: "%q requires at least %d %s.\nSee '%s --help'.\n\n
    # Usage:  %s\n\n%s"; exec's Use and Short from cli/command/container/exec.go
    for words in (["exec", "c"], ["exec"]):
        error = _usage_error(*words)
        assert str(error) == (
            '"layerlab exec" requires at least 2 arguments.\n'
            "See 'layerlab exec --help'.\n\n"
            "Usage:  layerlab exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
            "Run a command in a running container"
        )
        assert error.exit_code == 1
    # cli/required.go ExactArgs, with rename's Use and Short (cli/command/container/rename.go)
    assert str(_usage_error("rename", "a")) == (
        '"layerlab rename" requires exactly 2 arguments.\n'
        "See 'layerlab rename --help'.\n\n"
        "Usage:  layerlab rename CONTAINER NEW_NAME\n\n"
        "Rename a container"
    )
    # cli/cobra.go FlagErrorFunc: "%s\nSee '%s --help'.", exit 125
    flag = _usage_error("ps", "--bogus")
    assert (str(flag), flag.exit_code) == ("unknown flag: --bogus\nSee 'layerlab ps --help'.", 125)
    assert parse(["exec", "c", "ls", "-la"]).command == ["ls", "-la"]


def test_command_help_is_cobras(capsys: pytest.CaptureFixture[str]) -> None:
    # cli/cobra.go helpTemplate ("\n" + usage) and usageTemplate; pause has no flags
    # (cli/command/container/pause.go), so no Options table.
    assert _help(capsys, "pause", "--help") == (
        "\nUsage:  layerlab pause CONTAINER [CONTAINER...]\n\n"
        "Pause all processes within one or more containers\n"
    )
    # rm's flags as cli/command/container/rm.go defines them (--link, networking, aside),
    # laid out by pflag's FlagUsagesWrapped; `-h` is help where a command has no `-h`.
    rm = (
        "\nUsage:  layerlab rm [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Remove one or more containers\n\n"
        "Options:\n"
        "  -f, --force     Force the removal of a running container (uses SIGKILL)\n"
        "  -v, --volumes   Remove anonymous volumes associated with the container\n"
    )
    assert _help(capsys, "rm", "--help") == rm
    assert _help(capsys, "rm", "-h") == rm
    run = _help(capsys, "run", "--help")
    assert run.startswith(
        "\nUsage:  layerlab run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Run a command in a new container\n\nOptions:\n"
    )
    assert "\n  -d, --detach               Run in the background\n" in run
    assert "\n  -h, --hostname string      Container host name\n" in run
    assert "\n  -m, --memory string        Memory limit" in run
    assert parse(["run", "-h", "box", "busybox"]).hostname == "box"  # not help here
    # A command's aliases: usageTemplate's "Aliases:\n  {{.NameAndAliases}}"
    assert "\n\nAliases:\n  ls, list\n\nOptions:\n" in _help(capsys, "volume", "ls", "--help")


@pytest.mark.system
def test_help_command_and_a_bare_group_print_dockers_help(cli: CLI) -> None:
    assert cli("help", "rm").out == cli("rm", "--help").out
    assert cli("help").out == cli("--help").out
    group = cli("container", "frob")  # cli/required.go NoArgs on a group: its usage, exit 1
    assert group.code == 1 and group.err.startswith("\nUsage:  layerlab container COMMAND\n")


def test_top_level_help_lists_commands_as_docker(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "--help")
    assert text.startswith("\nUsage:  layerlab [OPTIONS] COMMAND\n\n")
    assert "\n\nManagement Commands:\n  container   Manage containers\n  image " in text
    assert "\n\nCommands:\n  analyze     Show an image's wasted space" in text
    assert "\n  attach      Attach local standard input" in text
    assert "\n  ps          List containers\n" in text
    assert "container prune" not in text and "\n  help " not in text
    assert text.endswith("\n\nRun 'layerlab COMMAND --help' for more information on a command.\n")


def test_flag_help_wraps_as_pflag_does() -> None:
    """pflag's wrap (vendor/github.com/spf13/pflag/flag.go): lines of 79 columns less the
    indent, five columns of slop against an orphan word."""
    text = "Show n last created containers (includes all states) (default -1)"
    assert _wrap(24, 79, text) == (
        "Show n last created containers (includes all\n" + " " * 24 + "states) (default -1)"
    )
    assert _wrap(24, 79, "short") == "short"


# --- build -------------------------------------------------------------------------------


def test_the_context_is_sized_as_dockers_client_tars_it(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"x" * 600)
    (tmp_path / "big.iso").write_bytes(b"x" * 5000)
    (tmp_path / ".dockerignore").write_text("*.iso\nDockerfile\n")
    ignore = IgnoreMatcher.read(tmp_path / ".dockerignore")
    context = SourceRoot(tmp_path, ignore, "build context")
    always = {"Dockerfile": 13, ".dockerignore": 19}
    # end 1024; Dockerfile and .dockerignore 1024 each though ignored; sub/ 512;
    # sub/data 512 + 1024; big.iso ignored
    assert sent_size(context, always) == 1024 + 1024 + 1024 + 512 + 1536


@pytest.mark.system
def test_build_says_what_it_sends_and_leaves_a_failed_steps_container(
    cli: CLI, engine: Engine, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo hi && exit 3\n")
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    failed = subprocess.run(
        [sys.executable, "-m", "layerlab", "build", str(tmp_path)],
        capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    # docker/cli cli/command/image/build.go: a progress reader "Sending build context to Docker
    # daemon", its last update as streamformatter writes it ("%8v" of the size, "\r", "\r\n")
    assert failed.stdout.startswith(
        b"Sending build context to Docker daemon  2.048kB\r\r\nStep 1/2 : FROM busybox\n"
    )
    assert failed.returncode == 3
    step = re.findall(rb"Running in ([0-9a-f]{12})", failed.stdout)[-1].decode()
    # Docker's builder removes a failed step's container only with --force-rm
    assert cli("create", "busybox").code == 0  # a command that heals the store first
    listed = cli("ps", "-a", "--filter", "status=exited", "--format", "{{.ID}} {{.Status}}")
    assert listed.out.startswith(f"{step} Exited (3) ")
    forced = cli("build", "--force-rm", str(tmp_path))
    assert forced.code == 3 and "Removing intermediate container" in forced.out
    assert len(cli("ps", "-aq").out.split()) == 2  # the first failure's and the create's


# --- smaller ones ------------------------------------------------------------------------


@pytest.mark.system
def test_a_users_groups_are_dockers(cli: CLI) -> None:
    """moby daemon/oci_linux.go getUser: the additional gids are the gid itself, then the
    groups /etc/group lists the user in (when no group is given)."""
    assert cli("run", "-d", "--name", "pr-groups", "busybox", "sleep", "300").code == 0
    cases = {
        "1000": "uid=1000 gid=0(root) groups=0(root)\n",
        "1000:1000": "uid=1000 gid=1000 groups=1000\n",
        "nobody": "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
    }
    for user, expected in cases.items():
        assert cli("exec", "-u", user, "pr-groups", "id").out == expected, user
        assert cli("run", "--rm", "-u", user, "busybox", "id").out == expected, user
    assert cli("exec", "pr-groups", "id").out == "uid=0(root) gid=0(root) groups=0(root)\n"


@pytest.mark.system
def test_exec_into_a_paused_container_and_rename_errors_in_dockers_words(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pr-paused", "busybox", "sleep", "300").code == 0
    assert cli("pause", "pr-paused").code == 0
    # daemon/exec.go getActiveContainer: errExecPaused(name), the name as given
    paused = cli("exec", "pr-paused", "true")
    assert paused.code == 1
    assert paused.err == "Error: Container pr-paused is paused, unpause the container before exec\n"
    assert cli("unpause", "pr-paused").code == 0
    # docker/cli container/rename.go: the daemon's error, then its own line
    renamed = cli("rename", "nosuch", "other")
    assert renamed.code == 1
    assert renamed.err.splitlines() == [
        "Error: No such container: nosuch",
        "Error: failed to rename container named nosuch",
    ]


@pytest.mark.system
def test_attach_fields_are_dockers(engine: Engine, cli: CLI) -> None:
    """docker/cli container/opts.go: stdout and stderr attached unless -a names others,
    stdin with -i; container/run.go: none with -d."""
    fields = "{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}}"
    for words, expected in (
        (["create"], "false true true"),
        (["create", "-i"], "true true true"),
        (["create", "-a", "stdout"], "false true false"),
        (["run", "-d"], "false false false"),
    ):
        made = cli(*words, "busybox", "true")
        assert made.code == 0, made.err
        shown = cli("inspect", "-f", fields, made.out.strip())
        assert shown.out == expected + "\n", words


@pytest.mark.system
def test_one_images_tags_list_in_the_daemons_order(cli: CLI) -> None:
    """reference/store.go References sorts an image's references lexically."""
    for tag in ("busybox:zz", "busybox:1"):
        assert cli("tag", "busybox", tag).code == 0
    listed = cli("images", "busybox", "--format", "{{.Tag}}")
    assert listed.out == "1\nlatest\nzz\n"


def test_export_names_owners_as_the_host_does(tmp_path: Path) -> None:
    """Docker 20.10's export headers carry Go's tar.FileInfoHeader names, looked up on the
    host (`tar tv`: root/root); an id the host has no name for stays bare."""
    src = tmp_path / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    long_name = src / ("n" * 120)  # beyond ustar's name field: tarfile's pax path
    long_name.write_text("long\n")
    stranger = src / "stranger"
    stranger.write_text("x\n")
    os.chown(stranger, 54321, 54321)
    out = io.BytesIO()
    layer_writer.write_tar(src, out, names=True)
    plain = io.BytesIO()
    layer_writer.write_tar(src, plain)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as named:
        owners = {m.name: (m.uname, m.gname) for m in named.getmembers()}
        assert named.extractfile("etc/passwd").read() == b"root:x:0:0::/root:/bin/sh\n"  # type: ignore[union-attr]
    assert owners["etc/passwd"] == owners["etc"] == owners["n" * 120] == ("root", "root")
    assert owners["stranger"] == ("", "")
    with tarfile.open(fileobj=io.BytesIO(plain.getvalue())) as bare:  # layers keep no names
        assert {(m.uname, m.gname) for m in bare.getmembers()} == {("", "")}


@pytest.mark.system
def test_export_lists_root_root(cli: CLI, tmp_path: Path) -> None:
    assert cli("create", "--name", "pr-export", "busybox").code == 0
    assert cli("export", "-o", str(tmp_path / "out.tar"), "pr-export").code == 0
    with tarfile.open(tmp_path / "out.tar") as tar:
        assert tar.getmember("bin/busybox").uname == "root"
        assert tar.getmember("bin/busybox").gname == "root"


@pytest.mark.system
def test_a_failed_exec_says_so_once(cli: CLI) -> None:
    """runc writes its failure to its stderr as well as to its log; Docker prints it once,
    on stdout (errors.ExecFailed), as "OCI runtime exec failed: …: unknown", exit 126.
    A started process's stderr flows."""
    assert cli("run", "-d", "--name", "pr-exec", "busybox", "sleep", "300").code == 0
    failed = cli("exec", "pr-exec", "nosuchcmd")
    assert failed.code == 126
    assert failed.out == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "nosuchcmd": executable file not found in $PATH: unknown\n'
    )
    assert failed.err == ""
    ran = cli("exec", "pr-exec", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (ran.code, ran.out, ran.err) == (3, "out\n", "err\n")


@pytest.mark.system
def test_inspect_of_a_name_that_does_not_parse_is_no_such_object(cli: CLI) -> None:
    """docker/cli e2e/system/inspect_test.go, TestInspectInvalidReference: `inspect FooBar`
    prints `[]` and `Error: No such object: FooBar`, exit 1; with `--type image` the
    reference's own error stands, as the daemon gives it."""
    for name in ("FooBar", "[/]"):
        got = cli("inspect", name)
        assert (got.code, got.out, got.err) == (1, "[]\n", f"Error: No such object: {name}\n")
    typed = cli("inspect", "--type", "image", "FooBar")
    assert typed.code == 1
    assert "invalid reference format: repository name must be lowercase" in typed.err
