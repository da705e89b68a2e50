"""A container's processes, read from its cgroup: pids inside and out, and the freezer's state."""

from __future__ import annotations

import pytest

from layerlab.engine import CreateOptions, Engine
from layerlab.runtime import cgroups, procs

from .conftest import eventually

pytestmark = pytest.mark.system


def _flat(found: list[procs.Proc]) -> list[procs.Proc]:
    return [p for root in found for p in [root, *_flat(root.children)]]


def test_the_first_process_is_pid_1_inside_and_exec_adds_one(engine: Engine) -> None:
    container, _ = engine.run("busybox", CreateOptions(command=["sleep", "60"], name="tree"))
    pid = container.state["Pid"]

    def first() -> list[tuple[int, int, str]]:
        return [(p.ns_pid, p.host_pid, p.command) for p in procs.processes(pid)]

    eventually(first, [(1, pid, "sleep 60")])  # for a moment it is still `runc init`
    assert procs.processes(pid)[0].state in ("sleeping", "running")
    assert engine.exec("tree", ["sleep", "30"], detach=True) == 0

    def commands() -> list[str]:
        return sorted(p.command for p in _flat(procs.processes(pid)))

    # For a moment the newcomer is `runc init`, before it execs the command.
    eventually(commands, ["sleep 30", "sleep 60"])
    # runc started the exec'd process from outside: it is a root of its own, pid 2+ inside
    assert {p.ns_pid for p in procs.processes(pid)} >= {1} and len(procs.processes(pid)) == 2


def test_children_hang_under_their_parent(engine: Engine) -> None:
    container, _ = engine.run(
        "busybox", CreateOptions(command=["sh", "-c", "sleep 60 & wait"], name="parent")
    )
    pid = container.state["Pid"]

    def tree() -> tuple[int, str, list[str]]:
        found = procs.processes(pid)
        return found[0].ns_pid, found[0].command, [c.command for c in found[0].children]

    eventually(tree, (1, "sh -c sleep 60 & wait", ["sleep 60"]))


def test_paused_processes_are_frozen(engine: Engine) -> None:
    container, _ = engine.run("busybox", CreateOptions(command=["sleep", "60"], name="icy"))
    pid = container.state["Pid"]
    group = cgroups.group_of(pid)
    assert group is not None and container.id in group
    engine.pause("icy")
    assert cgroups.frozen(group)
    assert {p.state for p in procs.processes(pid)} == {"frozen"}
    engine.unpause("icy")
    assert not cgroups.frozen(group)
    assert {p.state for p in procs.processes(pid)} != {"frozen"}


def test_a_gone_process_has_no_tree(engine: Engine) -> None:
    container, _ = engine.run("busybox", CreateOptions(command=["sleep", "60"], name="gone"))
    pid = container.state["Pid"]
    engine.kill("gone")
    assert procs.processes(pid) == []
