"""`network create|ls|inspect|rm|prune|connect|disconnect` on a store: what each does,
in Docker's words. The engine's `network_*` verbs hand them over; the command line
(commands/handlers/networks.py) only prints.
"""

from __future__ import annotations

import contextlib
from typing import Any

import layerlab.network.networks as networks
import layerlab.network.sandbox as sandbox
from layerlab.errors import Conflict, LayerlabError, NotFound
from layerlab.storage.store import Store


def create(store: Store, name: str, driver: str, **options: Any) -> dict[str, Any]:
    if driver != "bridge":
        raise NotFound(f'plugin "{driver}" not found', exit_code=1)
    return networks.create(store.root, name, **options)


def ls(store: Store) -> list[dict[str, Any]]:
    return networks.all_networks(store.root)


def inspect(store: Store, ref: str) -> dict[str, Any]:
    """Docker's shape, with the running endpoints in `Containers`."""
    try:
        found = dict(networks.find(store.root, ref))
    except NotFound:
        raise NotFound(f"No such network: {ref}", exit_code=1) from None
    found["Containers"] = sandbox.members(store.root, found["Id"])
    return found


def rm(store: Store, ref: str) -> dict[str, Any]:
    """Delete a user-defined network and its bridge; refused while a container uses it."""
    from layerlab.network.unlink import delete_link

    try:
        found = networks.find(store.root, ref)
    except NotFound:
        raise NotFound(f"No such network: {ref}", exit_code=1) from None
    if found["Name"] in networks.PREDEFINED:
        raise Conflict(f"{found['Name']} is a pre-defined network and cannot be removed")
    with networks.locked(store.root):
        if networks.leases_of(store.root, found["Id"]):
            raise Conflict(
                f"error while removing network: network {found['Name']} id {found['Id']} "
                "has active endpoints"
            )
        delete_link(found["Options"][networks.BRIDGE_OPTION])
        networks.remove(store.root, found)
    return found


def prune(store: Store) -> list[str]:
    """Every user-defined network no running container uses; their names."""
    gone = []
    for found in networks.all_networks(store.root):
        if found["Name"] not in networks.PREDEFINED:
            with contextlib.suppress(LayerlabError):
                rm(store, found["Id"])
                gone.append(found["Name"])
    return gone


def connect(store: Store, ref: str, container: str, aliases: list[str]) -> None:
    """Join a network (a running container gets its endpoint at once)."""
    found = _network(store, ref)
    cid = store.resolve_container(container)
    if found["Name"] in ("host", "none"):
        raise Conflict(
            f"container cannot be disconnected from {found['Name']} network or connected to "
            f"{found['Name']} network"
        )

    def change(data: dict[str, Any]) -> None:
        mode = data["HostConfig"].get("NetworkMode") or ""
        if mode in ("host", "none") or mode.startswith("container:"):
            raise Conflict(
                "container sharing network namespace with another container or host cannot "
                "be connected to any other network"
            )
        joined = data["NetworkSettings"]["Networks"]
        if found["Name"] in joined:
            raise Conflict(
                f"endpoint with name {data['Name'].lstrip('/')} already exists in network "
                f"{found['Name']}"
            )
        if data["State"].get("Running"):
            sandbox.connect_running(store.root, data, store.container_dir(cid), found)
        joined[found["Name"]] = sandbox.endpoint_config(found, aliases)

    store.update_container(cid, change)


def disconnect(store: Store, ref: str, container: str) -> None:
    found = _network(store, ref)
    cid = store.resolve_container(container)

    def change(data: dict[str, Any]) -> None:
        joined = data["NetworkSettings"]["Networks"]
        if found["Name"] not in joined:
            raise LayerlabError(
                f"container {cid} is not connected to network {found['Name']}", exit_code=1
            )
        if data["State"].get("Running"):
            sandbox.disconnect_running(store.root, store.container_dir(cid), found["Name"])
        del joined[found["Name"]]
        if data["HostConfig"].get("NetworkMode") == found["Name"]:
            data["HostConfig"]["NetworkMode"] = next(iter(joined), "none")

    store.update_container(cid, change)


def _network(store: Store, ref: str) -> dict[str, Any]:
    return networks.find(store.root, ref)
