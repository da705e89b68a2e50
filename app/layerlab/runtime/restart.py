"""Restart policies (`--restart`), as Docker's restart manager applies them.

The container's shim is the supervisor: it outlives the CLI, and it is the parent that
sees the process end. There it asks `Supervisor.delay` whether (and after how long) to run
the process again: Docker's backoff (100 ms, doubled each time, at most a minute, back to
100 ms after 10 s of running); `on-failure[:N]` counts non-zero exits only and stops
after N restarts. A `stop`, or a `kill` with SIGKILL or the stop signal, leaves a mark
(USER_STOPPED) that ends restarting until the next `start`.

There is no daemon to restart, so `always` and `unless-stopped` (which differ only when
Docker's daemon starts again) act the same here: a host reboot leaves either exited.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab.errors import Conflict, LayerlabError

USER_STOPPED = "stopped-by-user"  # in the container's folder
NAMES = ("no", "always", "unless-stopped", "on-failure")
FIRST_DELAY, MAX_DELAY, STEADY_SECONDS = 0.1, 60.0, 10.0


def parse_policy(text: str) -> dict[str, Any]:
    """`on-failure:3` -> Docker's `HostConfig.RestartPolicy`, with the CLI's errors (its
    format); the daemon's own checks are `check_policy`'s."""
    name, sep, count = text.partition(":")
    if ":" in count:
        raise LayerlabError("invalid restart policy format")
    retries = 0
    if sep:
        try:
            retries = int(count)
        except ValueError:
            raise LayerlabError("maximum retry count must be an integer") from None
    return {"Name": name or "no", "MaximumRetryCount": retries}


def check_policy(policy: dict[str, Any]) -> None:
    """The daemon's checks of a policy (moby daemon/container.go), at `create` and `update`."""
    name, retries = policy["Name"], policy["MaximumRetryCount"]
    if name not in NAMES:
        raise LayerlabError(f"invalid restart policy '{name}'")
    if retries and name != "on-failure":
        raise LayerlabError(f"maximum retry count cannot be used with restart policy '{name}'")
    if retries < 0:
        raise LayerlabError("maximum retry count cannot be negative")


def check_auto_remove(policy: dict[str, Any], auto_remove: bool) -> None:
    """`--rm` with a policy: the CLI refuses it, for `run` and `create` alike."""
    if auto_remove and policy["Name"] != "no":
        raise LayerlabError("Conflicting options: --restart and --rm")


def policy_of(record: dict[str, Any]) -> dict[str, Any]:
    return (record.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}


def refuse_restarting(record: dict[str, Any]) -> None:
    """`exec`, `pause`, `top` need the process: Docker's words while it waits to restart."""
    if record["State"].get("Restarting"):
        raise Conflict(
            f"Container {record['Id']} is restarting, wait until the container is running"
        )


# --- the user's stop --------------------------------------------------------------------
def user_stopped(folder: Path, record: dict[str, Any], signum: int | None = None) -> None:
    """Mark that the user ends the container (`stop`; a `kill` with SIGKILL or its stop
    signal, as Docker's): its shim runs it no more."""
    from layerlab.storage.containers import parse_signal

    stop_signal = parse_signal(record.get("Config", {}).get("StopSignal") or "SIGTERM")
    if signum in (None, signal.SIGKILL, stop_signal):
        (folder / USER_STOPPED).touch()


def stopped_by_user(folder: Path) -> bool:
    return (folder / USER_STOPPED).exists()


def clear(folder: Path) -> None:
    """A `start` by the user: restarting may follow again."""
    (folder / USER_STOPPED).unlink(missing_ok=True)


@dataclass
class Supervisor:
    """Docker's restartmanager, for one `start` of a container."""

    restarts: int = 0
    timeout: float = 0.0

    def delay(self, policy: dict[str, Any], code: int, ran: float, stopped: bool) -> float | None:
        """Seconds to wait before running the process again, or None: it stays exited."""
        name = policy.get("Name") or "no"
        if name == "no" or stopped:
            return None
        if ran >= STEADY_SECONDS:
            self.timeout = 0.0
        self.timeout = min(self.timeout * 2 if self.timeout else FIRST_DELAY, MAX_DELAY)
        retries = int(policy.get("MaximumRetryCount") or 0)
        if name == "on-failure" and (code == 0 or (retries and self.restarts >= retries)):
            return None
        self.restarts += 1
        return self.timeout
