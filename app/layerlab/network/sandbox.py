"""A container's place on its networks (Docker's "sandbox"): chosen at `create`, built at
`start`, released when its process ends, shown by `inspect`.

The record keeps what was asked (`HostConfig.NetworkMode`, the networks joined in
`NetworkSettings.Networks`); `containers/<id>/endpoints.json` what a run holds (its
namespace file, each endpoint's address, MAC, lease and host link). That file exists
from the first lease to the release, so a release after any crash knows what to undo.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import threading
from pathlib import Path
from typing import Any

import layerlab.network.hosts as hosts
import layerlab.network.idle as idle
import layerlab.network.netns as netns
import layerlab.network.networks as networks
from layerlab.errors import Conflict, LayerlabError, NotFound
from layerlab.network.unlink import delete_link
from layerlab.storage.store import read_json, write_json_atomic

ENDPOINTS = "endpoints.json"
LOCK, READY, FAILED = "network.lock", "network.ready", "network.error"
_configuring: dict[str, threading.Thread] = {}  # container folder -> its links being made
DEFAULT = "bridge"


# --- create: what was asked -----------------------------------------------------------
def configure(root: Path, data: dict[str, Any], mode: str, container_id_of: Any) -> None:
    """`--network MODE` into a new record: `bridge` (the default), `none`, `host`,
    `container:NAME` (`container_id_of` resolves NAME) or a user-defined network."""
    mode = mode or DEFAULT
    if mode.startswith("container:"):
        target = container_id_of(mode.partition(":")[2])
        data["HostConfig"]["NetworkMode"] = f"container:{target}"
        data["NetworkSettings"] = {"Networks": {}}
        return
    network = networks.find(root, mode)
    data["HostConfig"]["NetworkMode"] = mode if mode in networks.PREDEFINED else network["Name"]
    data["NetworkSettings"] = {"Networks": {network["Name"]: endpoint_config(network)}}


def endpoint_config(network: dict[str, Any], aliases: list[str] | None = None) -> dict[str, Any]:
    """What the record keeps of a joined network (the rest is filled while it runs)."""
    return {"IPAMConfig": None, "Links": None, "Aliases": aliases or None,
            "NetworkID": network["Id"]}  # fmt: skip


def bridged(data: dict[str, Any]) -> bool:
    mode = data.get("HostConfig", {}).get("NetworkMode") or "none"
    return mode not in ("none", "host", "default") and not mode.startswith("container:")


# --- start: the namespace and its links ---------------------------------------------------
def join(root: Path, data: dict[str, Any], container_dir: Path, spec: dict[str, Any]) -> None:
    """Build the container's network for this run and name its namespace in `spec`."""
    mode = data.get("HostConfig", {}).get("NetworkMode") or "none"
    if mode == "host":
        spec["linux"]["namespaces"] = [
            ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"
        ]
        hosts.host_files(container_dir)
        return
    if mode.startswith("container:"):
        _set_namespace(spec, _joined_namespace(root, mode.partition(":")[2]))
        return
    if not bridged(data):
        return  # `none`: runc makes a namespace with only `lo`
    with networks.locked(root):
        if (container_dir / ENDPOINTS).exists():  # what a killed start left: not running now
            _release(root, container_dir)
        try:
            _build(root, data, container_dir)
        except BaseException:
            _release(root, container_dir)
            raise
    _set_namespace(spec, str(container_dir / netns.NETNS_FILE))


def _set_namespace(spec: dict[str, Any], path: str) -> None:
    for ns in spec["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = path


def _joined_namespace(root: Path, target: str) -> str:
    """`--network container:X`: X's namespace, while X runs (Docker's words otherwise)."""
    try:
        other = read_json(root / "containers" / target / "config.json")
    except FileNotFoundError:
        raise NotFound(f"No such container: {target}") from None
    pid = other["State"].get("Pid")
    if not other["State"].get("Running") or not pid:
        raise Conflict(f"cannot join network of a non running container: {target}")
    bound = root / "containers" / target / netns.NETNS_FILE
    return str(bound) if netns.is_bound(bound) else f"/proc/{pid}/ns/net"


def _build(root: Path, data: dict[str, Any], cdir: Path) -> None:
    record: dict[str, Any] = {"Root": str(root), "SandboxKey": str(cdir / netns.NETNS_FILE),
                              "Networks": {}}  # fmt: skip
    holder = _holder(data, cdir)
    plugs = []
    for i, name in enumerate(data["NetworkSettings"]["Networks"]):
        network = networks.by_id(root, data["NetworkSettings"]["Networks"][name]["NetworkID"])
        pair, record["Networks"][name] = _endpoint(root, network, holder, 2 + i)
        plugs.append(pair)
        write_json_atomic(cdir / ENDPOINTS, record, durable=False)  # before any link is made
    rtnl = netns.create(cdir / netns.NETNS_FILE)
    # The links are made while the start goes on (the union, the shim's start-up); the
    # shim waits for them before runc runs (`wait_ready`). The lock says "being made".
    lock = os.open(cdir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    worker = threading.Thread(
        target=_configure, args=(root, cdir, record, holder["Hostname"], plugs, rtnl, lock),
        name="network", daemon=True,
    )  # fmt: skip
    _configuring[str(cdir)] = worker
    worker.start()


def _holder(data: dict[str, Any], cdir: Path) -> dict[str, Any]:
    """What a lease says of its container (its names for /etc/hosts, its folder)."""
    return {"Container": data["Id"], "Name": data["Name"].lstrip("/"),
            "Hostname": data["Config"]["Hostname"], "Folder": str(cdir)}  # fmt: skip


def _endpoint(
    root: Path, network: dict[str, Any], holder: dict[str, Any], index: int
) -> tuple[tuple[Any, Any], dict[str, Any]]:
    """Lease an address of `network`: the (bridge, plug) to make, and the endpoint's facts.
    Its link is `eth{index - 2}` inside; the first one's gateway is the default route."""
    import layerlab.network.bridge as bridge  # pyroute2: loaded by what starts a bridged container

    subnet, gateway = networks.subnet_of(network)
    bridge_link = network["Options"][networks.BRIDGE_OPTION]
    lease = networks.lease(root, network, holder)
    address = ipaddress.IPv4Address(lease.name)
    plug = bridge.Plug(  # a new host name each run: the last run's veth may be ending
        host_link=f"{networks.link_prefix(root)}v{os.urandom(4).hex()[:7]}",
        inner=f"eth{index - 2}", index=index, address=address, prefixlen=subnet.prefixlen,
        gateway=gateway if index == 2 else None, mac=bridge.mac_for(address),
    )  # fmt: skip
    facts = {
        "NetworkID": network["Id"], "EndpointID": os.urandom(32).hex(),
        "Gateway": str(gateway), "IPAddress": str(address), "IPPrefixLen": subnet.prefixlen,
        "MacAddress": plug.mac, "HostLink": plug.host_link, "Bridge": bridge_link,
        "Lease": str(lease), "Default": network["Name"] == DEFAULT, "Index": index,
    }  # fmt: skip
    return (bridge.Bridge(bridge_link, gateway, subnet.prefixlen), plug), facts


def connect_running(root: Path, data: dict[str, Any], cdir: Path, network: dict[str, Any]) -> None:
    """`network connect` of a running container: a new endpoint in its namespace now."""
    import layerlab.network.bridge as bridge

    with networks.locked(root):
        record = read_json(cdir / ENDPOINTS)
        index = max((e.get("Index", 2) for e in record["Networks"].values()), default=1) + 1
        existing = _ours(record)
        pair, facts = _endpoint(root, network, _holder(data, cdir), index)
        record["Networks"][network["Name"]] = facts
        write_json_atomic(cdir / ENDPOINTS, record, durable=False)
        try:
            rtnl = netns.socket_in(cdir / netns.NETNS_FILE)
            bridge.plug(str(cdir / netns.NETNS_FILE), rtnl, [pair], existing)
        except BaseException:
            del record["Networks"][network["Name"]]
            write_json_atomic(cdir / ENDPOINTS, record, durable=False)
            drop_lease(root, Path(facts["Lease"]), at_once=True)
            raise
        _refresh_hosts(root, _user_networks(record))


def disconnect_running(root: Path, cdir: Path, name: str) -> None:
    """`network disconnect` of a running container: that endpoint's link goes now."""
    import layerlab.network.bridge as bridge

    with networks.locked(root):
        record = read_json(cdir / ENDPOINTS)
        endpoint = record["Networks"].pop(name, None)
        if endpoint is None:  # joined while stopped, not started since
            return
        bridge.unplug(netns.socket_in(cdir / netns.NETNS_FILE), endpoint["Index"],
                      _ours(record) | {endpoint["Index"]: endpoint["MacAddress"]})  # fmt: skip
        drop_lease(root, Path(endpoint["Lease"]))
        write_json_atomic(cdir / ENDPOINTS, record, durable=False)
        _refresh_hosts(root, [endpoint["NetworkID"], *_user_networks(record)])


def _ours(record: dict[str, Any]) -> dict[int, str]:
    """The links a running container's namespace must have: index -> MAC (a guard's)."""
    return {e.get("Index", 2): e["MacAddress"] for e in record["Networks"].values()}


def _configure(
    root: Path, cdir: Path, record: dict[str, Any], hostname: str,
    plugs: list[tuple[Any, Any]], rtnl: int, lock: int,
) -> None:  # fmt: skip
    """The links and /etc/hosts; then `network.ready`, or the error in `network.error`."""
    import layerlab.network.bridge as bridge

    try:
        bridge.plug(str(cdir / netns.NETNS_FILE), rtnl, plugs)
        with networks.locked(root):
            _refresh_hosts(root, _user_networks(record))
            _write_own_hosts(root, cdir, record, hostname)
        (cdir / READY).touch()
    except BaseException as exc:
        (cdir / FAILED).write_text(f"network setup failed: {exc}")
    finally:
        os.close(lock)


def wait_ready(container_dir: Path) -> None:
    """In the shim, before runc: wait until the start that launched us made the container's
    links; its error (or a start killed meanwhile) fails this start, in one line."""
    try:
        lock = os.open(container_dir / LOCK, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # no bridged network
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
    finally:
        os.close(lock)
    if (container_dir / READY).exists():
        return
    try:
        reason = (container_dir / FAILED).read_text()
    except FileNotFoundError:
        reason = "network setup did not finish (the start was killed)"
    raise LayerlabError(reason)


# --- the end of a run --------------------------------------------------------------------
def release(container_dir: Path) -> None:
    """Undo what `join` built for a run: the namespace file (its veths end with it), the
    leases, an idle bridge a second later. Idempotent, cheap (no pyroute2) and safe after
    any crash; called wherever a run's leftovers are released (Runtime.release)."""
    worker = _configuring.pop(str(container_dir), None)
    if worker is not None:  # a start of ours that failed: its links first
        worker.join()
    try:
        record = read_json(container_dir / ENDPOINTS)
    except (FileNotFoundError, ValueError):
        netns.remove(container_dir / netns.NETNS_FILE)
        return
    root = Path(record["Root"])
    with networks.locked(root):
        _release(root, container_dir)


def _release(root: Path, cdir: Path) -> None:
    try:
        record = read_json(cdir / ENDPOINTS)
    except (FileNotFoundError, ValueError):
        record = {"Networks": {}}
    # The namespace ends with its file (its processes are gone), and the kernel then deletes
    # its veth pairs: deleting them here would cost the run ~25 ms each.
    netns.remove(cdir / netns.NETNS_FILE)
    for endpoint in record["Networks"].values():
        drop_lease(root, Path(endpoint["Lease"]))
    for name in (ENDPOINTS, LOCK, READY, FAILED):
        (cdir / name).unlink(missing_ok=True)
    _refresh_hosts(root, _user_networks(record))


def drop_lease(root: Path, lease: Path, at_once: bool = False) -> None:
    """Give an address back. A network's bridge goes when idle (the next start makes it
    again), so a store leaves no link on the host while nothing runs, also if it is deleted
    with its networks: `IDLE_SECONDS` later, off the path of the run that ended (deleting a
    bridge costs ~25 ms), unless `at_once`."""
    lease.unlink(missing_ok=True)
    network = networks.by_id(root, lease.parent.parent.name)
    if not networks.leases_of(root, network["Id"]):
        name = network["Options"][networks.BRIDGE_OPTION]
        if at_once:
            delete_link(name)
        else:
            idle.remove_later(networks.networks_dir(root), network["Id"], name)


# --- names: /etc/hosts on user-defined networks -----------------------------------------
def _user_networks(record: dict[str, Any]) -> list[str]:
    return [e["NetworkID"] for e in record["Networks"].values() if not e.get("Default")]


def _endpoints_of(folder: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = read_json(Path(folder) / ENDPOINTS)
        return found
    except (FileNotFoundError, ValueError):
        return {"Networks": {}}


def _write_own_hosts(root: Path, cdir: Path, record: dict[str, Any], hostname: str) -> None:
    own = [(e["IPAddress"], hostname) for e in record["Networks"].values()]
    others = []
    for network_id in _user_networks(record):
        for address, holder in networks.leases_of(root, network_id):
            if holder.get("Folder") != str(cdir):
                others.append((address, holder["Name"]))
    with contextlib.suppress(FileNotFoundError):
        hosts.write_hosts(cdir / "hosts", own, others)


def _refresh_hosts(root: Path, network_ids: list[str]) -> None:
    """Every running member of these networks gets its /etc/hosts written again."""
    members = {
        holder["Folder"]: holder["Hostname"]
        for network_id in network_ids
        if networks.network_dir(root, network_id).is_dir()
        for _, holder in networks.leases_of(root, network_id)
    }
    for folder, hostname in sorted(members.items()):
        record = _endpoints_of(folder)
        if record["Networks"]:
            with contextlib.suppress(FileNotFoundError, LayerlabError):
                _write_own_hosts(root, Path(folder), record, hostname)


# --- inspect ----------------------------------------------------------------------------
ENDPOINT_FIELDS: dict[str, Any] = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "", "EndpointID": "",
    "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None,
}  # fmt: skip


def settings(data: dict[str, Any], container_dir: Path) -> dict[str, Any]:
    """`NetworkSettings` as Docker 20.10's inspect shows it: the networks joined, with the
    addresses of the current run (blank when not running); the top-level address fields
    are the default bridge's endpoint's, as Docker's."""
    asked = data.get("NetworkSettings", {}).get("Networks") or {}
    running = bool(data["State"].get("Running"))
    live = _endpoints_of(str(container_dir)) if running else {}
    nets: dict[str, Any] = {}
    for name, config in asked.items():
        endpoint = dict(ENDPOINT_FIELDS, **config)
        held = live.get("Networks", {}).get(name)
        if held:
            endpoint.update({k: held[k] for k in ENDPOINT_FIELDS if k in held})
        nets[name] = endpoint
    main = nets.get(DEFAULT, {})
    return {
        "Bridge": "", "SandboxID": live.get("SandboxID", ""), "HairpinMode": False,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        # while it runs only: a killed shim never cleared them
        "Ports": (data.get("NetworkSettings", {}).get("Ports") or {}) if running else {},
        "SandboxKey": live.get("SandboxKey", ""),
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        **{k: main.get(k, ENDPOINT_FIELDS[k]) for k in (
            "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress",
            "IPPrefixLen", "IPv6Gateway", "MacAddress",
        )},
        "Networks": nets,
    }  # fmt: skip


def members(root: Path, network_id: str) -> dict[str, dict[str, Any]]:
    """`network inspect`'s `Containers`: the running endpoints of a network, by container."""
    found = {}
    for address, holder in networks.leases_of(root, network_id):
        record = _endpoints_of(holder.get("Folder", ""))
        endpoint = next(
            (e for e in record["Networks"].values() if e["NetworkID"] == network_id), None
        )
        if endpoint is None:
            continue
        found[holder["Container"]] = {
            "Name": holder["Name"], "EndpointID": endpoint["EndpointID"],
            "MacAddress": endpoint["MacAddress"],
            "IPv4Address": f"{address}/{endpoint['IPPrefixLen']}", "IPv6Address": "",
        }  # fmt: skip
    return found
