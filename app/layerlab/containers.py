"""The container record: Docker's inspect JSON, with the views the faces need."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.humanize import ago, human_duration, parse_rfc3339
from layerlab.reference import short_id

ZERO_TIME = "0001-01-01T00:00:00Z"


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
