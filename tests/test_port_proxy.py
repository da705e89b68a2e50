"""The userland proxy on loopback: real sockets, real forked proxies, 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerlab.network import proxy
from layerlab.network.ports import Publish
from layerlab.network.proxy import PortAllocated
from tests.conftest import eventually

pytestmark = pytest.mark.system  # real sockets and forked proxies on loopback
LOOPBACK = "127.0.0.1"


def _tcp_echo() -> tuple[socket.socket, int]:
    """A TCP server on loopback that echoes each connection until its client half-closes,
    then says `bye` and closes: the half-close must pass through the proxy both ways."""
    server = socket.create_server((LOOPBACK, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)
                conn.sendall(b"bye")

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _udp_echo() -> tuple[socket.socket, int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((LOOPBACK, 0))

    def serve() -> None:
        while True:
            try:
                data, peer = server.recvfrom(4096)
            except OSError:
                return
            server.sendto(data.upper(), peer)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.fixture
def proxies() -> Iterator[list[proxy.Proxy]]:
    running: list[proxy.Proxy] = []
    yield running
    for each in running:
        each.end()


def _publish(proto: str, target_port: int, running: list[proxy.Proxy]) -> int:
    """Publish `target_port` on a free loopback port; that port."""
    listener = proxy.bind(Publish(target_port, proto, LOOPBACK))
    with listener:
        running.append(proxy.spawn(listener, (LOOPBACK, target_port)))
        return int(listener.getsockname()[1])


def _recv_all(conn: socket.socket) -> bytes:
    got = b""
    while data := conn.recv(4096):
        got += data
    return got


def test_tcp_is_forwarded_both_ways_with_half_close(proxies: list[proxy.Proxy]) -> None:
    server, target = _tcp_echo()
    with server:
        port = _publish("tcp", target, proxies)
        assert port != target
        for _ in range(2):  # one connection after another, each relayed
            with socket.create_connection((LOOPBACK, port), timeout=30) as conn:
                conn.sendall(b"hello through the proxy")
                conn.shutdown(socket.SHUT_WR)
                assert _recv_all(conn) == b"hello through the proxybye"


def test_udp_is_forwarded_and_answered(proxies: list[proxy.Proxy]) -> None:
    server, target = _udp_echo()
    with server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        port = _publish("udp", target, proxies)
        client.settimeout(30)
        for word in (b"ping", b"again"):
            client.sendto(word, (LOOPBACK, port))
            assert client.recvfrom(4096)[0] == word.upper()


def test_nothing_listening_closes_the_client(proxies: list[proxy.Proxy]) -> None:
    with socket.socket() as unused:  # a port nobody listens on: the container's, closed
        unused.bind((LOOPBACK, 0))
        target = unused.getsockname()[1]
    port = _publish("tcp", target, proxies)
    with socket.create_connection((LOOPBACK, port), timeout=30) as conn:
        assert _recv_all(conn) == b""


def test_a_taken_port_is_refused_in_dockers_words() -> None:
    with socket.create_server((LOOPBACK, 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(PortAllocated) as err:
            proxy.bind(Publish(80, "tcp", LOOPBACK, (port, port)))
    assert str(err.value) == f"Bind for {LOOPBACK}:{port} failed: port is already allocated"


def test_a_range_takes_its_first_free_port() -> None:
    with socket.create_server((LOOPBACK, 0)) as taken:
        port = taken.getsockname()[1]
        with proxy.bind(Publish(80, "tcp", LOOPBACK, (port, port + 1))) as got:
            assert got.getsockname()[1] == port + 1


def test_an_address_not_on_the_host_is_the_userland_proxy_error() -> None:
    with pytest.raises(proxy.LayerlabError) as err:
        proxy.bind(Publish(80, "tcp", "192.0.2.1", (8080, 8080)))
    assert str(err.value) == (
        "Error starting userland proxy: listen tcp4 192.0.2.1:8080: bind: "
        "cannot assign requested address"
    )


def _alive(pid: int) -> bool:
    """Whether `pid` is still a process that is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_proxy_dies_with_the_process_that_forked_it() -> None:
    """The shim's part, played by a forked middle process: killed with SIGKILL (no
    chance to end its proxy), its proxy is ended by the kernel and the port is free."""
    server, target = _tcp_echo()
    told_r, told_w = os.pipe()
    middle = os.fork()
    if middle == 0:  # the stand-in for a shim: forks a proxy, says its pid and port, waits
        os.close(told_r)
        listener = proxy.bind(Publish(target, "tcp", LOOPBACK))
        pid = proxy.spawn(listener, (LOOPBACK, target)).pid
        os.write(told_w, f"{pid} {listener.getsockname()[1]}\n".encode())
        signal.pause()
        os._exit(0)
    os.close(told_w)
    try:
        with os.fdopen(told_r) as told, server:
            pid, port = (int(word) for word in told.readline().split())
            eventually(lambda: Path(f"/proc/{pid}/comm").read_text().strip(), proxy.NAME)
    finally:
        os.kill(middle, signal.SIGKILL)
        os.waitpid(middle, 0)
    eventually(lambda: _alive(pid), False, timeout=30)
    with socket.create_server((LOOPBACK, port)):  # the port is free again
        pass
