"""A container's ports to publish and bound, in Docker's shapes: what `-p`/`-P` asked for
(`HostConfig.PortBindings`, `PublishAllPorts`) and what was bound while it runs
(`NetworkSettings.Ports`; what a record publishes is read by presentation/ports.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab.presentation.ports import Ports

ANY_IPV4 = "0.0.0.0"


@dataclass(frozen=True)
class Publish:
    """One port to publish: the container's port and where on the host it answers."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""  # "": every address of the host (0.0.0.0)
    host_ports: tuple[int, int] = (0, 0)  # the first free port of this range; 0: any

    @property
    def key(self) -> str:
        """Docker's name for the container's side: `80/tcp`."""
        return f"{self.container_port}/{self.proto}"


def requested(data: dict[str, Any]) -> list[Publish]:
    """Every port to publish when the container starts: its `-p` bindings, and with `-P`
    every other exposed port on a free port of the host."""
    host = data.get("HostConfig") or {}
    bindings: dict[str, list[dict[str, str]]] = host.get("PortBindings") or {}
    found = []
    for key, items in bindings.items():
        number, _, proto = key.partition("/")
        for item in items or [{}]:
            found.append(Publish(int(number), proto or "tcp", item.get("HostIp", ""), _range(item)))
    if host.get("PublishAllPorts"):
        for key in (data.get("Config") or {}).get("ExposedPorts") or {}:
            number, _, proto = key.partition("/")
            if key not in bindings and number.isdigit():
                found.append(Publish(int(number), proto or "tcp"))
    return found


def _range(binding: dict[str, str]) -> tuple[int, int]:
    """A binding's `HostPort`: `8080`, `8000-8010`, or empty (any free port: 0)."""
    text = binding.get("HostPort") or "0"
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def settings(data: dict[str, Any], bound: list[tuple[Publish, int]]) -> Ports:
    """`NetworkSettings.Ports` of a started container: every exposed port, with the host
    ports bound for it (null for one exposed only)."""
    ports: Ports = {key: None for key in (data.get("Config") or {}).get("ExposedPorts") or {}}
    for publish, port in bound:
        entry = {"HostIp": publish.host_ip or ANY_IPV4, "HostPort": str(port)}
        ports.setdefault(publish.key, None)
        ports[publish.key] = [*(ports[publish.key] or []), entry]
    return ports


def endpoints(container_dir: Path) -> dict[str, Any]:
    """The endpoints a run holds (`containers/<id>/endpoints.json`, written at its start
    before its shim runs), by network; {} for a container with no bridged network."""
    from layerlab.network.sandbox import ENDPOINTS
    from layerlab.storage.store import read_json

    try:
        found: dict[str, Any] = read_json(container_dir / ENDPOINTS).get("Networks") or {}
    except (FileNotFoundError, ValueError):
        return {}
    return found


def address(container_dir: Path) -> str | None:
    """The address a container's published ports forward to: its first network's."""
    return next((e["IPAddress"] for e in endpoints(container_dir).values()), None)
