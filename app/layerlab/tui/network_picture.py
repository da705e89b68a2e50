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
    if net.mode == "host":
        text.append("none of its own: the host's network (--network host)", s("caption"))
        table.add_row(text)
        return table
    text.append("lo ", s("process"))
    text.append("127.0.0.1")
    for link in net.links:
        text.append(f"\n{link.inner} ", s("process"))
        text.append(f"{link.address}/{link.prefixlen}  {link.mac}")
        text.append("\n  veth pair ⇅ ", s("caption"))
        text.append(shown(link.host_link), s("id"))
        text.append(" on the host")
        text.append("\n  bridge ", s("caption"))
        text.append(shown(link.bridge), s("id"))
        text.append(f" {link.gateway} ({shown(link.network)}, the gateway)")
        for name, address in link.peers:
            text.append("\n  also on it: ", s("caption"))
            text.append(f"{shown(name)} {address}")
    if not net.links and net.mode == "none":
        text.append("\nno other link: --network none", s("caption"))
    for line in net.published:
        text.append("\npublished ", s("caption"))
        text.append(line, s("mount"))
    table.add_row(text)
    return table
