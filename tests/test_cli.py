"""The command line: Docker's grammar, parsed once for the shell and the TUI; what each command
reports it touched; and standard input read only where a face has one."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.commands.grammar import COMMANDS, ENTRY_COMMANDS, UsageError, build_parser, parse
from layerlab.commands.handlers import HANDLERS, dispatch
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.report import Report

from .conftest import CLI

pytestmark = pytest.mark.system


def test_a_leading_docker_is_accepted() -> None:
    ns = parse(["docker", "run", "ubuntu", "touch", "happiness.txt"])
    assert (ns.cmd, ns.image, ns.command) == ("run", "ubuntu", ["touch", "happiness.txt"])


def test_flags_after_the_image_belong_to_the_container() -> None:
    ns = parse(["run", "-dit", "--name", "x", "busybox", "ls", "-la", "--color"])
    assert ns.detach and ns.interactive and ns.tty and ns.name == "x"
    assert ns.command == ["ls", "-la", "--color"]


def test_docker_short_flags() -> None:
    assert (
        parse(["create", "-h", "box", "-e", "A=1", "-e", "B", "-w", "/tmp", "busybox"]).hostname
        == "box"
    )
    assert parse(["stop", "-t", "3", "a", "b"]).time == 3
    assert parse(["kill", "-s", "TERM", "a"]).signal == "TERM"
    assert parse(["logs", "-ft", "a"]).follow


def test_every_command_in_the_grammar_has_a_handler_but_the_entry_points() -> None:
    # the entry point opens the TUI (served) and runs `lesson`: a face's bar refuses them
    assert set(COMMANDS) - set(HANDLERS) == ENTRY_COMMANDS
    assert set(HANDLERS) <= set(COMMANDS)


def test_bad_flags_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown flag: --bogus"):
        parse(["ps", "--bogus"])
    with pytest.raises(UsageError):
        parse(["stop", "-t", "soon", "a"])


def _imported_by(module: str, *watched: str) -> list[str]:
    """The modules among `watched` (and below) that importing `module` loads, in a fresh Python."""
    code = (
        f"import sys, {module}; watched = {watched!r}; "
        "print(sorted(m for m in sys.modules if any("
        "m == w or m.startswith(w + '.') for w in watched)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(eval(out.stdout))


def test_cli_start_up_does_not_import_the_tui_or_netlink(root: Path) -> None:
    heavy = ("textual", "pyroute2", "rich", "watchdog", "layerlab.tui")
    assert _imported_by("layerlab.main", *heavy) == []
    assert _imported_by("layerlab.commands.handlers", *heavy) == []


# What `run --rm` must not load: tar writing and reading, the builder, the TUI and its
# snapshot, package resources (zipfile), tempfile and shutil (bz2, lzma), datetime, a
# socket (only a `-t` console needs one), termios (only `-t`). Each is a start-up cost
# paid by a command that does not use it.
NOT_FOR_RUN = (
    "tarfile", "zipfile", "importlib.resources", "textual", "rich", "layerlab.tui",
    "layerlab.layerfs.archive", "layerlab.build", "layerlab.layerfs.copy",
    "layerlab.layerfs.layers", "layerlab.layerfs.layer_writer", "layerlab.layerfs.layer_store",
    "layerlab.lessons",
    "layerlab.storage.snapshot",
    "tempfile", "shutil", "bz2", "lzma", "datetime", "socket", "termios", "tty",
)  # fmt: skip


def test_run_loads_only_what_starting_a_container_needs(root: Path, engine: Engine) -> None:
    """A real `run --rm --network none busybox true`, then the modules its process had
    loaded. Without `--network none` the bridge's netlink (pyroute2, its asyncio, socket)
    loads too: the fork server has it loaded already."""
    engine.image("busybox")  # made here: making busybox writes a layer, a run does not
    code = (
        "import sys; from layerlab.main import main; code = main(['run', '--rm', '--network', "
        "'none', 'busybox', 'true']); "
        f"print(sorted(m for m in sys.modules if m.startswith({NOT_FOR_RUN!r}))); "
        "sys.exit(code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, LAYERLAB_ROOT=str(root)), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout.splitlines()[-1]) == []
    assert engine.containers(all=True) == []  # it did run: `--rm` removed it


def test_the_quick_exit_delivers_all_output_and_the_code(cli: CLI) -> None:
    """`python -m layerlab` leaves without the interpreter's teardown: what was printed
    (much more than a pipe buffer holds) still arrives whole, and the code is the one."""
    r = cli("run", "--rm", "busybox", "sh", "-c", "seq 1 50000; echo done >&2; exit 3")
    assert r.code == 3, r.err
    assert r.out.split() == [str(n) for n in range(1, 50001)]
    assert r.err == "done\n"
    listing = cli("images", "--format", "{{.Repository}}:{{.Tag}}")  # the CLI's own print
    assert (listing.code, listing.out) == (0, "busybox:latest\n")


def test_a_command_builds_only_its_own_parser() -> None:
    """argparse builds every flag it is given: `run` is parsed by run's parser alone,
    while a bare `layerlab`, a typo and `help` see every command."""
    sub = next(a for a in build_parser("run")._actions if a.dest == "cmd")
    assert set(sub.choices) == {"run"}  # type: ignore[attr-defined]
    everything = next(a for a in build_parser()._actions if a.dest == "cmd")
    assert set(COMMANDS) <= set(everything.choices)  # type: ignore[attr-defined]
    assert parse(["container", "prune", "-f"]).cmd == "container prune"
    assert parse(["--root", "/x", "lessons", "ls"]).cmd == "lesson"
    with pytest.raises(UsageError, match="is not a layerlab command"):
        parse(["frobnicate"])


def test_the_grammar_parses_without_the_engine() -> None:
    """The command bar completes and parses from it; running a command is handlers' business."""
    assert (
        _imported_by("layerlab.commands.grammar", "layerlab.engine", "layerlab.commands.handlers")
        == []
    )


def test_help_and_version(cli: CLI) -> None:
    assert cli("--version").out.startswith("layerlab ")
    r = cli("run", "--help")
    assert r.code == 0 and "--detach" in r.out


def test_unknown_command_is_one_line(cli: CLI) -> None:
    r = cli("frobnicate")
    # Docker 20.10 (cmd/docker/docker.go): "docker: 'frobnicate' is not a docker command.", exit 1
    assert r.code == 1 and r.err.startswith("layerlab: 'frobnicate' is not a layerlab command.")


def test_no_runtime_installed(cli: CLI, root: Path) -> None:
    env = dict(os.environ, LAYERLAB_ROOT=str(root), LAYERLAB_RUNTIME="no-such-runtime")
    r = subprocess.run(
        [sys.executable, "-m", "layerlab", "run", "busybox", "true"],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 125
    assert r.stderr.strip().splitlines() == [
        "Error: no OCI runtime found: install runc (apt-get install runc); "
        "LAYERLAB_RUNTIME=no-such-runtime is not an executable"
    ]


# --- standard input: read only from IO.stdin, refused where there is none -----------------
class _NoStdin:
    """Stands in for sys.stdin: a command that reaches for the process's stdin fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"sys.stdin.{name} was used: a command read the terminal's stdin")


@pytest.mark.parametrize(
    ("words", "refusal"),
    [
        (["build", "-f", "-", "{ctx}"], '"build -f -" reads the Dockerfile from standard input'),
        (["load"], '"load" reads an archive from standard input'),
        (["import", "-", "imported:1"], '"import -" reads the tar archive from standard input'),
    ],
)
def test_a_face_without_stdin_refuses_commands_that_read_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, words: list[str], refusal: str
) -> None:
    """The TUI's command bar has no stdin: `build -f -` there used to read the terminal's."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\n")
    before = [image.id for _, image in engine.images(all=True)]
    monkeypatch.setattr(sys, "stdin", _NoStdin())
    out, err = io.StringIO(), io.StringIO()
    ns = parse([w.format(ctx=ctx) for w in words])
    with pytest.raises(LayerlabError) as caught:
        dispatch(engine, ns, IO(out, err, interactive=False, stdin=None))
    message = str(caught.value)
    assert message.startswith(refusal) and "\n" not in message
    assert caught.value.exit_code != 0
    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert [image.id for _, image in engine.images(all=True)] == before  # nothing touched
    assert engine.containers(all=True) == []


def test_the_shell_still_reads_a_dockerfile_from_stdin(cli: CLI, tmp_path: Path) -> None:
    r = cli("build", "-q", "-f", "-", str(tmp_path), input="FROM busybox\nENV FROM_STDIN=1\n")
    assert r.code == 0, r.err
    assert r.out.startswith("sha256:")


def test_the_shell_hands_its_stdin_to_load(cli: CLI) -> None:
    """From a shell, `load` reads the process's stdin (here empty), as before the split."""
    r = cli("load", input="")
    assert (r.code, r.err) == (1, "Error: invalid archive: not a valid tar: empty file\n")


# --- what each command reports it touched -----------------------------------------------
def _run(engine: Engine, *words: str, stdin: bytes | None = None) -> tuple[Report, str]:
    out, err = io.StringIO(), io.StringIO()
    source = io.BytesIO(stdin) if stdin is not None else None
    report = dispatch(engine, parse(words), IO(out, err, interactive=False, stdin=source))
    return report, out.getvalue()


def test_reports_name_the_containers_and_images_each_command_touched(engine: Engine) -> None:
    busybox = engine.image("busybox").id
    made, out = _run(engine, "create", "--name", "box", "busybox", "touch", "/happiness.txt")
    cid = out.strip()
    assert made == Report(containers=[cid], created_containers=[cid])

    started, _ = _run(engine, "start", "-a", "box")
    assert started == Report(containers=[cid])

    committed, out = _run(engine, "commit", "box", "happy:1")
    image = out.strip()
    assert committed == Report(containers=[cid], images=[image], created_images=[image])

    assert _run(engine, "tag", "happy:1", "happy:2")[0] == Report(images=[image])
    looked, _ = _run(engine, "inspect", "box", "happy:2", "nosuch")
    assert looked == Report(code=1, containers=[cid], images=[image])
    assert _run(engine, "ps", "-a")[0] == Report()

    removed, out = _run(engine, "rm", "box", "nosuch")  # by name; one failure, one done
    assert removed == Report(
        code=1, images=[busybox], removed_containers=[cid], errors=["No such container: nosuch"]
    )
    assert out == "box\n"

    untagged, out = _run(engine, "rmi", "happy:2")
    assert untagged == Report(images=[image], untagged=["happy:2"])
    assert out == "Untagged: happy:2\n"

    deleted, out = _run(engine, "rmi", "happy:1")
    assert deleted.untagged == ["happy:1"] and deleted.removed_images == [image]
    lines = out.splitlines()
    assert lines[:2] == ["Untagged: happy:1", f"Deleted: {image}"]
    assert all(line.startswith("Deleted: sha256:") for line in lines[1:])
    assert engine.image("busybox").id == busybox  # still tagged: only the commit went


def test_a_run_with_rm_reports_its_container_created_and_removed(engine: Engine) -> None:
    report, _ = _run(engine, "run", "--rm", "busybox", "true")
    (cid,) = report.created_containers
    assert report == Report(containers=[cid], created_containers=[cid], removed_containers=[cid])


def test_build_from_stdin_reports_the_new_image_then_none_from_the_cache(
    engine: Engine, tmp_path: Path
) -> None:
    dockerfile = b"FROM busybox\nENV FROM_STDIN=1\n"
    first, out = _run(engine, "build", "-q", "-f", "-", str(tmp_path), stdin=dockerfile)
    image = out.strip()
    assert [(s.keyword, s.cached) for s in first.build_steps] == [("FROM", False), ("ENV", False)]
    assert first == Report(images=[image], created_images=[image], build_steps=first.build_steps)
    again, _ = _run(engine, "build", "-q", "-f", "-", str(tmp_path), stdin=dockerfile)
    assert [(s.keyword, s.cached) for s in again.build_steps] == [("FROM", False), ("ENV", True)]
    assert again == Report(images=[image], build_steps=again.build_steps)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [  # Docker 20.10's words (cobra) and codes for the same command lines
        (["ps", "extra"], 1, '"layerlab ps" accepts no arguments.'),
        (["volume", "ls", "extra"], 1, '"layerlab volume ls" accepts no arguments.'),
        (["images", "a", "b"], 1, '"layerlab images" requires at most 1 argument.'),
        (["rm"], 1, '"layerlab rm" requires at least 1 argument.'),
        (["run"], 1, '"layerlab run" requires at least 1 argument.'),
        (["tag", "a", "b", "c"], 1, '"layerlab tag" requires exactly 2 arguments.'),
        (["commit"], 1, '"layerlab commit" requires at least 1 and at most 2 arguments.'),
        (["ps", "--bogus"], 125, "unknown flag: --bogus\nSee 'layerlab ps --help'."),
        (["ps", "-z"], 125, "unknown shorthand flag: 'z' in -z"),
    ],
)
def test_usage_errors_in_dockers_words(argv: list[str], code: int, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse(argv)
    assert message in str(raised.value)
    assert raised.value.exit_code == code


def test_a_containers_command_keeps_its_dashes() -> None:
    assert parse(["run", "busybox", "echo", "--bogus"]).command == ["echo", "--bogus"]
