"""Checks on a container's network, read from the kernel (`layerlab.network.probe`): the
links of its namespace and their addresses, whether it shares the host's, whom it
reaches by name, whether its published port answers on the host. Registered in
`checks.CHECKS` when imported (the loader imports this module).

What a command printed is never the proof: a near miss that prints the right words
(another container's `ip addr`) is refused by the kernel's answer.
"""

from __future__ import annotations

import ipaddress
import os
import socket

from layerlab.lessons.checks import (
    NAMESPACES,
    Context,
    Param,
    _container,
    _failed,
    _state_word,
    check,
)
from layerlab.network import probe
from layerlab.presentation.ports import published

PORT_TIMEOUT = 3.0
REQUEST = b"GET / HTTP/1.0\r\n\r\n"


def _pid(ctx: Context, ref: str) -> tuple[int, str]:
    """A running container's pid 1 (host pid), or 0 and why not."""
    c = _container(ctx, ref)
    if c is None:
        return 0, "no such container"
    pid = int(c.state.get("Pid") or 0)
    if not c.running or pid <= 0:
        return 0, f"the container is {_state_word(c)}"
    return pid, ""


def _shown(links: dict[str, str | None]) -> str:
    return ", ".join(f"{name} {ip}" if ip else name for name, ip in links.items()) or "no link"


@check(
    "net_links",
    "the running container's network namespace has exactly these links (`lo,eth0`), "
    "each with an IPv4 address",
    Param("container", str),
    Param("links", str),
)
def _net_links(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    want = [name.strip() for name in str(a["links"]).split(",") if name.strip()]
    goal = f"{a['container']}'s network namespace has {', '.join(want)}"
    pid, why = _pid(ctx, str(a["container"]))
    if not pid:
        return False, goal, why
    found = probe.links(pid)
    ok = sorted(found) == sorted(want) and all(found.values())
    return ok, goal, _shown(found)


@check(
    "output_shows_address",
    "the last command succeeded and printed the address the kernel gives this link of the "
    "running container",
    Param("container", str),
    Param("link", str),
)
def _output_shows_address(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"the output shows {a['container']}'s {a['link']} address"
    pid, why = _pid(ctx, str(a["container"]))
    if not pid:
        return False, goal, why
    address = probe.links(pid).get(str(a["link"]))
    if address is None:
        return False, goal, f"{a['container']} has no {a['link']} address"
    if ctx.last is None:
        return False, goal, "no command yet"
    if ctx.last.code != 0:
        return False, goal, _failed(ctx.last)
    ok = f"inet {address}/" in ctx.last.out or f"addr:{address} " in ctx.last.out
    return ok, goal, f"it is {address}" + ("" if ok else ", not in the output")


@check(
    "host_namespace",
    "the running container shares the host's namespace of this kind (`--network host`: net)",
    Param("container", str),
    Param("kind", str, choices=NAMESPACES),
)
def _host_namespace(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"{a['container']} shares the host's {a['kind']} namespace"
    pid, why = _pid(ctx, str(a["container"]))
    if not pid:
        return False, goal, why
    theirs = os.readlink(f"/proc/{pid}/ns/{a['kind']}")
    ours = os.readlink(f"/proc/self/ns/{a['kind']}")
    return theirs == ours, goal, ("the host's, " + ours if theirs == ours else f"its own, {theirs}")


@check(
    "net_reaches",
    "the running container resolves the other's name (its /etc/hosts) to the other's "
    "address, and that address answers a ping sent from inside its namespace",
    Param("container", str),
    Param("target", str),
)
def _net_reaches(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    source, target = str(a["container"]), str(a["target"])
    goal = f"{source} reaches {target} by name"
    pid, why = _pid(ctx, source)
    if not pid:
        return False, goal, why
    other, why = _pid(ctx, target)
    if not other:
        return False, goal, f"{target}: {why}"
    address = probe.resolves(pid, target)
    if address is None:
        return False, goal, f"{source} has no name {target} (its /etc/hosts)"
    theirs = {ip for name, ip in probe.links(other).items() if ip and name != "lo"}
    if address not in theirs:
        return False, goal, f"{target} resolves to {address}, which is not {target}'s"
    answered = probe.pings(pid, address)
    return answered, goal, f"{target} is {address}, " + ("it answers" if answered else "no answer")


@check(
    "port_answers",
    "the container's TCP port is published on the host, and a request to it there (on "
    "loopback) gets an answer from the container",
    Param("container", str),
    Param("port", int, minimum=1),
)
def _port_answers(ctx: Context, a: dict[str, str | int]) -> tuple[bool, str, str]:
    goal = f"{a['container']}'s port {a['port']} answers on the host"
    c = _container(ctx, str(a["container"]))
    if c is None:
        return False, goal, "no such container"
    bindings = published(c.data).get(f"{a['port']}/tcp")
    if not bindings:
        return False, goal, f"port {a['port']}/tcp is not published"
    ip, port = bindings[0]["HostIp"], int(bindings[0]["HostPort"])
    if ip == "0.0.0.0":
        ip = "127.0.0.1"
    if not ipaddress.ip_address(ip).is_loopback:  # a check talks to loopback only
        return False, goal, f"published on {ip}, not on loopback"
    where = f"{ip}:{port}"
    try:
        with socket.create_connection((ip, port), timeout=PORT_TIMEOUT) as conn:
            conn.sendall(REQUEST)
            reply = conn.recv(256)
    except OSError as exc:
        return False, goal, f"{where}: {exc.strerror or exc}"
    if not reply:
        return False, goal, f"{where} closed without an answer"
    return True, goal, f"{where}: {reply.decode(errors='replace').splitlines()[0][:60]}"
