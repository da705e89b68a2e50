"""A running container's network as the faces draw it: its links, each veth pair's host
end, the bridge it is plugged into and who else is on it, and its published ports. Plain
data, read by the engine (`Engine.network_view`), so a face never reads the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab.network import sandbox
from layerlab.network.ports import endpoints
from layerlab.presentation.ports import published


@dataclass(frozen=True)
class Link:
    """One of the container's links into a bridge network: `eth0` and the veth pair."""

    network: str  # the network's name (`bridge`, a user-defined one)
    inner: str  # its name inside the container (eth0, eth1, ...)
    address: str
    prefixlen: int
    mac: str
    host_link: str  # the veth pair's other end, on the host
    bridge: str  # the host's bridge that end is plugged into
    gateway: str  # the bridge's address
    peers: tuple[tuple[str, str], ...] = ()  # (name, address) of the others running on it


@dataclass(frozen=True)
class NetworkView:
    """What the picture draws beside a running container's process space."""

    mode: str  # HostConfig.NetworkMode: bridge, none, host, container:ID, a network's name
    links: tuple[Link, ...] = ()
    published: tuple[str, ...] = ()  # `0.0.0.0:8080 -> 80/tcp`, as `docker port` says it


def read(root: Path, data: dict[str, Any], container_dir: Path) -> NetworkView | None:
    """A container's network as its run holds it now; None when it does not run."""
    if not (data.get("State") or {}).get("Running"):
        return None
    links = []
    for i, (name, held) in enumerate(endpoints(container_dir).items()):
        members = sandbox.members(root, held["NetworkID"])
        peers = tuple(
            (m["Name"], m["IPv4Address"].partition("/")[0])
            for cid, m in sorted(members.items(), key=lambda kv: kv[1]["IPv4Address"])
            if cid != data["Id"]
        )
        links.append(Link(
            network=name, inner=f"eth{int(held.get('Index', i + 2)) - 2}",
            address=held["IPAddress"],
            prefixlen=int(held["IPPrefixLen"]), mac=held["MacAddress"],
            host_link=held["HostLink"], bridge=held["Bridge"], gateway=held["Gateway"],
            peers=peers,
        ))  # fmt: skip
    shown = tuple(
        f"{b['HostIp']}:{b['HostPort']} -> {key}"
        for key, bindings in published(data).items()
        for b in bindings or []
    )
    mode = str((data.get("HostConfig") or {}).get("NetworkMode") or "none")
    return NetworkView(mode, tuple(links), shown)
