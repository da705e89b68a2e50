"""The container record: Docker's inspect JSON, with the views the faces need.

Also what makes and moves a record: `new_record` for `create`, and the one
state-transition table (`TRANSITIONS`, `transition`) that the engine and the
shim both apply through `Store.update_container`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerlab.errors import IllegalTransition, LayerlabError
from layerlab.presentation.humanize import ago, human_duration, parse_rfc3339, rfc3339_nano
from layerlab.storage.limits import LimitOptions
from layerlab.storage.reference import short_id

ZERO_TIME = "0001-01-01T00:00:00Z"
# In a build step's container: the pid of the build that removes it (`system check` and
# the next mutating command remove it once that build is gone).
BUILD_OWNER = "build.owner"


@dataclass(frozen=True)
class Container:
    """One container as stored in `containers/<id>/config.json` (shaped like `docker inspect`)."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["Id"])

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def name(self) -> str:
        return str(self.data["Name"]).lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.data["State"]
        return state

    @property
    def status(self) -> str:
        return str(self.state["Status"])

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def paused(self) -> bool:
        return bool(self.state.get("Paused"))

    @property
    def image_ref(self) -> str:
        return str(self.data["Config"].get("Image") or self.data["Image"])

    @property
    def command(self) -> str:
        return " ".join([self.data["Path"], *self.data["Args"]])

    @property
    def created(self) -> float:
        return parse_rfc3339(self.data["Created"])

    @property
    def upper_dir(self) -> str:
        return str(self.data["GraphDriver"]["Data"]["UpperDir"])

    def status_text(self, now: float | None = None) -> str:
        """Docker's STATUS column: `Created`, `Up 3 seconds (Paused)`, `Exited (0) 2 hours ago`."""
        now = time.time() if now is None else now
        state = self.state
        if state.get("Restarting"):  # Docker's, waiting to run again
            finished = parse_rfc3339(state["FinishedAt"])
            return f"Restarting ({state.get('ExitCode', 0)}) {ago(finished, now)}"
        if state.get("Running"):
            up = "Up " + human_duration(now - parse_rfc3339(state["StartedAt"]))
            return up + " (Paused)" if state.get("Paused") else up
        if self.status == "created" or state.get("FinishedAt", ZERO_TIME) == ZERO_TIME:
            return "Created"
        if self.status == "dead":
            return "Dead"
        finished = parse_rfc3339(state["FinishedAt"])
        return f"Exited ({state.get('ExitCode', 0)}) {ago(finished, now)}"


@dataclass
class CreateOptions:
    """What `create`/`run` take besides the image: Docker's flags of the same names."""

    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    hostname: str | None = None
    entrypoint: str | None = None
    tty: bool = False
    interactive: bool = False
    auto_remove: bool = False
    attach: bool = False
    detach: bool = False  # run -d: Docker records no stream as attached
    attach_streams: frozenset[str] = frozenset()  # -a: stdin, stdout, stderr
    volumes: list[str] = field(default_factory=list)  # -v/--volume
    mounts: list[str] = field(default_factory=list)  # --mount
    tmpfs: list[str] = field(default_factory=list)  # --tmpfs
    user: str | None = None  # -u: name|uid[:group|gid], resolved at start
    labels: dict[str, str] = field(default_factory=dict)  # -l / --label-file
    stop_signal: str | None = None
    read_only: bool = False
    init: bool = False
    limits: LimitOptions = field(default_factory=LimitOptions)  # -m, --pids-limit, --ulimit...
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)  # checked: runtime.seccomp
    restart: dict[str, Any] = field(default_factory=lambda: {"Name": "no", "MaximumRetryCount": 0})
    # --expose and -p's container ports (Config.ExposedPorts), -p (HostConfig.PortBindings)
    ports: tuple[dict[str, Any], dict[str, Any]] = field(default_factory=lambda: ({}, {}))
    publish_all: bool = False  # -P
    network: str = "bridge"  # --network: bridge, none, host, container:NAME, a network's name
    # A build step's container: the build's pid, so one a killed build left is removed.
    owner_pid: int | None = None


def parse_signal(value: str | int) -> int:
    """`KILL`, `SIGKILL` or `9` -> 9, as `docker kill -s` accepts."""
    text = str(value).strip().upper()
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals["SIG" + text.removeprefix("SIG")])
    except KeyError:
        raise LayerlabError(f"Invalid signal: {value}") from None


def merge_env(base: list[str], extra: list[str]) -> list[str]:
    """Image env overridden by `-e K=V`; a bare `-e K` takes the caller's value if set."""
    merged: dict[str, str] = {}
    for item in base:
        key, _, value = item.partition("=")
        merged[key] = value
    for item in extra:
        key, sep, value = item.partition("=")
        if not key:
            raise LayerlabError(f"invalid environment variable: {item}")
        if sep:
            merged[key] = value
        elif key in os.environ:
            merged[key] = os.environ[key]
    return [f"{k}={v}" for k, v in merged.items()]


# Docker's PATH for a process whose image sets none (an `import` without `-c`).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def runtime_env(env: list[str], hostname: str, tty: bool) -> list[str]:
    """The environment Docker hands the runtime: its PATH, HOSTNAME and (with -t) TERM=xterm,
    each replaced by the container's own `Env` where it sets them. The record's
    `Config.Env` stays as it was (Docker's stays null for an image without Env)."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"] + (["TERM=xterm"] if tty else [])
    return merge_env(base, [item for item in env if "=" in item])


# --- the container's state machine --------------------------------------------------
# runc's libcontainer keeps one table of states and the moves between them; this is
# that table in Docker's words. Each event names the states it may leave and the
# `State` fields it sets; the engine (pause, unpause, a lost shim) and the shim
# (start, exit, a failed start) both go through `transition`, never `State.update`.

CREATED, RUNNING, PAUSED, RESTARTING, REMOVING, EXITED, DEAD = (
    "created", "running", "paused", "restarting", "removing", "exited", "dead",
)  # fmt: skip
STATES = (CREATED, RUNNING, PAUSED, RESTARTING, REMOVING, EXITED, DEAD)


@dataclass(frozen=True)
class Event:
    """One move of the table: from any of `sources` to `target` (None: Status unchanged)."""

    sources: frozenset[str]
    target: str | None
    fields: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def _started(_state: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
        "Dead": False, "Pid": int(facts["pid"]), "ExitCode": 0, "Error": "",
        "StartedAt": facts.get("at") or rfc3339_nano(time.time()), "FinishedAt": ZERO_TIME,
    }  # fmt: skip


def _exited(_state: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "Running": False, "Paused": False, "Restarting": False, "Pid": 0,
        "ExitCode": int(facts["exit_code"]), "OOMKilled": bool(facts.get("oom_killed")),
        "FinishedAt": facts.get("at") or rfc3339_nano(time.time()),
    }  # fmt: skip


def _restarting(_state: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    # Docker counts a container waiting to restart as running (`stop`, `rm` treat it so).
    return _exited(_state, facts) | {"Running": True, "Restarting": True}


def _lost(state: dict[str, Any], _facts: dict[str, Any]) -> dict[str, Any]:
    # Docker reports a container whose shim died (or whose host rebooted) as 255.
    return {
        "Running": False, "Paused": False, "Pid": 0, "ExitCode": 255,
        "FinishedAt": state.get("StartedAt", ZERO_TIME),
    }  # fmt: skip


def _start_failed(_state: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    # Docker records the code `run` exited with (127: not found), and its error.
    return {"Error": str(facts["error"]), "ExitCode": int(facts.get("exit_code", 0))}


def _paused(_state: dict[str, Any], _facts: dict[str, Any]) -> dict[str, Any]:
    return {"Paused": True}


def _unpaused(_state: dict[str, Any], _facts: dict[str, Any]) -> dict[str, Any]:
    return {"Paused": False}


TRANSITIONS: dict[str, Event] = {
    # `start`: the shim has the process (facts: pid, at).
    "start": Event(frozenset({CREATED, EXITED, RESTARTING}), RUNNING, _started),
    # The runtime could not start it: the Status stays, the Error says why (facts: error).
    "start_failed": Event(frozenset({CREATED, EXITED}), None, _start_failed),
    # The cgroup freezer, both ways.
    "pause": Event(frozenset({RUNNING}), PAUSED, _paused),
    "unpause": Event(frozenset({PAUSED}), RUNNING, _unpaused),
    # The first process ended - by itself, by `stop` or by `kill` (facts: exit_code, at).
    "exit": Event(frozenset({RUNNING, PAUSED, RESTARTING}), EXITED, _exited),
    # It ended, and its restart policy runs it again after a while (facts: exit_code).
    "restart": Event(frozenset({RUNNING, PAUSED}), RESTARTING, _restarting),
    # Its shim is gone without recording the exit.
    "lost": Event(frozenset({RUNNING, PAUSED, RESTARTING}), EXITED, _lost),
}


def transition(state: dict[str, Any], event: str, **facts: Any) -> dict[str, Any]:
    """`state` (a container's `State`) moved by `event`, in place; returns it.

    Raises `IllegalTransition` (a `Conflict`) when the table has no such move.
    """
    move = TRANSITIONS.get(event)
    if move is None:
        raise LayerlabError(f"unknown container state event: {event}")
    status = str(state.get("Status", CREATED))
    if status not in move.sources:
        raise IllegalTransition(f"cannot {event.replace('_', ' ')} a container that is {status}")
    state.update(move.fields(state, facts))
    if move.target is not None:
        state["Status"] = move.target
    return state


def can(state: dict[str, Any], event: str) -> bool:
    """Whether `event` is a legal move from `state` now."""
    move = TRANSITIONS.get(event)
    return move is not None and str(state.get("Status", CREATED)) in move.sources


def apply(event: str, **facts: Any) -> Callable[[dict[str, Any]], None]:
    """The record update for `Store.update_container`: `transition` on its `State`."""

    def update(data: dict[str, Any]) -> None:
        transition(data["State"], event, **facts)

    return update


def run_began(state: dict[str, Any], run: str | None = None) -> float:
    """When the run a waiter follows began (epoch seconds): `run` (a `StartedAt` it saw),
    else the one under way; a container not running now has its next run ahead (now)."""
    if run is not None:
        return parse_rfc3339(run)
    if state.get("Running") and not state.get("Restarting"):
        return parse_rfc3339(state["StartedAt"])
    return time.time()


def run_over(state: dict[str, Any], began: float) -> bool:
    """Whether the run that began at `began` has ended: stopped, waiting to restart, or
    restarted already (a later `StartedAt`) - Docker's `wait` and `attach` end there, even
    when the restart policy runs the container again."""
    if not state.get("Running") or state.get("Restarting"):
        return True
    return parse_rfc3339(state["StartedAt"]) > began


def new_state() -> dict[str, Any]:
    """A just-created container's `State`: the table's starting point."""
    return {
        "Status": CREATED, "Running": False, "Paused": False, "Restarting": False,
        "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
        "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME,
    }  # fmt: skip


def _exposed_ports(cfg: dict[str, Any], opts: CreateOptions) -> dict[str, Any]:
    """The image's EXPOSE, as Docker copies it (`ps` shows them while it runs), with
    `--expose` and `-p`'s ports; no field at all when there are none, as Docker's."""
    exposed = dict(cfg.get("ExposedPorts") or {}) | opts.ports[0]
    return {"ExposedPorts": exposed} if exposed else {}


def new_record(
    cid: str,
    container_dir: Path,
    name: str,
    image_id: str,
    image_run_config: dict[str, Any],
    image_ref: str,
    entry_cmd: tuple[list[str], list[str]],
    env: list[str],
    hostname: str,
    opts: CreateOptions,
    runtime_name: str,
) -> dict[str, Any]:
    """A new container's record (`containers/<id>/config.json`), shaped like `docker inspect`."""
    cfg = image_run_config
    cdir = container_dir
    entrypoint, cmd = entry_cmd
    argv = entrypoint + cmd
    streams = opts.attach_streams
    return {
        "Id": cid,
        "Created": rfc3339_nano(time.time()),
        "Path": argv[0],
        "Args": argv[1:],
        "State": new_state(),
        "Image": image_id,
        "ResolvConfPath": str(cdir / "resolv.conf"),
        "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"),
        "LogPath": str(cdir / f"{cid}-json.log"),
        "Name": "/" + name,
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": opts.auto_remove,
            "ReadonlyRootfs": opts.read_only,
            "Init": opts.init or None,
            "NetworkMode": "none",
            "Runtime": runtime_name,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "CapAdd": list(opts.cap_add) or None,
            "CapDrop": list(opts.cap_drop) or None,
            "Privileged": opts.privileged,
            "SecurityOpt": list(opts.security_opt) or None,
            "RestartPolicy": dict(opts.restart),
            "PortBindings": opts.ports[1],
            "PublishAllPorts": opts.publish_all,
        },
        "Config": {
            "Hostname": hostname,
            "Domainname": "",
            "User": opts.user if opts.user is not None else cfg.get("User", ""),
            # docker/cli container/opts.go: -i or -a stdin; stdout and stderr unless -a
            # names others; none for run -d (container/run.go)
            "AttachStdin": not opts.detach and (opts.interactive or "stdin" in streams),
            "AttachStdout": not opts.detach and (not streams or "stdout" in streams),
            "AttachStderr": not opts.detach and (not streams or "stderr" in streams),
            **_exposed_ports(cfg, opts),
            "Tty": opts.tty,
            "OpenStdin": opts.interactive,
            "StdinOnce": not opts.detach and opts.interactive,
            "Env": env,
            "Cmd": cmd,
            "Image": image_ref,
            "WorkingDir": opts.workdir if opts.workdir is not None else cfg.get("WorkingDir", ""),
            "Entrypoint": entrypoint or None,
            "Labels": dict(cfg.get("Labels") or {}) | opts.labels,
            "StopSignal": opts.stop_signal or cfg.get("StopSignal", ""),  # Docker: none unless set
        },
        "NetworkSettings": {"Networks": {"none": {}}},
    }


# --- a record that cannot be read --------------------------------------------------
_REQUIRED: dict[str, type] = {
    "Id": str, "Created": str, "Path": str, "Args": list, "State": dict, "Image": str,
    "Name": str, "HostConfig": dict, "Config": dict, "GraphDriver": dict,
}  # fmt: skip


def record_problem(data: Any, container_id: str) -> str:
    """Why `data` is not a usable container record ('' if it is)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            return f"field {key} missing or not a {kind.__name__}"
    if data["Id"] != container_id:
        return f"its Id {data['Id'][:64]!r} is not its folder's name"
    if not isinstance(data["GraphDriver"].get("Data"), dict):
        return "field GraphDriver.Data missing"
    if not isinstance(data["State"].get("Status"), str):
        return "field State.Status missing"
    return ""


def broken_record(container_id: str, container_dir: Path, reason: str) -> dict[str, Any]:
    """What the listings show for a container whose record is unreadable: `Dead`, with the
    reason as its `State.Error`; `rm -f` removes it, `system check --repair` quarantines it."""
    state = new_state() | {"Status": DEAD, "Dead": True, "Error": reason}
    try:
        made = rfc3339_nano(os.stat(container_dir).st_mtime)
    except OSError:
        made = ZERO_TIME
    state["FinishedAt"] = made
    return {
        "Id": container_id, "Created": made, "Path": "", "Args": [], "State": state,
        "Image": "", "Name": "/" + container_id[:12] + "-damaged", "HostConfig": {},
        "Config": {"Image": "<unreadable>", "Labels": {}, "Env": []},
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": "", "UpperDir": str(container_dir / "diff"),
            "MergedDir": str(container_dir / "merged"), "WorkDir": str(container_dir / "work"),
        }},
        "Mounts": [], "LogPath": "", "Damaged": True,
    }  # fmt: skip
