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
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from layerlab import libc

NETNS_FILE = "netns"
NETLINK_ROUTE = 0
HOST_NS = "/proc/thread-self/ns/net"
T = TypeVar("T")


def create(path: Path) -> int:
    """A new namespace bound at `path`; returns a netlink (route) socket's descriptor
    inside it. Nothing is left at `path` if this fails."""
    path.touch(mode=0o600)

    def enter() -> None:
        libc.unshare(libc.CLONE_NEWNET)
        libc.mount(HOST_NS, str(path), "", libc.MS_BIND)

    try:
        return inside(enter, _route_socket)
    except BaseException:
        remove(path)
        raise


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
    return inside(lambda: enter_file(path), _route_socket)


def enter_file(path: Path | str) -> None:
    """Move the calling thread into the network namespace of the nsfs file at `path`."""
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc.setns(target, libc.CLONE_NEWNET)
    finally:
        os.close(target)


def inside(enter: Callable[[], None], work: Callable[[], T]) -> T:
    """`work()` in the network namespace `enter()` moves into, on a short-lived thread
    that is back in its own before it ends; what `work` returns, or what either raised."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        own = os.open(HOST_NS, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                enter()
                done.append(work())
            finally:
                libc.setns(own, libc.CLONE_NEWNET)
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)
        finally:
            os.close(own)

    worker = threading.Thread(target=run, name="netns")
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return done[0]


def _route_socket() -> int:
    """A netlink (route) socket in the calling thread's namespace, as a bare descriptor."""
    import socket  # not on the path of a container without a bridge

    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE).detach()
