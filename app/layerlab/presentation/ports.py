"""What a container record publishes, in Docker's shapes (`NetworkSettings.Ports`:
`{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}`), read from the
record alone: for `port`, `ps`'s PORTS and its `publish`/`expose` filters, and the faces."""

from __future__ import annotations

from typing import Any

Ports = dict[str, list[dict[str, str]] | None]


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
