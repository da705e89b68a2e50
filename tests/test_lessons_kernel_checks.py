"""The second course's checks read the kernel and the store, and never pass on a failure:
a namespace or a memory limit needs a running container, `build_cache` a build that
succeeded, a size check a lower bound (a range with no bound would pass on anything)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from layerlab.engine import Engine
from layerlab.lessons.checks import Context, Outcome, evaluate
from layerlab.lessons.loader import read_lesson
from layerlab.lessons.model import Check
from layerlab.tui.app import LayerlabApp
from layerlab.tui.settle import settled

from .conftest import CLI
from .tui_helpers import screen_text

pytestmark = pytest.mark.system


def judged(engine: Engine, check: str, last: Outcome | None = None, **args: str | int) -> str:
    """`✔ goal — now: ...` or `✘ ...`, as a face shows the check."""
    result = evaluate(Check(check, dict(args), Path("test.yaml"), 1), Context(engine, last))
    return ("✔ " if result.ok else "✘ ") + str(result)


def test_namespaces_and_the_memory_limit_of_a_running_container(engine: Engine, cli: CLI) -> None:
    assert cli("run", "-d", "--name", "box", "-m", "16m", "busybox", "sleep", "300").code == 0
    assert judged(engine, "namespace", container="box", kind="pid").startswith(
        "✔ box has a pid namespace of its own — now: pid:["
    )
    assert judged(engine, "memory_limit", container="box", mib=16).startswith("✔")
    assert judged(engine, "memory_limit", container="box", mib=32) == (
        "✘ box's memory limit is 32 MiB — now: 16 MiB"
    )
    assert judged(engine, "cpu_limit", container="box", millicpus=500) == (
        "✘ box's CPU quota is 0.5 CPUs — now: no quota"
    )
    assert cli("update", "-m", "32m", "--memory-swap", "64m", "--cpus", "0.5", "box").code == 0
    assert judged(engine, "memory_limit", container="box", mib=32).startswith("✔")
    assert judged(engine, "cpu_limit", container="box", millicpus=500).startswith("✔")
    assert cli("kill", "box").code == 0
    assert judged(engine, "namespace", container="box", kind="uts") == (
        "✘ box has a uts namespace of its own — now: the container is exited (137)"
    )
    assert judged(engine, "cpu_limit", container="box", millicpus=500).endswith("exited (137)")
    assert judged(engine, "oom_killed", container="box") == (
        "✘ the OOM killer ended box — now: exited (137), not OOMKilled"
    )
    assert judged(engine, "namespace", container="nobox", kind="pid").endswith("no such container")


def test_build_cache_wants_a_build_that_succeeded(engine: Engine) -> None:
    cached = "Step 1/2 : FROM busybox\n ---> edc724b09b5c\nStep 2/2 : RUN true\n ---> Using cache\n"
    ok = Outcome("docker image build -t x .", 0, cached, "")
    assert judged(engine, "build_cache", ok, cached=1).startswith("✔ the build took 1 step ")
    assert judged(engine, "build_cache", ok, cached=2) == (
        "✘ the build took 2 steps from the cache — now: 1 from the cache"
    )
    failed = Outcome("build -t x .", 1, cached, "Error: no such file")
    assert judged(engine, "build_cache", failed, cached=1).endswith("exited 1: Error: no such file")
    other = Outcome("history x", 0, " ---> Using cache\n", "")
    assert judged(engine, "build_cache", other, cached=1).endswith("was no build: history x")


def test_a_size_check_needs_its_lower_bound(tmp_path: Path) -> None:
    lesson = tmp_path / "01-size.yaml"
    lesson.write_text(
        "title: Sizes\nsteps:\n  - prose: Look.\n    commands: [ps -a -s]\n    checks:\n"
        "      - layer_size: {container: box, max_mb: 1}\n"
        "      - image_size: {image: busybox, min_mb: 0, max_mb: two}\n"
    )
    _, problems = read_lesson(lesson)
    assert [str(p) for p in problems] == [
        f"{lesson}:6: check layer_size: missing argument 'min_mb'",
        f"{lesson}:7: check image_size: max_mb must be a whole number, not 'two'",
    ]


def test_sizes_and_the_opaque_directory_on_real_layers(engine: Engine, cli: CLI) -> None:
    assert cli("run", "--name", "fill", "busybox", "sh", "-c",
               "head -c 3000000 /dev/zero > /f && rm -rf /var && mkdir /var").code == 0  # fmt: skip
    assert judged(engine, "layer_size", container="fill", min_mb=3, max_mb=4) == (
        "✔ fill's writable layer holds 3 to 4 MB — now: 3.0 MB"
    )
    assert judged(engine, "layer_size", container="fill", min_mb=4).startswith("✘")
    assert judged(engine, "image_size", image="busybox", min_mb=0, max_mb=1).startswith(
        "✘ image busybox holds 0 to 1 MB — now: "
    )
    assert judged(engine, "opaque", container="fill", path="/var") == (
        "✔ /var is an opaque directory in fill's writable layer — now: C /var (opaque)"
    )
    assert judged(engine, "opaque", container="fill", path="/f") == (
        "✘ /f is an opaque directory in fill's writable layer — now: A /f"
    )
    assert "D /var/spool" in cli("diff", "fill").out.splitlines()  # what the opaque /var hides

    async def main() -> None:  # the writable layer's tree: no whiteout is there for it
        app = LayerlabApp(engine.store.root)
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(pilot, until=lambda: "D spool  hidden by the opaque folder"
                          in screen_text(app), timeout=60)  # fmt: skip

    asyncio.run(main())
