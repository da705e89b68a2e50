"""Deleting a host link by name with one hand-made netlink message.

Used where a container's network is released: the shim's exit, `rm`, a lost shim.
The shim is a fresh interpreter on every container's path, and importing pyroute2
costs it ~250 ms; this is the only netlink call made there. Everything else
(bridges, veths, addresses, routes) goes through pyroute2 (bridge.py).
"""

from __future__ import annotations

import errno
import os
import struct

RTM_DELLINK = 17
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
IFLA_IFNAME = 3


def delete_link(name: str) -> bool:
    """Delete the host's link `name` (a veth takes its peer along); False if there is none."""
    import socket  # not on the path of a container without a bridge

    ifname = name.encode() + b"\0"
    attr = struct.pack("HH", 4 + len(ifname), IFLA_IFNAME) + ifname
    attr += b"\0" * (-len(attr) % 4)
    body = struct.pack("BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0) + attr
    header = struct.pack("IHHII", 16 + len(body), RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:
        sock.send(header + body)
        reply = sock.recv(4096)
    kind = struct.unpack_from("H", reply, 4)[0]
    code = -struct.unpack_from("i", reply, 16)[0] if kind == NLMSG_ERROR else 0
    if code in (errno.ENODEV, errno.ENOENT):
        return False
    if code:
        raise OSError(code, f"delete link {name}: {os.strerror(code)}")
    return True
