"""The running container's network and namespaces, drawn beside its process space.

As "Container networking is simple!" draws it: the container's own network namespace
with `lo` and `eth0` (its address), the veth pair's other end on the host, plugged into
the bridge (the gateway) with the other containers on it, and the ports published on
the host. Under it, which namespaces the container has of its own and which it shares
with the host. Pure functions of a `SubjectView`, tested without an app.
"""

from __future__ import annotations

from collections.abc import Callable

from rich import box
from rich.style import Style
from rich.table import Table
from rich.text import Text

from layerlab.storage.reference import short_id
from layerlab.tui.literal import shown
from layerlab.tui.model import SubjectView

Styles = Callable[[str], Style]


def namespaces(view: SubjectView, s: Styles) -> Text:
    """`its own: pid net mnt uts ipc` / `the host's: cgroup user` (by /proc/PID/ns inode)."""
    own = " ".join(ns.kind for ns in view.namespaces if ns.own)
    shared = " ".join(ns.kind for ns in view.namespaces if not ns.own)
    text = Text.assemble(("namespaces of its own: ", s("title")), (own or "none", s("process")))
    if shared:
        text.append_text(Text.assemble(("\nthe host's: ", s("caption")), shared))
    return text


def network_space(view: SubjectView, s: Styles) -> Table | None:
    """The container's network namespace and what it is plugged into; None without one."""
    net = view.network
    if net is None:
        return None
    table = Table(box=box.ROUNDED, show_header=False, padding=(0, 1), expand=True)
    table.add_column("network", overflow="fold")
    text = Text("network namespace\n", style=s("title"))
    shared = _shared(net.mode)
    if shared:
        text.append(shared, s("caption"))
        table.add_row(text)
        return table
    text.append("lo   ", s("process"))
    text.append("127.0.0.1")
    for link in net.links:
        text.append(f"\n{link.inner} ", s("process"))
        text.append(f"{link.address}/{link.prefixlen}")
        text.append("\n ⇅ veth ", s("caption"))
        text.append(shown(link.host_link), s("id"))
        text.append(" (host end)")
        text.append("\nbridge ", s("caption"))
        text.append(shown(link.bridge), s("id"))
        text.append(f" ({shown(link.network)})")
        text.append("\ngateway ", s("caption"))
        text.append(link.gateway)
        for name, address in link.peers:
            text.append("\nalso on it: ", s("caption"))
            text.append(f"{shown(name)} {address}")
    if net.mode == "none":
        text.append("\nno other link (--network none)", s("caption"))
    for line in net.published:
        text.append("\npublished ", s("caption"))
        text.append(line.replace(" -> ", " → "), s("mount"))
    table.add_row(text)
    return table


def _shared(mode: str) -> str:
    """What a container without a namespace of its own uses instead ('' if it has one)."""
    if mode == "host":
        return "none of its own: the host's (--network host)"
    if mode.startswith("container:"):
        return f"container {short_id(mode.partition(':')[2])}'s (--network container:)"
    return ""
