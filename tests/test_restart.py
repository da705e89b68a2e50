"""`--restart`: the container's shim runs its process again as the policy says, after the
command that started it is gone; `stop` and `kill` end that; `RestartCount`, `Restarting`
and `HostConfig.RestartPolicy` as Docker shows them; Docker's words for bad policies."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from layerlab.errors import LayerlabError
from layerlab.runtime.restart import Supervisor, check_policy, parse_policy

from . import docker_side
from .conftest import CLI, Result, eventually


def _inspect(cli: CLI, name: str, template: str) -> str:
    return cli("inspect", "-f", template, name).out.strip()


@pytest.mark.unit
def test_bad_policies_in_dockers_words() -> None:
    # docker/cli opts/parse.go ParseRestartPolicy; moby daemon/container.go validation
    cases = {
        "on-failure:1:2": "invalid restart policy format",
        "on-failure:x": "maximum retry count must be an integer",
        "always:3": "maximum retry count cannot be used with restart policy 'always'",
        "unless-stopped:1": "maximum retry count cannot be used with restart policy "
        "'unless-stopped'",
        "bogus": "invalid restart policy 'bogus'",
        "on-failure:-1": "maximum retry count cannot be negative",
    }
    for text, words in cases.items():
        with pytest.raises(LayerlabError) as raised:
            check_policy(parse_policy(text))  # the CLI's checks, then the daemon's
        assert str(raised.value) == words
    assert parse_policy("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert parse_policy("always:0") == {"Name": "always", "MaximumRetryCount": 0}


@pytest.mark.unit
def test_dockers_backoff() -> None:
    # moby restartmanager: 100 ms doubled per restart, back to 100 ms after 10 s of running
    policy = {"Name": "always", "MaximumRetryCount": 0}
    supervisor = Supervisor()
    delays = [supervisor.delay(policy, 1, 0.5, False) for _ in range(4)]
    assert delays == [0.1, 0.2, 0.4, 0.8]
    assert supervisor.delay(policy, 1, 12.0, False) == 0.1
    assert supervisor.delay(policy, 0, 0.5, True) is None  # stopped by the user
    on_failure = Supervisor()
    limited = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert on_failure.delay(limited, 0, 0.5, False) is None  # a clean exit is no failure
    assert [on_failure.delay(limited, 3, 0.5, False) is not None for _ in range(3)] == [
        True, True, False,
    ]  # fmt: skip


@pytest.mark.system
def test_bad_flags_leave_nothing(cli: CLI) -> None:
    conflict = cli("run", "--rm", "--restart", "always", "busybox", "true")
    assert (conflict.code, conflict.err) == (
        125,
        "Error: Conflicting options: --restart and --rm\n",
    )
    created = cli("create", "--rm", "--restart", "on-failure", "busybox")
    assert (created.code, created.err) == (125, conflict.err)  # the CLI's check, as for run
    bad = cli("create", "--restart", "always:2", "busybox")
    assert bad.code == 1  # the daemon's check: create's errors from the daemon are 1
    assert bad.err == "Error: maximum retry count cannot be used with restart policy 'always'\n"
    assert cli("ps", "-aq").out == ""


@pytest.mark.system
def test_on_failure_runs_n_more_times_then_stays_exited(cli: CLI) -> None:
    result = cli("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox",
                 "sh", "-c", "exit 3")  # fmt: skip
    assert result.code == 0, result.err
    eventually(lambda: _inspect(cli, "flaky", "{{.State.Status}} {{.RestartCount}}"),
               "exited 2", timeout=60)  # fmt: skip
    assert _inspect(cli, "flaky", "{{.State.ExitCode}} {{.State.Restarting}}") == "3 false"
    policy = json.loads(_inspect(cli, "flaky", "{{json .HostConfig.RestartPolicy}}"))
    assert policy == {"Name": "on-failure", "MaximumRetryCount": 2}
    starts = cli("events", "--since", "0", "--until", "0s", "-f", "event=start").out
    assert len(starts.splitlines()) == 3
    assert cli("ps", "-a", "--format", "{{.Status}}").out.startswith("Exited (3) ")


@pytest.mark.system
def test_always_restarts_until_stopped(cli: CLI) -> None:
    # Its first run leaves /again in its writable layer and exits 0; the next one sleeps.
    script = "test -e /again && exec sleep 600; touch /again"
    assert cli("run", "-d", "--name", "loop", "--restart", "always", "busybox",
               "sh", "-c", script).code == 0  # fmt: skip
    running = "running 1 true"
    template = "{{.State.Status}} {{.RestartCount}} {{ne .State.Pid 0}}"
    eventually(lambda: _inspect(cli, "loop", template), running, timeout=60)
    assert cli("stop", "-t", "1", "loop").code == 0
    assert _inspect(cli, "loop", "{{.State.Status}} {{.State.Restarting}}") == "exited false"
    assert cli("wait", "loop").out == "137\n"  # no shim is left to run it again
    assert _inspect(cli, "loop", "{{.RestartCount}}") == "1"
    assert cli("start", "loop").code == 0  # a start by the user counts from zero again
    assert _inspect(cli, "loop", template) == "running 0 true"
    assert cli("kill", "loop").code == 0  # SIGKILL by the user ends restarting too
    assert cli("wait", "loop").out == "137\n"
    assert _inspect(cli, "loop", "{{.State.Status}} {{.RestartCount}}") == "exited 0"


@pytest.mark.system
def test_restarting_in_ps_and_rm_f(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "spin", "--restart", "always", "busybox", "true").code == 0
    # Its backoff doubles at each restart: the wait before a run soon outlasts a poll.
    eventually(lambda: cli("ps", "--format", "{{.Status}}").out.startswith("Restarting (0) "),
               True, timeout=60)  # fmt: skip
    assert _inspect(cli, "spin", "{{.State.Status}} {{.State.Running}}") == "restarting true"
    waiting = "is restarting, wait until the container is running\n"
    for words in (["exec", "spin", "true"], ["pause", "spin"], ["top", "spin"]):
        refused = _while_restarting(cli, "spin", *words)
        assert (refused.code, refused.err.endswith(waiting)) == (1, True), refused.err
    attach = _while_restarting(cli, "spin", "attach", "spin")
    assert attach.err == (
        "Error: You cannot attach to a restarting container, wait until it is running\n"
    )
    assert cli("rm", "-f", "spin").code == 0
    assert cli("ps", "-aq").out == ""


def _while_restarting(cli: CLI, name: str, *words: str) -> Result:
    """`words` run while `name` waits to restart: the same wait before and after (its
    RestartCount unchanged), retried until one was."""
    deadline = time.monotonic() + 60
    template = "{{.State.Restarting}} {{.RestartCount}}"
    while True:
        before = _inspect(cli, name, template)
        result = cli(*words, timeout=60)  # `attach` meeting it running ends with that run
        if before.startswith("true ") and _inspect(cli, name, template) == before:
            return result
        if words[0] == "pause" and result.code == 0:  # it was running: let it go on
            cli("unpause", name)
        assert time.monotonic() < deadline, f"{name} never waited to restart for {words}"


@pytest.mark.system
def test_an_attached_run_ends_with_the_first_exit(cli: CLI) -> None:
    """As Docker's attached `run`: its code is the first run's; the restarts go on."""
    result = cli("run", "--name", "once", "--restart", "on-failure:1", "busybox",
                 "sh", "-c", "echo ran; exit 7")  # fmt: skip
    assert (result.code, result.out) == (7, "ran\n")
    eventually(lambda: _inspect(cli, "once", "{{.State.Status}} {{.RestartCount}}"),
               "exited 1", timeout=60)  # fmt: skip
    assert cli("logs", "once").out == "ran\nran\n"


@pytest.mark.system
def test_wait_and_attach_end_at_the_runs_exit_as_dockers_do(cli: CLI, tmp_path: Path) -> None:
    """Docker's `wait` and `attach` end when the process exits, with its code, though the
    restart policy runs it again (checked side by side with Docker 20.10). Each run waits
    for the file `go`, then says so and exits 3: once `go` is there, every run does."""
    script = "until [ -e /v/go ]; do sleep 0.05; done; echo bye; exit 3"
    made = cli("run", "-d", "--name", "loop", "--restart", "always", "-v", f"{tmp_path}:/v",
               "busybox", "sh", "-c", script)  # fmt: skip
    assert made.code == 0, made.err
    began = _inspect(cli, "loop", "{{.State.StartedAt}}")
    with ThreadPoolExecutor(2) as pool:
        attached = pool.submit(cli, "attach", "loop", timeout=60)
        waited = pool.submit(cli, "wait", "loop", timeout=60)
        # Both are following the run once `attach` is journaled and `wait` sleeps (no
        # output yet): then the run may end.
        eventually(lambda: "attach" in cli("events", "--since", "0", "--until",
                   str(int(time.time())), "--format", "{{.Action}}").out.split(),
                   True, timeout=60)  # fmt: skip
        (tmp_path / "go").touch()
        assert (attached.result().code, attached.result().out) == (3, "bye\n")
        assert (waited.result().code, waited.result().out) == (0, "3\n")
    assert _inspect(cli, "loop", "{{.State.StartedAt}}") != began or (
        _inspect(cli, "loop", "{{.State.Restarting}}") == "true"
    )
    assert cli("rm", "-f", "loop").code == 0


@pytest.mark.system
def test_update_restart(cli: CLI) -> None:
    assert cli("create", "--name", "later", "busybox", "true").code == 0
    assert _inspect(cli, "later", "{{json .HostConfig.RestartPolicy}}") == (
        '{"Name":"no","MaximumRetryCount":0}'
    )
    assert cli("update", "--restart", "on-failure:4", "later").out == "later\n"
    assert _inspect(cli, "later", "{{.HostConfig.RestartPolicy.MaximumRetryCount}}") == "4"
    gone = cli("create", "--name", "gone", "--rm", "busybox", "true").out.strip()
    refused = cli("update", "--restart", "always", "gone")
    assert refused.code == 1
    assert refused.err == (
        f"Error: Cannot update container {gone}: Restart policy cannot be updated because "
        "AutoRemove is enabled for the container\n"
    )


@pytest.mark.system
def test_policy_errors_side_by_side_with_docker(cli: CLI, real_docker: docker_side.Daemon) -> None:
    """The CLI's errors (the format: 125 for create and run) and the daemon's (the name and
    the count: 1 for create and update, 125 for run), as Docker 20.10 gives them."""
    made = cli("create", "--name", "upd", "busybox", "true")
    theirs_made = real_docker("create", "--name", "upd", "busybox", "true")
    assert made.code == theirs_made.code == 0
    for policy in ("on-failure:1:2", "on-failure:x", "always:3", "unless-stopped:1", "bogus",
                   "on-failure:-1"):  # fmt: skip
        for words in (["create", "--restart", policy, "busybox"],
                      ["run", "--restart", policy, "busybox"],
                      ["create", "--rm", "--restart", "always", "busybox"],
                      ["update", "--restart", policy, "upd"]):  # fmt: skip
            ours, theirs = cli(*words), real_docker(*words)
            assert (ours.code, docker_side.words(ours.err)) == (
                theirs.code, docker_side.words(theirs.err)), words  # fmt: skip
    real_docker("rm", "upd")
