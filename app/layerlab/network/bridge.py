"""The links of a bridged container, with pyroute2 (netlink from Python, no `ip` command):
the network's bridge on the host with the gateway's address, and per endpoint a veth
pair, one end on the bridge, the other moved into the container's namespace as `eth0`
with its address, `lo` up and a default route via the gateway.

Nothing here sets up NAT, masquerading or forwarding: containers reach each other and
the host's end of their bridge, not the outside.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from layerlab.errors import LayerlabError

EEXIST = 17


@dataclass(frozen=True)
class Plug:
    """One endpoint to make: the host end's name, the one inside, and its address."""

    host_link: str
    inner: str  # eth0, eth1, ...
    bridge: str
    address: ipaddress.IPv4Address
    prefixlen: int
    gateway: ipaddress.IPv4Address | None  # the default route's (the first network's only)
    mac: str


def mac_for(address: ipaddress.IPv4Address) -> str:
    """Docker's MAC for an address: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def ensure_bridge(name: str, gateway: ipaddress.IPv4Address, prefixlen: int) -> None:
    """The bridge `name`, up, with the gateway's address (made if missing)."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except NetlinkError as exc:
                if exc.code != EEXIST:  # another start made it meanwhile
                    raise
            found = ipr.link_lookup(ifname=name)
        index = found[0]
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)}
        if str(gateway) not in have:
            ipr.addr("add", index=index, address=str(gateway), prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")


def plug(ns_file: str, rtnl_fd: int, plugs: Iterable[Plug]) -> None:
    """The veth pairs of `plugs` between the host's bridges and the namespace at `ns_file`
    (configured through `rtnl_fd`, a netlink socket made inside it, which this closes)."""
    with IPRoute(fileno=rtnl_fd) as inside:
        _refuse_unless_ours(inside)
        inside.link("set", index=inside.link_lookup(ifname="lo")[0], state="up")
        ns = os.open(ns_file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with IPRoute() as host:
                for p in plugs:
                    _pair(host, inside, ns, p)
        finally:
            os.close(ns)


def _refuse_unless_ours(inside: IPRoute) -> None:
    """A guard for the host: before anything is configured through `inside`, its links
    must be a container's (`lo`, and `eth*` with Docker's 02:42 MACs), never the host's."""
    for link in inside.get_links():
        name = link.get_attr("IFLA_IFNAME")
        ours = name.startswith("eth") and link.get_attr("IFLA_ADDRESS", "").startswith("02:42:")
        if name != "lo" and not ours:
            raise LayerlabError(f"refusing to configure {name}: not a container's namespace")


def _pair(host: IPRoute, inside: IPRoute, ns: int, p: Plug) -> None:
    host.link("add", ifname=p.host_link, kind="veth", peer={"ifname": p.inner, "net_ns_fd": ns})
    bridge = host.link_lookup(ifname=p.bridge)[0]
    host.link("set", index=host.link_lookup(ifname=p.host_link)[0], master=bridge, state="up")
    eth = inside.link_lookup(ifname=p.inner)[0]
    inside.link("set", index=eth, address=p.mac)
    inside.addr("add", index=eth, address=str(p.address), prefixlen=p.prefixlen)
    inside.link("set", index=eth, state="up")
    if p.gateway is not None:
        inside.route("add", dst="default", gateway=str(p.gateway))


def unplug_inside(rtnl_fd: int, inner: str) -> None:
    """Delete `inner` (and so its host peer) through a socket made in the namespace."""
    with IPRoute(fileno=rtnl_fd) as inside:
        _refuse_unless_ours(inside)
        found = inside.link_lookup(ifname=inner)
        if found:
            inside.link("del", index=found[0])


def links_named(prefix: str) -> list[str]:
    """The host's links whose names start with `prefix` (a store's, see networks.link_prefix)."""
    with IPRoute() as ipr:
        names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return sorted(n for n in names if n.startswith(prefix))
