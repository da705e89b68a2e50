"""A container record's ports, in Docker's shapes: what `-p`/`-P` asked for
(`HostConfig.PortBindings`, `PublishAllPorts`) and what was bound while it runs
(`NetworkSettings.Ports`: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
"443/tcp": null}`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANY_IPV4 = "0.0.0.0"
Ports = dict[str, list[dict[str, str]] | None]


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


def published(data: dict[str, Any]) -> Ports:
    """What a container publishes now: its `NetworkSettings.Ports` while it runs (its
    exposed ports, unbound, for one started before ports were recorded); nothing once
    it stopped, as Docker's `port` and `ps` show."""
    if not (data.get("State") or {}).get("Running"):
        return {}
    ports: Ports | None = (data.get("NetworkSettings") or {}).get("Ports")
    if ports is None:
        ports = {key: None for key in (data.get("Config") or {}).get("ExposedPorts") or {}}
    return dict(sorted(ports.items(), key=lambda kv: _sort_key(kv[0])))


def _sort_key(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return (int(number) if number.isdigit() else 0, proto)


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


def matches(publish: list[str], expose: list[str], data: dict[str, Any]) -> bool:
    """`ps -f publish=8080 -f expose=80/tcp` as moby's list.go: one of the container's
    published ports is a host port named by `publish`, or a container port named by
    `expose` (a value: `80`, `80/udp`, `8000-8080/tcp`)."""
    public = _wanted(publish)
    private = _wanted(expose)
    for key, bindings in published(data).items():
        number, _, proto = key.partition("/")
        if (int(number), proto) in private:
            return True
        if any((int(b["HostPort"]), proto) in public for b in bindings or []):
            return True
    return False


def _wanted(values: list[str]) -> set[tuple[int, str]]:
    found = set()
    for value in values:
        ports, _, proto = value.partition("/")
        first, _, last = ports.partition("-")
        if first.isdigit() and (last.isdigit() or not last):
            found |= {(n, proto or "tcp") for n in range(int(first), int(last or first) + 1)}
    return found
