"""A running process's network namespace, read from the kernel: its links and their IPv4
addresses, whether an address answers a ping sent from inside it, what its /etc/hosts
calls a name. What a lesson checks and the picture draws: the kernel's view, never a
record's.

Each look inside is made by a short-lived thread that joins the namespace (setns moves
only the calling thread), so the caller never leaves the host's.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from layerlab.network import netns

T = TypeVar("T")
SIOCGIFADDR = 0x8915
ICMP_ECHO, ICMP_ECHOREPLY = 8, 0


def inside(pid: int, read: Callable[[], T]) -> T:
    """`read()`'s result, called in `pid`'s network namespace (OSError once `pid` is gone)."""
    return netns.inside(lambda: netns.enter_file(f"/proc/{pid}/ns/net"), read)


def links(pid: int) -> dict[str, str | None]:
    """The links of `pid`'s namespace, by index order, with each one's IPv4 address."""
    return inside(pid, _links_here)


def _links_here() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in sorted(socket.if_nameindex()):
            found[name] = _address(sock, name)
    return found


def _address(sock: socket.socket, name: str) -> str | None:
    try:
        got = fcntl.ioctl(sock, SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
    except OSError:  # EADDRNOTAVAIL: a link with no IPv4 address
        return None
    return socket.inet_ntoa(got[20:24])


def pings(pid: int, address: str, timeout: float = 1.0) -> bool:
    """Whether `address` answers an ICMP echo sent from inside `pid`'s namespace."""
    return inside(pid, lambda: _ping_here(address, timeout))


def _ping_here(address: str, timeout: float) -> bool:
    ident = os.getpid() & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        try:
            sock.sendto(_echo(ident), (address, 0))
        except OSError:  # no route there: unreachable
            return False
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                packet, sender = sock.recvfrom(1024)
            except (TimeoutError, OSError):
                return False
            header = (packet[0] & 0x0F) * 4
            kind, _, _, got_id, _ = struct.unpack_from("!BBHHH", packet, header)
            if kind == ICMP_ECHOREPLY and got_id == ident and sender[0] == address:
                return True
    return False


def _echo(ident: int) -> bytes:
    payload = b"layerlab"
    head = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, 1)
    total = sum(struct.unpack(f"!{(len(head + payload)) // 2}H", head + payload))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    return struct.pack("!BBHHH", ICMP_ECHO, 0, checksum, ident, 1) + payload


def resolves(pid: int, name: str) -> str | None:
    """The address `pid`'s /etc/hosts gives `name` (as a container resolves it), or None."""
    hosts = Path(f"/proc/{pid}/root/etc/hosts")
    try:
        text = hosts.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        words = line.partition("#")[0].split()
        if len(words) > 1 and name in words[1:]:
            return words[0]
    return None
