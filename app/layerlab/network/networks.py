"""Network records (`<root>/networks/<id>/network.json`, shaped like `docker network inspect`)
and their address leases (`<root>/networks/<id>/leases/<ip>`).

Every store has Docker's three: `bridge` (the default, made on first use with a subnet
that collides neither with the host's routes nor with Docker's 172.17.0.0/16: the
store's `daemon.json` `bip` or `default-address-pools` choose it), `host` and `none`.
User-defined networks are bridges too. A lease is a file made with O_EXCL, so an address
is never handed out twice, also to two `run`s at once; `networks/lock` orders the rest
(leases, bridges, hosts files) between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerlab.errors import Conflict, LayerlabError, NotFound
from layerlab.presentation.humanize import rfc3339_nano
from layerlab.storage.limits import store_defaults
from layerlab.storage.store import read_json, write_json_atomic

DEFAULT_POOLS = [{"base": "10.213.0.0/16", "size": 24}]  # Docker's own pools start at 172.17
PREDEFINED = ("bridge", "host", "none")
DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}
BRIDGE_OPTION = "com.docker.network.bridge.name"


def networks_dir(root: Path) -> Path:
    return root / "networks"


_held: dict[Path, list[int]] = {}  # root -> [fd, depth]: re-entrant within a process
_held_lock = threading.RLock()


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """The networks lock: taken inside the store lock, never the other way round.

    Re-entrant within a process, as the store lock is."""
    with _held_lock:
        held = _held.get(root)
        if held is None:
            folder = networks_dir(root)
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = _held[root] = [fd, 0]
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
            if held[1] == 0:
                del _held[root]
                os.close(held[0])


def store_tag(root: Path) -> str:
    """Five hex digits of the store's path: in every link name, so two stores never collide."""
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:5]


def link_prefix(root: Path) -> str:
    """What every host link of this store's networks starts with (bridges `b`, veths `v`)."""
    return "ll" + store_tag(root)


def bridge_name(root: Path, network_id: str) -> str:
    return f"{link_prefix(root)}b{network_id[:7]}"  # 15 bytes: the kernel's IFNAMSIZ - 1


def all_networks(root: Path) -> list[dict[str, Any]]:
    """Every network of the store, the predefined ones made on first use; by name."""
    folder = networks_dir(root)
    if not all((folder / name).exists() for name in PREDEFINED):
        _make_predefined(root)
    return sorted(_records(root), key=lambda n: n["Name"])


def find(root: Path, ref: str) -> dict[str, Any]:
    """A network by name, id or unique id prefix (Docker's order); `network X not found`."""
    networks = all_networks(root)
    for match in (
        lambda n: n["Name"] == ref,
        lambda n: n["Id"] == ref,
        lambda n: bool(ref) and n["Id"].startswith(ref),
    ):
        hits = [n for n in networks if match(n)]
        if len(hits) > 1:
            raise LayerlabError(f"network {ref} is ambiguous ({len(hits)} matches found on name)")
        if hits:
            return hits[0]
    raise NotFound(f"network {ref} not found")


def by_id(root: Path, network_id: str) -> dict[str, Any]:
    """A network by its full id, read at once (a start's and a release's way)."""
    try:
        found: dict[str, Any] = read_json(network_dir(root, network_id) / "network.json")
    except FileNotFoundError:
        raise NotFound(f"network {network_id} not found") from None
    return found


def network_dir(root: Path, network_id: str) -> Path:
    return networks_dir(root) / network_id


def _make_predefined(root: Path) -> None:
    with locked(root):
        folder = networks_dir(root)
        for name in PREDEFINED:
            if (folder / name).exists():
                continue
            record = _new_record(root, name, DRIVERS[name], {})
            if name == "bridge":
                subnet, gateway = _default_bridge_subnet(root)
                record["IPAM"]["Config"] = [{"Subnet": str(subnet), "Gateway": str(gateway)}]
                record["Options"] = {
                    "com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "false",
                    BRIDGE_OPTION: bridge_name(root, record["Id"]),
                }
            _write(root, record)
            (folder / name).symlink_to(record["Id"])  # the name taken, for good


def create(
    root: Path,
    name: str,
    *,
    subnet: str | None = None,
    gateway: str | None = None,
    internal: bool = False,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A user-defined bridge network; Docker's errors for a taken name or a bad subnet."""
    all_networks(root)
    with locked(root):
        if any(n["Name"] == name for n in all_networks(root)):
            raise Conflict(f"network with name {name} already exists")
        net = _chosen_subnet(root, subnet, gateway)
        record = _new_record(root, name, "bridge", labels or {})
        record["Internal"] = internal
        record["IPAM"]["Config"] = [{"Subnet": str(net[0]), "Gateway": str(net[1])}]
        record["Options"] = {BRIDGE_OPTION: bridge_name(root, record["Id"])}
        _write(root, record)
    return record


def remove(root: Path, network: dict[str, Any]) -> None:
    """Delete a user-defined network's record (its bridge link is the caller's)."""
    folder = network_dir(root, network["Id"])
    for lease in (folder / "leases").glob("*"):
        lease.unlink()
    with contextlib.suppress(FileNotFoundError):
        (folder / "leases").rmdir()
    (folder / "last").unlink(missing_ok=True)
    (folder / "network.json").unlink()
    folder.rmdir()


def _new_record(root: Path, name: str, driver: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "Name": name, "Id": os.urandom(32).hex(), "Created": rfc3339_nano(time.time()),
        "Scope": "local", "Driver": driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if name in PREDEFINED else {},
                 "Config": []},
        "Internal": False, "Attachable": False, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
        "Options": {}, "Labels": labels,
    }  # fmt: skip


def _write(root: Path, record: dict[str, Any]) -> None:
    folder = network_dir(root, record["Id"])
    (folder / "leases").mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "network.json", record)


# --- addresses ----------------------------------------------------------------------
Subnet = tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]


def subnet_of(network: dict[str, Any]) -> Subnet:
    """A bridge network's subnet and gateway."""
    config = network["IPAM"]["Config"][0]
    return ipaddress.IPv4Network(config["Subnet"]), ipaddress.IPv4Address(config["Gateway"])


def _default_bridge_subnet(root: Path) -> Subnet:
    """`bip` (the gateway's address and prefix) if the store's daemon.json sets one."""
    bip = store_defaults(root).get("bip")
    if bip:
        try:
            iface = ipaddress.IPv4Interface(bip)
        except ValueError:
            raise LayerlabError(f"invalid bip {bip!r} in daemon.json") from None
        return iface.network, iface.ip
    return _chosen_subnet(root, None, None)


def _chosen_subnet(root: Path, subnet: str | None, gateway: str | None) -> Subnet:
    if subnet is None:
        if gateway is not None:
            raise LayerlabError("every ip-range or gateway must have a corresponding subnet")
        net = _free_subnet(root)
        return net, next(net.hosts())
    try:
        net = ipaddress.IPv4Network(subnet, strict=False)
    except ValueError:
        raise LayerlabError(f"invalid CIDR address: {subnet}") from None
    if net.prefixlen > 30:
        raise LayerlabError(f"subnet {subnet} is too small")
    for other in all_networks(root):
        if other["IPAM"]["Config"] and net.overlaps(subnet_of(other)[0]):
            raise Conflict("Pool overlaps with other one on this address space")
    gw = ipaddress.IPv4Address(gateway) if gateway else next(net.hosts())
    if gw not in net:
        raise LayerlabError(f"no matching subnet for gateway {gateway}")
    return net, gw


def _free_subnet(root: Path) -> ipaddress.IPv4Network:
    """The first pool subnet that overlaps no route of the host and no network of the store,
    counted from a point the store's path picks (two stores rarely try the same first)."""
    taken = _host_routes() + [subnet_of(n)[0] for n in _records(root) if n["IPAM"]["Config"]]
    pools: list[dict[str, Any]] = store_defaults(root).get("default-address-pools") or DEFAULT_POOLS
    for pool in pools:
        base = ipaddress.IPv4Network(pool["base"])
        candidates = list(base.subnets(new_prefix=int(pool["size"])))
        start = int(store_tag(root), 16) % len(candidates)
        for net in candidates[start:] + candidates[:start]:
            if not any(net.overlaps(t) for t in taken):
                return net
    raise LayerlabError(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network"
    )


def _records(root: Path) -> list[dict[str, Any]]:
    found = []
    for folder in network_dirs(root):
        with contextlib.suppress(FileNotFoundError, ValueError):
            found.append(read_json(folder / "network.json"))
    return found


def network_dirs(root: Path) -> list[Path]:
    """Each network's folder, once (not the names `bridge`, `host`, `none` link to them)."""
    folder = networks_dir(root)
    if not folder.is_dir():
        return []
    return sorted(e for e in folder.iterdir() if len(e.name) == 64 and not e.is_symlink())


def _host_routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes but the default one (/proc/net/route: hex, little-endian)."""
    found = []
    with open("/proc/net/route") as table:
        for line in list(table)[1:]:
            fields = line.split()
            dest, mask = (ipaddress.IPv4Address(int(f, 16).to_bytes(4, "little")) for f in
                          (fields[1], fields[7]))  # fmt: skip
            if int(mask):
                found.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    return found


def lease(root: Path, network: dict[str, Any], holder: dict[str, Any]) -> Path:
    """A free address of `network` for `holder` (its facts are the lease's content).

    Handed out in turn after the last one, as Docker's IPAM does: an address given back
    is not given again at once (the namespace that had it may still be ending)."""
    net, gateway = subnet_of(network)
    folder = network_dir(root, network["Id"])
    leases = folder / "leases"
    hosts = [a for a in net.hosts() if a != gateway]
    try:
        last = hosts.index(ipaddress.IPv4Address((folder / "last").read_text().strip()))
    except (FileNotFoundError, ValueError):
        last = -1
    for address in hosts[last + 1 :] + hosts[: last + 1]:
        path = leases / str(address)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as out:
            json.dump(holder, out)
        (folder / "last").write_text(f"{address}\n")
        return path
    raise LayerlabError(f"no available IPv4 addresses on network {network['Name']}")


def leases_of(root: Path, network_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(address, holder) of every lease of a network, in address order."""
    found = []
    for path in (network_dir(root, network_id) / "leases").glob("*"):
        with contextlib.suppress(FileNotFoundError, ValueError):
            found.append((path.name, json.loads(path.read_text() or "{}")))
    return sorted(found, key=lambda lease: ipaddress.IPv4Address(lease[0]))
