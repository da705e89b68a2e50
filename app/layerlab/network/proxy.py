"""Published ports: a userland proxy per port, as Docker's `docker-proxy`.

The shim binds every published port on the host before the container starts (so a
port already taken is the start's error, in Docker's words), then forks one proxy per
port: a small process named `layerlab-proxy` that accepts on the host's address and
forwards to the container's - TCP as a byte stream both ways, half-closes passed on;
UDP as datagrams, one upstream socket per client. No firewall rule: the proxy is the
whole path. A proxy dies with the shim that forked it (the kernel's parent-death
signal), and the shim ends its proxies when the container ends.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerlab import libc
from layerlab.errors import NOT_STARTED, LayerlabError, go_strerror
from layerlab.network.ports import ANY_IPV4, Publish, endpoints, requested, settings
from layerlab.presentation.ports import Ports

NAME = "layerlab-proxy"  # what `ps -e` calls a proxy, as `docker-proxy` is called
CHUNK = 65536
CONNECT_TIMEOUT = 5.0
UDP_IDLE = 90.0  # docker-proxy's UDPConnTrackTimeout: a client silent this long is forgotten


class PortAllocated(LayerlabError):
    """The host's port is taken (by another container or any other program)."""


class PublishFailed(LayerlabError):
    """A container's ports could not be published: its start fails (125 for `run`)."""


class Proxies:
    """A container's published ports, owned by its shim: bound before the container
    starts, forwarded by a proxy each while it runs, ended with it."""

    def __init__(self, bound: list[tuple[Publish, socket.socket]]) -> None:
        self.bound = bound
        self.running: list[Proxy] = []
        self.address: str | None = None  # the container's, once the proxies forward to it

    @classmethod
    def bind(cls, data: dict[str, Any], container_dir: Path) -> Proxies:
        """Every port the record asks for, bound now; Docker's error for the first that
        cannot be, with nothing left bound. Nothing for a container without a bridged
        network of its own (`none`, `host`, `container:X`): Docker discards its ports."""
        proxies = cls([])
        held = endpoints(container_dir)
        if not held:
            return proxies
        try:
            for publish in requested(data):
                proxies.bound.append((publish, bind(publish)))
        except LayerlabError as exc:
            proxies.stop()
            endpoint = next(iter(held.values())).get("EndpointID") or data["Id"]
            raise PublishFailed(
                "driver failed programming external connectivity on endpoint "
                f"{str(data['Name']).lstrip('/')} ({endpoint}): {exc}",
                NOT_STARTED,
            ) from None
        return proxies

    def start(self, data: dict[str, Any], address: str | None) -> Ports:
        """A proxy per bound port towards the container's `address`; the record's
        `NetworkSettings.Ports` (its exposed ports, with what was bound for them).

        The shim keeps its copy of each socket, so a process of its own that supervises
        on (`respawn`) forwards the same ports without binding them again."""
        if not address:
            self.stop()
        self.address = address
        self.respawn()
        return settings(data, [(p, int(sock.getsockname()[1])) for p, sock in self.bound])

    def respawn(self) -> None:
        """A proxy per bound port, forked by this process: a proxy dies with the process
        that forked it, and the shim that supervises a restarted container may be a new
        one (an attached run's starter took the first exit code)."""
        for proxy in self.running:
            proxy.end()
        address = self.address
        self.running = [spawn(s, (address, p.container_port)) for p, s in self.bound if address]

    def stop(self) -> None:
        """The container ended (or never started): every port is free again."""
        for _, sock in self.bound:
            sock.close()
        self.bound = []
        for proxy in self.running:
            proxy.end()
        self.running = []


def bind(publish: Publish) -> socket.socket:
    """The host's socket for `publish`, bound (and listening, for TCP): its port is ours.

    Raises `PortAllocated` in Docker's words when no port of the range is free, and
    Docker's userland-proxy error for any other failure (an address not on this host)."""
    ip = publish.host_ip or ANY_IPV4
    first, last = publish.host_ports
    for port in range(first, last + 1):
        try:
            return _bound(publish.proto, ip, port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                family = "6" if ":" in ip else "4"
                raise LayerlabError(
                    f"Error starting userland proxy: listen {publish.proto}{family} "
                    f"{_joined(ip, str(port))}: bind: {go_strerror(exc)}"
                ) from None
    shown = str(first) if first == last else f"{first}-{last}"
    raise PortAllocated(f"Bind for {_joined(ip, shown)} failed: port is already allocated")


def _joined(ip: str, port: str) -> str:
    """Go's net.JoinHostPort: an IPv6 address in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _bound(proto: str, ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        if proto == "tcp":  # as Go's listeners: a port in TIME_WAIT is free to listen on
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        if proto == "tcp":
            sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True)
class Proxy:
    """A forked proxy, held by a pidfd: ending it never signals a reused pid."""

    pid: int
    pidfd: int

    def end(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.pidfd)


def spawn(listener: socket.socket, target: tuple[str, int]) -> Proxy:
    """Fork the proxy serving `listener` towards `target` (the container's address and
    port). The caller may close its own copy of the socket: the proxy holds the port."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return Proxy(pid, os.pidfd_open(pid))
    code = 0
    try:
        _leave_parent(listener, parent)
        if listener.type == socket.SOCK_STREAM:
            serve_tcp(listener, target)
        else:
            serve_udp(listener, target)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _leave_parent(listener: socket.socket, parent: int) -> None:
    """A proxy holds its socket and nothing else of the shim's (a container's stdin pipe
    held open here would never see its end), and dies when the shim dies."""
    libc.die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:  # the shim died before we asked to die with it
        os._exit(0)
    libc.set_name(NAME)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = listener.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


# --- TCP ---------------------------------------------------------------------------
def serve_tcp(listener: socket.socket, target: tuple[str, int]) -> None:
    """Accept for ever; each connection relayed by a thread of its own."""
    listener.setblocking(True)
    while True:
        try:
            client, _ = listener.accept()
        except InterruptedError:
            continue
        threading.Thread(target=_relay, args=(client, target), daemon=True).start()


def _relay(client: socket.socket, target: tuple[str, int]) -> None:
    """One connection, both ways, until both sides have finished sending.

    A container that does not answer (nothing listens there) closes the client's
    connection, as docker-proxy does."""
    with client:
        try:
            upstream = socket.create_connection(target, timeout=CONNECT_TIMEOUT)
        except OSError:
            return
        with upstream:
            upstream.settimeout(None)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy until `src` ends, then end `dst`'s sending side (a half-close passed on)."""
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


# --- UDP ---------------------------------------------------------------------------
def serve_udp(listener: socket.socket, target: tuple[str, int]) -> None:
    """Datagrams from each client go out on a socket of its own, so the container's
    answers come back to that client; a client silent for UDP_IDLE is forgotten."""
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    peers: dict[tuple[str, int], socket.socket] = {}
    last_heard: dict[tuple[str, int], float] = {}
    while True:
        for key, _ in sel.select(timeout=UDP_IDLE / 3):
            client = key.data
            if client is None:
                data, client = listener.recvfrom(CHUNK)
                upstream = peers.get(client) or _udp_upstream(sel, peers, client, target)
                with contextlib.suppress(OSError):
                    upstream.send(data)
            else:
                with contextlib.suppress(OSError):
                    listener.sendto(key.fileobj.recv(CHUNK), client)  # type: ignore[union-attr]
            last_heard[client] = time.monotonic()
        _forget_idle(sel, peers, last_heard)


def _udp_upstream(
    sel: selectors.BaseSelector,
    peers: dict[tuple[str, int], socket.socket],
    client: tuple[str, int],
    target: tuple[str, int],
) -> socket.socket:
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.connect(target)
    peers[client] = upstream
    sel.register(upstream, selectors.EVENT_READ, client)
    return upstream


def _forget_idle(
    sel: selectors.BaseSelector,
    peers: dict[tuple[str, int], socket.socket],
    last_heard: dict[tuple[str, int], float],
) -> None:
    now = time.monotonic()
    for client in [c for c, at in last_heard.items() if now - at > UDP_IDLE]:
        del last_heard[client]
        upstream = peers.pop(client, None)
        if upstream is not None:
            sel.unregister(upstream)
            upstream.close()
