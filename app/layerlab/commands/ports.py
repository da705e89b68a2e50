"""Published ports in Docker's command language: `-p`, `-P` and `--expose` on create/run
(read as docker/cli reads them, go-connections' nat.ParsePortSpec), the `port` command,
and the PORTS cell of `ps` (docker/cli's DisplayablePorts)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from layerlab.errors import LayerlabError
from layerlab.presentation.ports import published
from layerlab.report import Report

if TYPE_CHECKING:
    from layerlab.commands.stdio import IO
    from layerlab.engine import Engine
    from layerlab.storage.containers import Container

PORT_HELP = "List port mappings or a specific mapping for the container"
PROTOCOLS = ("tcp", "udp")


def publish_flags(p: argparse.ArgumentParser) -> None:
    """create/run's `-p`, `-P` and `--expose`."""
    p.add_argument("-p", "--publish", action="append", default=[],
                   help="publish a container's port(s) to the host: "
                        "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/udp]")  # fmt: skip
    p.add_argument("-P", "--publish-all", action="store_true",
                   help="publish all exposed ports to random ports")  # fmt: skip
    p.add_argument("--expose", action="append", default=[],
                   help="expose a port or a range of ports")  # fmt: skip


def port_parser(p: argparse.ArgumentParser) -> None:
    """`port CONTAINER [PRIVATE_PORT[/PROTO]]`."""
    p.add_argument("container")
    p.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


# --- -p and --expose, as nat.ParsePortSpec reads them --------------------------------
def _port_range(text: str) -> tuple[int, int]:
    """`80` or `8000-8010`; ValueError for anything else (Go's ParseUint, 16 bits)."""
    first, sep, last = text.partition("-")
    start = _port_number(first)
    end = _port_number(last) if sep else start
    if end < start:
        raise ValueError(text)
    return start, end


def _port_number(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(text)
    return int(text)


def _split_proto(text: str) -> tuple[str, str]:
    """nat.SplitProtoPort: `80/udp` -> (udp, 80); no protocol is tcp."""
    port, _, proto = text.partition("/")
    return (proto or "tcp") if port else "", port


def _split_parts(spec: str) -> tuple[str, str, str]:
    """nat's splitParts: IP, host port and container port of `[IP:][HOST:]CONTAINER`."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _host_ip(ip: str) -> str:
    import ipaddress

    bare = ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip
    if bare:
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            raise LayerlabError(f"Invalid ip address: {ip}") from None
    return bare


def parse_publish(spec: str) -> list[tuple[str, dict[str, str]]]:
    """One `-p` value as (container port key, binding) pairs, in Docker's words on error."""
    ip, host, container = _split_parts(spec)
    proto, container = _split_proto(container)
    ip = _host_ip(ip)
    if not container:
        raise LayerlabError(f"No port specified: {spec}<empty>")
    try:
        start, end = _port_range(container)
    except ValueError:
        raise LayerlabError(f"Invalid containerPort: {container}") from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = _port_range(host)
        except ValueError:
            raise LayerlabError(f"Invalid hostPort: {host}") from None
    if host and end - start != host_end - host_start and end != start:
        raise LayerlabError(
            f"Invalid ranges specified for container and host Ports: {container} and {host}"
        )
    if proto.lower() not in PROTOCOLS:
        raise LayerlabError(f"Invalid proto: {proto}")
    pairs = []
    for offset in range(end - start + 1):
        host_port = str(host_start + offset) if host else ""
        if start == end and host_start != host_end:  # one port, any free one of a range
            host_port = f"{host_start}-{host_end}"
        pairs.append((f"{start + offset}/{proto.lower()}", {"HostIp": ip, "HostPort": host_port}))
    return pairs


def port_fields(ns: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """`Config.ExposedPorts` additions and `HostConfig.PortBindings` for `-p` and `--expose`;
    refused with `--network container:` (runconfig's words): that namespace is another's."""
    publish, expose = ns.publish, ns.expose
    if str(getattr(ns, "network", "") or "").startswith("container:"):
        if publish or ns.publish_all:
            raise LayerlabError(
                "conflicting options: port publishing and the container type network mode"
            )
        if expose:
            raise LayerlabError(
                "conflicting options: port exposing and the container type network mode"
            )
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in publish:
        for key, binding in parse_publish(spec):
            exposed[key] = {}
            bindings.setdefault(key, []).append(binding)
    for item in expose:
        proto, port = _split_proto(item)
        try:
            start, end = _port_range(port)
        except ValueError:
            raise LayerlabError(
                f"invalid range format for --expose: {item}, error: invalid syntax"
            ) from None
        exposed.update({f"{n}/{proto}": {} for n in range(start, end + 1)})
    return exposed, bindings


# --- `port` --------------------------------------------------------------------------
def cmd_port(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """docker/cli's runPort: every mapping (`80/tcp -> 0.0.0.0:8080`), or one port's."""
    container = engine.container(ns.container)
    ports = published(container.data)
    if ns.private is None:
        for key, bindings in ports.items():
            for b in bindings or []:
                print(f"{key} -> {b['HostIp']}:{b['HostPort']}", file=io.out)
        return Report(containers=[container.id])
    number, _, proto = ns.private.partition("/")
    key = f"{number}/{proto or 'tcp'}"
    try:
        _port_range(number)
    except ValueError:
        raise LayerlabError(f'strconv.ParseUint: parsing "{number}": invalid syntax') from None
    frontends = ports.get(key)
    if not frontends:
        raise LayerlabError(f"No public port '{key}' published for {ns.container}")
    for b in frontends:
        print(f"{b['HostIp']}:{b['HostPort']}", file=io.out)
    return Report(containers=[container.id])


# --- ps's PORTS ----------------------------------------------------------------------
def ps_ports(c: Container) -> str:
    """docker/cli's DisplayablePorts: `0.0.0.0:8080->80/tcp, 53/udp`; ranges grouped."""
    rows = []  # (private, ip, public, proto), sorted as Docker's byPortInfo
    for key, bindings in published(c.data).items():
        number, _, proto = key.partition("/")
        if not number.isdigit():
            continue
        if not bindings:
            rows.append((int(number), "", 0, proto or "tcp"))
        for b in bindings or []:
            rows.append((int(number), b["HostIp"], int(b["HostPort"]), proto or "tcp"))
    groups: dict[str, list[int]] = {}  # by ip/protocol, in the order first seen: [first, last]
    shown, mappings = [], []
    for private, ip, public, proto in sorted(rows):
        key = proto
        if ip:
            if public != private:
                mappings.append(f"{ip}:{public}->{private}/{proto}")
                continue
            key = f"{ip}/{proto}"
        group = groups.get(key)
        if group is not None and private == group[1] + 1:
            group[1] = private
            continue
        if group is not None:
            shown.append(_port_group(key, group))
        groups[key] = [private, private]
    shown += [_port_group(key, group) for key, group in groups.items()]
    return ", ".join(shown + mappings)


def _port_group(key: str, group: list[int]) -> str:
    ip, _, proto = key.rpartition("/")
    first, last = group
    ports = str(first) if first == last else f"{first}-{last}"
    return f"{ip}:{ports}->{ports}/{proto}" if ip else f"{ports}/{proto}"
