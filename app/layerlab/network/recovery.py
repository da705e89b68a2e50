"""What a crash left of a store's networks, for `system check [--repair]`: the network of
a container that is not running (its links, leases, namespace file), a lease whose
container is gone, and a host link named for this store that nothing explains.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

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
    """Host links with this store's prefix: a live container's veth, a user network's
    bridge, the default bridge while it has leases; any other is a leftover."""
    from layerlab.network.bridge import links_named  # pyroute2, for `system check` only

    wanted = set()
    for cid in live:
        with contextlib.suppress(FileNotFoundError, ValueError):
            record = read_json(root / "containers" / cid / sandbox.ENDPOINTS)
            wanted |= {e["HostLink"] for e in record["Networks"].values()}
    for network in networks.all_networks(root):
        bridge = network["Options"].get(networks.BRIDGE_OPTION)
        if bridge and (network["Name"] != "bridge" or networks.leases_of(root, network["Id"])):
            wanted.add(bridge)
    return [
        (name, "host link of this store that no network or running container uses",
         partial(delete_link, name))
        for name in links_named(networks.link_prefix(root)) if name not in wanted
    ]  # fmt: skip
