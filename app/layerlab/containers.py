"""The container record: Docker's inspect JSON, with the views the faces need."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from layerlab.humanize import ago, human_duration, parse_rfc3339

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
        return self.id[:12]

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
