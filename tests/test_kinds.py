"""The conftest's line between unit and system tests: what a unit test may not start."""

from __future__ import annotations

import socket
import sys

import pytest

from .conftest import _forbidden

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "argv",
    [
        ["runc", "--root", "/run/x", "list"],
        ["/usr/sbin/runc", "delete", "c1"],
        [sys.executable, "-m", "layerlab", "ps"],
        [sys.executable, "-m", "layerlab.server.forkserver"],
        [sys.executable, "-c", "from layerlab.tui.app import LayerlabApp"],
        ["/bin/sh", "-c", "layerlab serve --port 8000"],
        ["/usr/local/bin/layerlab", "tui"],
    ],
)
def test_runc_the_cli_a_shim_and_a_served_tui_are_system(argv: list[str]) -> None:
    assert _forbidden("subprocess.Popen", (argv[0], argv, None, None))
    assert _forbidden("os.posix_spawn", (argv[0], argv, {}))


def test_other_programs_and_unix_sockets_are_a_units() -> None:
    argv = ["tar", "-tf", "/tmp/layerlab/x.tar"]
    assert _forbidden("subprocess.Popen", ("tar", argv, None, None)) is None
    with socket.socket(socket.AF_UNIX) as unix, socket.socket(socket.AF_INET) as inet:
        assert _forbidden("socket.bind", (unix, "/tmp/x/socket")) is None
        assert _forbidden("socket.bind", (inet, ("127.0.0.1", 0)))
