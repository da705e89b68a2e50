"""A container's network namespace: made by us, kept alive by a bind mount of its nsfs
file in the container's folder (`containers/<id>/netns`), named in runc's config.json.

Made in a short-lived thread: `unshare(CLONE_NEWNET)` moves only the calling thread,
so the process (a TUI, the fork server's child) never leaves the host's namespace.
That thread also opens the netlink socket the namespace is configured through: a
socket belongs to the namespace it was created in, whoever uses it later.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from layerlab import libc

NETNS_FILE = "netns"
NETLINK_ROUTE = 0
HOST_NS = "/proc/thread-self/ns/net"


def create(path: Path) -> int:
    """A new namespace bound at `path`; returns a netlink (route) socket's descriptor
    inside it. Nothing is left at `path` if this fails."""
    import socket  # not on the path of a container without a bridge

    path.touch(mode=0o600)
    made: list[int] = []
    failed: list[BaseException] = []

    def inside() -> None:
        own = os.open(HOST_NS, os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.unshare(libc.CLONE_NEWNET)
            try:
                libc.mount(HOST_NS, str(path), "", libc.MS_BIND)
                rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
                made.append(rtnl.detach())
            finally:
                libc.setns(own, libc.CLONE_NEWNET)
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)
        finally:
            os.close(own)

    worker = threading.Thread(target=inside, name="netns")
    worker.start()
    worker.join()
    if failed:
        remove(path)
        raise failed[0]
    return made[0]


def remove(path: Path) -> None:
    """Unbind and delete a namespace file; the namespace ends with its last process."""
    with contextlib.suppress(OSError):
        libc.umount(str(path), libc.MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def is_bound(path: Path) -> bool:
    """Whether `path` holds a namespace (nsfs bound over it), not just the empty file."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except FileNotFoundError:
        return False


def socket_in(path: Path) -> int:
    """A netlink (route) socket's descriptor inside the namespace bound at `path`."""
    import socket

    made: list[int] = []
    failed: list[BaseException] = []

    def inside() -> None:
        own = os.open(HOST_NS, os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            libc.setns(target, libc.CLONE_NEWNET)
            try:
                rtnl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
                made.append(rtnl.detach())
            finally:
                libc.setns(own, libc.CLONE_NEWNET)
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)
        finally:
            os.close(own)
            os.close(target)

    worker = threading.Thread(target=inside, name="netns")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return made[0]
