"""What a crash left of a store's networks, for `system check [--repair]`: the network of
a container that is not running (its links, leases, namespace file), a lease whose
container is gone, and a host link named for this store that nothing explains.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import layerlab.network.idle as idle
import layerlab.network.netns as netns
import layerlab.network.networks as networks
import layerlab.network.sandbox as sandbox
from layerlab.network.unlink import delete_link
from layerlab.storage.store import read_json

Leftover = tuple[str, str, Callable[[], object]]


def leftovers(root: Path, live: set[str]) -> list[Leftover]:
    """(what, why, cure) for each leftover; `live`: the containers running or starting."""
    if not networks.networks_dir(root).is_dir():
        return []
    found: list[Leftover] = []
    for cdir in sorted((root / "containers").glob("*")):
        if cdir.name in live:
            continue
        if (cdir / sandbox.ENDPOINTS).exists() or netns.is_bound(cdir / netns.NETNS_FILE):
            found.append((str(cdir / netns.NETNS_FILE),
                          "network (links, leases, namespace) of a container that is not running",
                          partial(sandbox.release, cdir)))  # fmt: skip
    found += _stale_leases(root, live)
    found += _stray_links(root, live)
    return found


def _stale_leases(root: Path, live: set[str]) -> list[Leftover]:
    found: list[Leftover] = []
    for lease in [p for d in networks.network_dirs(root) for p in sorted(d.glob("leases/*"))]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            holder = read_json(lease).get("Container") if lease.stat().st_size else None
            if holder not in live and not (root / "containers" / str(holder)).is_dir():
                found.append((str(lease), "address lease of a container that no longer exists",
                              partial(sandbox.drop_lease, root, lease, at_once=True)))  # fmt: skip
    return found


def _stray_links(root: Path, live: set[str]) -> list[Leftover]:
    """Host links with this store's prefix: a network's bridge while it has leases (or
    just lost its last: its remover is on the way), a running
    container's veth, a veth on a bridge of those (its namespace is ending: the kernel
    deletes it); any other is a leftover."""
    from layerlab.network.bridge import links_named  # pyroute2, for `system check` only

    bridges = set()
    for network in networks.all_networks(root):
        bridge = network["Options"].get(networks.BRIDGE_OPTION)
        if bridge and _recently_used(root, network["Id"]):
            bridges.add(bridge)
    veths = set()
    for cid in live:
        with contextlib.suppress(FileNotFoundError, ValueError):
            record = read_json(root / "containers" / cid / sandbox.ENDPOINTS)
            veths |= {e["HostLink"] for e in record["Networks"].values()}
    return [
        (name, "host link of this store that no network or running container uses",
         partial(delete_link, name))
        for name, master in sorted(links_named(networks.link_prefix(root)).items())
        if name not in bridges | veths and master not in bridges
    ]  # fmt: skip


def _recently_used(root: Path, network_id: str) -> bool:
    """Leases now, or the last one given back within the idle remover's time (and some)."""
    leases = networks.network_dir(root, network_id) / "leases"
    if networks.leases_of(root, network_id):
        return True
    with contextlib.suppress(FileNotFoundError):
        return time.time() - leases.stat().st_mtime < idle.IDLE_SECONDS + 10
    return False
