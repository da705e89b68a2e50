"""The links of a bridged container, with pyroute2 (netlink from Python, no `ip` command):
the network's bridge on the host with the gateway's address, and per endpoint a veth
pair, one end on the bridge, the other moved into the container's namespace as `eth0`
with its address, `lo` up and a default route via the gateway.

Nothing here sets up NAT, masquerading or forwarding: containers reach each other and
the host's end of their bridge, not the outside.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from layerlab.errors import LayerlabError

LO_INDEX = 1  # a new namespace's loopback, always


@dataclass(frozen=True)
class Plug:
    """One endpoint to make: the host end's name, the one inside, and its address."""

    host_link: str
    inner: str  # eth0, eth1, ...
    index: int  # its index inside: 2, 3, ... (lo is 1 in a new namespace)
    address: ipaddress.IPv4Address
    prefixlen: int
    gateway: ipaddress.IPv4Address | None  # the default route's (the first network's only)
    mac: str


def mac_for(address: ipaddress.IPv4Address) -> str:
    """Docker's MAC for an address: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


@dataclass(frozen=True)
class Bridge:
    """A network's bridge on the host, with the gateway's address."""

    name: str
    gateway: ipaddress.IPv4Address
    prefixlen: int


def plug(
    ns_file: str, rtnl_fd: int, plugs: Iterable[tuple[Bridge, Plug]],
    existing: dict[int, str] | None = None,
) -> None:  # fmt: skip
    """Each plug's bridge (made if missing), then its veth pair between that bridge and the
    namespace at `ns_file`, configured inside through `rtnl_fd` (a netlink socket made
    there, closed here). As few netlink requests as can do it: each costs a millisecond.

    A new namespace gets `lo` up; one that runs (`existing`: its links' index -> MAC)
    must show those links before anything is added."""
    with IPRoute(fileno=rtnl_fd) as inside, IPRoute() as host:
        if existing is None:
            _refuse_unless_fresh(inside, "eth0")
            inside.link("set", index=LO_INDEX, state="up")
        else:
            _refuse_unless_ours(inside, existing)
        ns = os.open(ns_file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            for bridge, p in plugs:
                _pair(host, inside, ns, _ensure_bridge(host, bridge), p)
        finally:
            os.close(ns)


def _ensure_bridge(host: IPRoute, bridge: Bridge) -> int:
    """The bridge's index; made, addressed and up if it was not (another start may make
    it at the same moment: EEXIST is that)."""
    found = host.link_lookup(ifname=bridge.name)
    if found:
        return int(found[0])
    with _unless_exists():
        host.link("add", ifname=bridge.name, kind="bridge", state="up")
    index = int(host.link_lookup(ifname=bridge.name)[0])
    with _unless_exists():
        host.addr("add", index=index, address=str(bridge.gateway), prefixlen=bridge.prefixlen)
    return index


@contextlib.contextmanager
def _unless_exists() -> Iterator[None]:
    try:
        yield
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _refuse_unless_fresh(inside: IPRoute, inner: str) -> None:
    """A guard for the host: the socket must be in the new namespace, where no `inner`
    (`eth0`) exists yet, never in one that has it (the host's) before anything is set."""
    try:
        inside.link("get", ifname=inner)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return
        raise
    raise LayerlabError(f"refusing to configure {inner}: not a new container's namespace")


def _refuse_unless_ours(inside: IPRoute, existing: dict[int, str]) -> None:
    """A guard for the host: a running container's namespace has its links, with the MACs
    its record says (02:42 and its addresses), at their indexes; the host's has not."""
    macs = {link["index"]: link.get_attr("IFLA_ADDRESS") for link in inside.get_links()}
    if any(macs.get(index) != mac for index, mac in existing.items()):
        raise LayerlabError("refusing to configure a namespace that is not the container's")


def unplug(rtnl_fd: int, index: int, existing: dict[int, str]) -> None:
    """Delete a running container's link `index` (its host end goes with it)."""
    with IPRoute(fileno=rtnl_fd) as inside:
        _refuse_unless_ours(inside, existing)
        inside.link("del", index=index)


def _pair(host: IPRoute, inside: IPRoute, ns: int, bridge: int, p: Plug) -> None:
    peer = {"ifname": p.inner, "index": p.index, "address": p.mac, "net_ns_fd": ns}
    host.link("add", ifname=p.host_link, kind="veth", master=bridge, state="up", peer=peer)
    inside.addr("add", index=p.index, address=str(p.address), prefixlen=p.prefixlen)
    inside.link("set", index=p.index, state="up")
    if p.gateway is not None:
        inside.route("add", dst="default", gateway=str(p.gateway))


def links_named(prefix: str) -> dict[str, str | None]:
    """The host's links whose names start with `prefix` (a store's, see networks.link_prefix),
    each with the name of the bridge it is attached to (None: none)."""
    with IPRoute() as ipr:
        links = ipr.get_links()
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in links}
    return {
        names[link["index"]]: names.get(link.get_attr("IFLA_MASTER"))
        for link in links if names[link["index"]].startswith(prefix)
    }  # fmt: skip
