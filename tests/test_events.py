"""`events`: Docker's events from the store's journal, on real containers - the lines Docker
prints, `--since`/`--until`, `--filter`, `--format`, following, and a journal the container's
shim keeps when the command that started it is gone."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerlab.commands.events import matches
from layerlab.storage import events as journal

from .conftest import CLI, eventually

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d) (\w+) (.+?) (\S+)(?: \((.*)\))?$"
)


def _status(cli: CLI, name: str) -> str:
    return cli("inspect", "-f", "{{.State.Status}}", name).out.strip()


def _lines(cli: CLI, *args: str) -> list[tuple[str, str, str, str]]:
    """`events ARGS --until now` as (type, action, id, attributes) per line, each line
    checked to be in Docker's shape."""
    until = [] if "--until" in args else ["--until", f"{time.time():.6f}"]
    result = cli("events", *args, *until)
    assert result.code == 0, result.err
    found = []
    for line in result.out.splitlines():
        match = LINE.match(line)
        assert match, line
        found.append((match[1], match[2], match[3], match[4] or ""))
    return found


@pytest.mark.system
def test_a_containers_life_in_order_with_its_exit_code(cli: CLI) -> None:
    cid = cli("run", "-d", "--name", "short", "busybox", "sh", "-c", "exit 4").out.strip()
    eventually(lambda: _status(cli, "short"), "exited", timeout=60)
    assert cli("rm", "short").code == 0
    got = _lines(cli, "--since", "0", "--filter", "container=short")
    assert [(kind, action, actor) for kind, action, actor, _ in got] == [
        ("container", action, cid) for action in ("create", "start", "die", "destroy")
    ]
    assert got[2][3] == "exitCode=4, image=busybox, name=short"  # sorted, as Docker's
    assert got[0][3] == "image=busybox, name=short"


@pytest.mark.system
def test_since_and_until_bound_the_list(cli: CLI) -> None:
    assert cli("create", "--name", "first", "busybox").code == 0
    middle = f"{time.time():.6f}"
    assert cli("create", "--name", "second", "busybox").code == 0
    before = _lines(cli, "--until", middle)
    after = _lines(cli, "--since", middle)
    assert [a[3] for a in before] == ["image=busybox, name=first"]
    assert [a[3] for a in after] == ["image=busybox, name=second"]
    assert cli("events", "--since", "yesterday", "--until", "0s").code == 1


@pytest.mark.system
def test_filters_and_formats(cli: CLI) -> None:
    assert cli("create", "--name", "lab", "-l", "team=a", "busybox").code == 0
    assert cli("tag", "busybox", "mine:1").code == 0
    assert cli("volume", "create", "data").code == 0
    until = ["--since", "0", "--until", f"{time.time():.6f}"]
    result = cli("events", *until, "--format", "{{json .}}", "-f", "label=team=a")
    message = json.loads(result.out)
    assert list(message) == [
        "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano",
    ]  # fmt: skip
    assert message["Actor"]["Attributes"] == {"image": "busybox", "name": "lab", "team": "a"}
    image = cli(
        "events", *until, "-f", "type=image", "--format", "{{.Action}} {{.Actor.Attributes.name}}"
    )
    assert image.out == "tag mine:1\n"
    assert cli("events", *until, "-f", "image=mine", "--format", "{{.Type}}").out == "image\n"
    volume = cli("events", *until, "-f", "volume=da", "--format", "{{.Type}} {{.Action}} {{.ID}}")
    assert volume.out == "volume create \n"  # volumes have no deprecated `id`, as Docker's
    both = cli("events", *until, "-f", "event=create", "-f", "event=tag", "--format", "{{.Action}}")
    assert both.out.split() == ["create", "tag", "create"]
    bad = cli("events", *until, "--format", "{{.Bogus}}")
    assert bad.code == 64
    assert bad.err.startswith("Error parsing format: template: ")
    assert "can't evaluate field Bogus in type *events.Message" in bad.err


@pytest.mark.unit
def test_exec_events_match_by_their_prefix() -> None:
    # moby daemon/events/filter.go matchEvent: `event=exec_start` matches "exec_start: ls "
    attributes = {"name": "web", "image": "busybox:latest"}
    actor = {"ID": "c1", "Attributes": attributes}
    message = {"Type": "container", "Action": "exec_start: ls ", "Actor": actor, "scope": "local"}
    assert matches({"event": ["exec_start"]}, message)
    assert not matches({"event": ["exec_die"]}, message)
    assert matches({"image": ["busybox"], "container": ["we"]}, message)
    assert not matches({"container": ["eb"]}, message)
    assert not matches({"label": ["team"]}, message)


@pytest.mark.system
def test_events_follow_until_interrupted(cli: CLI, root: Path) -> None:
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    since = f"{time.time():.6f}"  # what comes once it runs, and what came while it started
    follower = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "events", "--since", since, "--filter", "event=die"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert cli("run", "--name", "later", "busybox", "sh", "-c", "exit 6").code == 6
        line = _read_line(follower, 60)
        assert " container die " in line and "exitCode=6" in line and "name=later" in line
        follower.send_signal(signal.SIGINT)
        assert follower.wait(60) == 130
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no event within {timeout}s")
    return proc.stdout.readline().decode()


@pytest.mark.system
def test_the_journal_outlives_a_killed_command(cli: CLI, root: Path) -> None:
    """The `die` comes from the container's shim: the `run` that started it was SIGKILLed."""
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    run = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "run", "-i", "--name", "orphan", "busybox",
         "sh", "-c", "cat >/dev/null; exit 5"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert run.stdin is not None
    try:
        eventually(lambda: _status(cli, "orphan"), "running", timeout=60)
        run.kill()
        run.wait()
        run.stdin.close()  # the container's stdin ends: its process exits, the CLI long gone
        eventually(lambda: _status(cli, "orphan"), "exited", timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    dies = _lines(cli, "--since", "0", "-f", "event=die")
    assert [d[3] for d in dies] == ["exitCode=5, image=busybox, name=orphan"]


@pytest.mark.unit
def test_the_journal_is_bounded_and_read_across_a_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "MAX_BYTES", 2000)
    for n in range(40):
        journal.volume(tmp_path, f"v{n}", "create")
    kept, _, _ = journal.past(tmp_path)
    names = [int(m["Actor"]["ID"][1:]) for m in kept]
    assert names == sorted(names) and names[-1] == 39 and names[0] > 0  # the oldest went
    kept_bytes = sum(p.stat().st_size for p in (tmp_path / "events").glob("journal*"))
    assert kept_bytes <= 2 * (2000 + 300)
    _, inode, offset = journal.past(tmp_path)
    for n in range(40, 50):  # a follower that read up to here sees all of these
        journal.volume(tmp_path, f"v{n}", "create")
    seen: list[int] = []
    for message in journal.follow(tmp_path, inode, offset, lambda: len(seen) < 10):
        seen.append(int(message["Actor"]["ID"][1:]))
    assert seen == list(range(40, 50))


@pytest.mark.system
def test_the_verbs_inside_a_container(cli: CLI, tmp_path: Path) -> None:
    cid = cli("run", "-d", "--name", "busy", "busybox", "sleep", "600").out.strip()
    (tmp_path / "note").write_text("hi\n")
    steps = [
        ["exec", "busy", "true"], ["cp", str(tmp_path / "note"), "busy:/note"],
        ["cp", "busy:/note", str(tmp_path / "back")], ["top", "busy"], ["pause", "busy"],
        ["unpause", "busy"], ["rename", "busy", "idle"], ["kill", "idle"],
    ]  # fmt: skip
    for words in steps:
        assert cli(*words).code == 0, words
    eventually(lambda: _status(cli, "idle"), "exited", timeout=60)
    got = _lines(cli, "--since", "0", "-f", f"container={cid[:12]}")
    assert [(a[1], a[2]) for a in got] == [
        (action, cid) for action in (
            "create", "start", "exec_create: true ", "exec_start: true ", "exec_die",
            "extract-to-dir", "archive-path", "top", "pause", "unpause", "rename", "kill", "die",
        )
    ]  # fmt: skip
    assert got[-3][3] == "image=busybox, name=idle, oldName=/busy"
    assert got[-2][3] == "image=busybox, name=idle, signal=9"


@pytest.mark.unit
def test_the_tui_explains_events() -> None:
    from .test_tui_explain import explain, outcome

    assert "journal" in explain(outcome("events --until 0s"))
    followed = explain(outcome("events", cancelled=True))
    assert followed.startswith("events stopped following the journal")


@pytest.mark.system
def test_volume_events(cli: CLI) -> None:
    assert cli("run", "--name", "user", "-v", "store:/data", "busybox", "true").code == 0
    cid = cli("inspect", "-f", "{{.Id}}", "user").out.strip()
    assert cli("rm", "user").code == 0
    assert cli("volume", "rm", "store").code == 0
    got = _lines(cli, "--since", "0", "-f", "type=volume", "-f", "volume=store")
    actions = [a[1] for a in got]
    assert actions == ["create", "mount", "unmount", "destroy"]
    mount = dict(pair.split("=", 1) for pair in got[1][3].split(", "))
    assert mount.keys() == {"container", "destination", "driver", "propagation", "read/write"}
    assert (mount["container"], mount["destination"], mount["read/write"]) == (cid, "/data", "true")


@pytest.mark.system
def test_image_events(cli: CLI, tmp_path: Path) -> None:
    tar = str(tmp_path / "image.tar")
    assert cli("tag", "busybox", "copy:1").code == 0
    image = cli("inspect", "-f", "{{.Id}}", "copy:1").out.strip()
    assert cli("save", "-o", tar, "copy:1").code == 0
    assert cli("rmi", "copy:1").code == 0  # busybox:latest still names it: untag only
    assert cli("load", "-i", tar).code == 0
    assert cli("create", "--name", "flat", "busybox").code == 0
    flat = str(tmp_path / "flat.tar")
    assert cli("export", "-o", flat, "flat").code == 0
    imported = cli("import", flat, "flat:1").out.strip()
    assert cli("rmi", "flat:1").code == 0
    got = _lines(cli, "--since", "0", "-f", "type=image")
    assert [(a[1], a[3]) for a in got] == [
        ("tag", "name=copy:1"), ("save", f"name={image}"), ("untag", f"name={image}"),
        ("load", f"name={image}"), ("import", f"name={imported}"),
        ("untag", f"name={imported}"), ("delete", f"name={imported}"),
    ]  # fmt: skip
