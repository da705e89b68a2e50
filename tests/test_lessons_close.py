"""A lesson's sandbox ends through its engine: `Engine.remove_store` stops and removes its
containers, unmounts what is left and deletes the store; the sandbox removes only its folder."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from layerlab.commands.handlers import dispatch
from layerlab.engine import Engine
from layerlab.engine.fsck import mounts_under
from layerlab.lessons.runner import Sandbox

pytestmark = pytest.mark.system


def test_the_engine_removes_its_store_with_a_running_container(tmp_path: Path) -> None:
    with Sandbox(dispatch, tmp_path) as sandbox:
        ran = sandbox.run("run -d --name busy busybox sleep 600")
        assert ran.code == 0, ran.err
        pid = int(sandbox.engine.container("busy").state["Pid"])
        root = sandbox.root
        assert mounts_under(root)  # its union is mounted while it runs
        sandbox.engine.remove_store()
        assert not root.exists()
        assert mounts_under(root) == []
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert sandbox.workdir.is_dir()  # the sandbox's own folder is the sandbox's to remove
    assert not sandbox.dir.exists()


def test_a_store_that_was_never_written_is_removed_too(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "store")
    engine.remove_store()
    engine.remove_store()  # twice: nothing left, nothing to fail
    assert not (tmp_path / "store").exists()
