"""The command grammar: Docker's flags and words, parsed once for the shell and the TUI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.cli import UsageError, parse

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


def test_bad_flags_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unrecognized arguments"):
        parse(["ps", "--bogus"])
    with pytest.raises(UsageError):
        parse(["stop", "-t", "soon", "a"])


def test_cli_start_up_does_not_import_the_tui_or_netlink(root: Path) -> None:
    code = (
        "import sys, layerlab.cli; "
        "heavy = ('textual', 'pyroute2', 'rich', 'watchdog'); "
        "print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_and_version(cli: CLI) -> None:
    assert cli("--version").out.startswith("layerlab ")
    r = cli("run", "--help")
    assert r.code == 0 and "--detach" in r.out


def test_unknown_command_is_one_line(cli: CLI) -> None:
    r = cli("frobnicate")
    assert r.code == 125 and len(r.err.strip().splitlines()) == 1 and "invalid choice" in r.err


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
