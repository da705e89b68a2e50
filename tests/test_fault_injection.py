"""Issue 12: kill the CLI (SIGKILL) at a random moment of create, run, commit, load, import
and rm; the next command heals what it left and `system check` then finds nothing.

The counts are printed (pytest shows them on failure, `-s` or `-rA` otherwise).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from layerlab.engine import CreateOptions, Engine, fsck
from tests.conftest import CLI, eventually

pytestmark = pytest.mark.system

TRIALS = 30
SEED = 12


def test_killed_commands_leave_nothing_after_the_next_one(
    cli: CLI, engine: Engine, root: Path, tmp_path: Path
) -> None:
    fill = "dd if=/dev/urandom of=/blob bs=1M count=24 2>/dev/null; touch /ready; sleep 600"
    assert cli("run", "-d", "--name", "base", "busybox", "sh", "-c", fill).code == 0
    upper = engine.writable_layer("base").upper
    eventually(lambda: (upper / "ready").exists(), True)
    saved, exported = tmp_path / "saved.tar", tmp_path / "exported.tar"
    assert cli("save", "-o", str(saved), "busybox").code == 0
    assert cli("export", "-o", str(exported), "base").code == 0
    victims = iter(range(TRIALS))

    def rm_target() -> list[str]:
        name = f"victim{next(victims)}"
        engine.run("busybox", CreateOptions(command=["sleep", "600"], name=name))
        return ["rm", "-f", name]

    commands = {
        "create": lambda: ["create", "busybox", "true"],
        "run": lambda: ["run", "-d", "busybox", "sleep", "600"],
        "commit": lambda: ["commit", "base"],
        "load": lambda: ["load", "-i", str(saved)],
        "import": lambda: ["import", str(exported)],
        "rm": rm_target,
    }
    rng = random.Random(SEED)
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    problems: Counter[str] = Counter()
    details: list[str] = []
    killed = 0
    for trial in range(TRIALS):
        what = list(commands)[trial % len(commands)]
        argv = commands[what]()
        proc = subprocess.Popen(
            [sys.executable, "-m", "layerlab", *argv], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + rng.uniform(0.3, 1.6)
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        killed += proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = Engine(root)  # the next command, as a new process would run it
        after.create("busybox", CreateOptions(command=["true"]))
        found = fsck.check(Engine(root))
        problems[what] += len(found)
        details += [f"{what}: {p.line()}" for p in found]
    print(
        f"fault injection: {killed}/{TRIALS} commands killed mid-way; problems after the "
        f"next command: {dict(problems)}"
    )
    print("\n".join(details))
    assert sum(problems.values()) == 0, details
    assert not engine.container("base").paused
    assert engine.runtime.state(engine.container("base").id)["status"] == "running"
