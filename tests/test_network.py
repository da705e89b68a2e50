"""Container networking on real namespaces: a bridge per network, a veth pair per container,
addresses from a pool, names on user-defined networks, and nothing left behind.

Every address tested is inside namespaces the test made (or the host's end of the store's
own bridge); nothing routes outside, no NAT or forwarding is set up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from layerlab.engine import CreateOptions, Engine
from layerlab.engine.recovery import shim_alive
from layerlab.network import networks, verbs
from tests.conftest import CLI, eventually

pytestmark = pytest.mark.system


def host_links(root: Path) -> set[str]:
    """The host's links named for this store (every link a store makes is): other stores,
    other test runs, may add and remove theirs meanwhile."""
    prefix = networks.link_prefix(root)
    with IPRoute() as ipr:
        names = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    return {name for name in names if name.startswith(prefix)}


def netns_mounts(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as info:
        return [line for line in info if str(root) in line and "/netns" in line]


def leases(root: Path) -> list[Path]:
    return [lease for d in networks.network_dirs(root) for lease in sorted(d.glob("leases/*"))]


@pytest.fixture
def before(engine: Engine) -> Iterator[set[str]]:
    """The store's links on the host before the test (none); after it, the store's user
    networks are removed and the host must have exactly these links again."""
    links = host_links(engine.store.root)
    yield links
    for container in engine.containers(all=True):
        engine.rm(container.id, force=True)
    for name in [n["Name"] for n in _networks(engine)]:
        if name not in ("bridge", "host", "none"):
            verbs.rm(engine.store, name)
    eventually(lambda: host_links(engine.store.root), links)


def _networks(engine: Engine) -> list[dict[str, Any]]:
    return verbs.ls(engine.store) if (engine.store.root / "networks").exists() else []


def ip_of(cli: CLI, name: str, network: str | None = None) -> str:
    fmt = "{{.NetworkSettings.IPAddress}}"
    if network is not None:
        fmt = (
            f'{{{{with index .NetworkSettings.Networks "{network}"}}}}{{{{.IPAddress}}}}{{{{end}}}}'
        )
    r = cli("inspect", "-f", fmt, name)
    assert r.code == 0, r.err
    return r.out.strip()


def test_two_containers_ping_each_other_and_the_gateway(cli: CLI, before: set[str]) -> None:
    for name in ("c1", "c2"):
        assert cli("run", "-d", "--name", name, "busybox", "sleep", "60").code == 0
    one, two = ip_of(cli, "c1"), ip_of(cli, "c2")
    assert one and two and one != two  # never handed out twice
    gateway = cli("inspect", "-f", "{{.NetworkSettings.Gateway}}", "c1").out.strip()
    assert cli("exec", "c1", "ping", "-c1", "-W2", two).code == 0
    assert cli("exec", "c2", "ping", "-c1", "-W2", one).code == 0
    assert cli("exec", "c1", "ping", "-c1", "-W2", gateway).code == 0
    # The default bridge resolves no names, as Docker's.
    assert cli("exec", "c1", "ping", "-c1", "-W2", "c2").code != 0


def test_inspect_shows_docker_network_settings(cli: CLI, root: Path, before: set[str]) -> None:
    assert cli("run", "-d", "--name", "c1", "busybox", "sleep", "60").code == 0
    settings = json.loads(cli("inspect", "c1").out)[0]["NetworkSettings"]
    endpoint = settings["Networks"]["bridge"]
    assert settings["IPAddress"] == endpoint["IPAddress"] != ""
    assert settings["MacAddress"] == endpoint["MacAddress"].lower()
    assert endpoint["MacAddress"].startswith("02:42:")
    assert settings["SandboxKey"] == str(root / "containers" / json.loads(
        cli("inspect", "c1").out)[0]["Id"] / "netns")  # fmt: skip
    for key in ("IPAMConfig", "Links", "Aliases", "NetworkID", "EndpointID", "Gateway",
                "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
                "DriverOpts"):  # fmt: skip
        assert key in endpoint
    inside = cli("exec", "c1", "ip", "-4", "addr", "show", "eth0").out
    assert f"{endpoint['IPAddress']}/{endpoint['IPPrefixLen']}" in inside
    # /etc/hosts is the container folder's, bind-mounted: in no layer, not in `diff`.
    assert endpoint["IPAddress"] in cli("exec", "c1", "cat", "/etc/hosts").out
    assert "/etc/hosts" not in cli("diff", "c1").out
    cli("stop", "-t", "0", "c1")
    stopped = json.loads(cli("inspect", "c1").out)[0]["NetworkSettings"]
    assert stopped["IPAddress"] == "" and stopped["Networks"]["bridge"]["NetworkID"]


def test_names_resolve_on_a_user_defined_network(cli: CLI, root: Path, before: set[str]) -> None:
    assert cli("network", "create", "talk").code == 0
    assert host_links(root) == set()  # its bridge is made by the first start on it
    for name in ("web", "client"):
        r = cli("run", "-d", "--name", name, "--network", "talk", "busybox", "sleep", "60")
        assert r.code == 0, r.err
    assert cli("exec", "client", "ping", "-c1", "-W2", "web").code == 0
    assert cli("exec", "web", "ping", "-c1", "-W2", "client").code == 0
    r = cli("network", "rm", "talk")
    assert r.code == 1 and "has active endpoints" in r.err
    members = cli("network", "inspect", "-f", "{{len .Containers}}", "talk").out.strip()
    assert members == "2"
    cli("rm", "-f", "client")  # the one that left is no longer a name there
    eventually(lambda: "client" in cli("exec", "web", "cat", "/etc/hosts").out, False)
    cli("rm", "-f", "web")  # the idle bridge goes, the network stays
    eventually(lambda: host_links(root), set())
    assert cli("network", "inspect", "-f", "{{.Name}}", "talk").out == "talk\n"


def test_network_verbs_speak_docker(cli: CLI, before: set[str]) -> None:
    listed = cli("network", "ls").out.splitlines()
    assert listed[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1:] for line in listed[1:]] == [
        ["bridge", "bridge", "local"], ["host", "host", "local"], ["none", "null", "local"],
    ]  # fmt: skip
    assert cli("network", "create", "n1").code == 0
    r = cli("network", "create", "n1")
    assert (r.code, r.err.strip()) == (1, "Error: network with name n1 already exists")
    r = cli("network", "rm", "bridge")
    assert "bridge is a pre-defined network and cannot be removed" in r.err
    r = cli("run", "--rm", "--network", "nope", "busybox", "true")
    assert (r.code, r.err.strip()) == (125, "Error: network nope not found")
    assert cli("network", "rm", "n1").out == "n1\n"
    r = cli("network", "inspect", "n1")
    assert (r.code, r.err.strip()) == (1, "Error: No such network: n1")


def test_network_none_has_only_lo(cli: CLI, before: set[str]) -> None:
    r = cli("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert (r.code, r.out.split()) == (0, ["lo"])


def test_network_host_sees_the_hosts_links(cli: CLI, before: set[str]) -> None:
    """Other tests add and remove their links meanwhile: the container sees every link the
    host had both before and after it looked; any other is one of theirs (`ll…`), come
    and gone in between."""
    ahead = set(os.listdir("/sys/class/net"))
    r = cli("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    after = set(os.listdir("/sys/class/net"))
    assert r.code == 0, r.err
    seen = set(r.out.split())
    assert ahead & after <= seen
    assert all(name.startswith("ll") for name in seen - ahead - after), seen


def test_rm_leaves_no_link_namespace_or_lease(cli: CLI, root: Path, before: set[str]) -> None:
    assert cli("run", "-d", "--name", "c1", "busybox", "sleep", "60").code == 0
    assert cli("run", "--name", "c2", "busybox", "true").code == 0
    assert host_links(root) != before and netns_mounts(root) and leases(root)
    assert cli("rm", "-f", "c1", "c2").code == 0
    assert cli("run", "--rm", "busybox", "true").code == 0
    eventually(lambda: host_links(root), before)
    assert netns_mounts(root) == [] and leases(root) == []


def test_a_killed_shim_then_check_repair_cleans_up(
    cli: CLI, root: Path, engine: Engine, before: set[str]
) -> None:
    assert cli("run", "-d", "--name", "c1", "busybox", "sleep", "60").code == 0
    cid = engine.container("c1").id
    os.kill(int((root / "containers" / cid / "shim.pid").read_text()), signal.SIGKILL)
    eventually(lambda: shim_alive(engine.store, cid), False)
    assert cli("system", "check", "--repair").code == 0
    eventually(lambda: host_links(root), before)
    assert netns_mounts(root) == [] and leases(root) == []


def test_check_repair_removes_what_a_killed_start_left(
    cli: CLI, root: Path, engine: Engine, before: set[str]
) -> None:
    """A `start` killed after it built the network, before its shim ran: the namespace,
    the veth, the lease stay with a container that is not running. So do a link named
    for the store that nothing explains and a lease whose container is gone."""
    from layerlab import network

    c = engine.create("busybox", CreateOptions(command=["true"]))
    spec: dict[str, Any] = {"linux": {"namespaces": [{"type": "network"}]}}
    network.join(root, c.data, root / "containers" / c.id, spec)  # what the killed start did
    bridge = networks.find(root, "bridge")
    stale = networks.lease(root, bridge, {"Container": "0" * 64})
    stray = networks.link_prefix(root) + "vstray0"
    with IPRoute() as ipr:
        ipr.link("add", ifname=stray, kind="veth", peer=stray[:-1] + "1")
    assert netns_mounts(root) and len(leases(root)) == 2
    r = cli("system", "check")
    assert r.code != 0
    for what in (str(root / "containers" / c.id / "netns"), str(stale), stray):
        assert what in r.out + r.err
    assert cli("system", "check", "--repair").code == 0
    eventually(lambda: host_links(root), before)
    assert netns_mounts(root) == [] and leases(root) == []
    assert cli("system", "check").code == 0


def test_a_store_deleted_at_once_leaves_no_bridge(cli: CLI, root: Path) -> None:
    """A lesson's or a test's store goes right after its last container: the default
    bridge, removed a moment after its last lease, goes all the same."""
    assert cli("run", "--rm", "busybox", "true").code == 0
    shutil.rmtree(root)
    eventually(lambda: host_links(root), set())


def test_ps_filters_and_formats_networks(cli: CLI, before: set[str]) -> None:
    assert cli("network", "create", "side").code == 0
    assert cli("create", "--name", "on-side", "--network", "side", "busybox").code == 0
    assert cli("create", "--name", "on-bridge", "busybox").code == 0
    assert cli("create", "--name", "on-none", "--network", "none", "busybox").code == 0
    r = cli("ps", "-a", "--filter", "network=side", "--format", "{{.Names}} {{.Networks}}")
    assert r.out == "on-side side\n"
    side_id = cli("network", "inspect", "-f", "{{.Id}}", "side").out.strip()
    assert cli("ps", "-aq", "--filter", f"network={side_id[:12]}").out.count("\n") == 1
    r = cli("ps", "-a", "--filter", "network=bridge", "--format", "{{.Networks}}")
    assert r.out == "bridge\n"
    fmt = "{{.HostConfig.NetworkMode}}"
    assert cli("inspect", "-f", fmt, "on-none", "on-side").out == "none\nside\n"


def test_concurrent_runs_never_share_an_address(cli: CLI, root: Path, before: set[str]) -> None:
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    argv = [sys.executable, "-m", "layerlab", "run", "-d", "busybox", "sleep", "60"]
    runs = [
        subprocess.Popen(
            [*argv[:4], "--name", f"c{i}", *argv[4:]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(6)
    ]
    for run in runs:
        assert run.wait(60) == 0, run.stderr.read() if run.stderr else ""
    addresses = [ip_of(cli, f"c{i}") for i in range(6)]
    assert len(set(addresses)) == 6 and all(addresses)
    assert len(leases(root)) == 6
    assert cli("exec", "c0", "ping", "-c1", "-W2", addresses[5]).code == 0


def test_network_container_shares_the_namespace_of_another(cli: CLI, before: set[str]) -> None:
    assert cli("run", "-d", "--name", "first", "busybox", "sleep", "60").code == 0
    r = cli("run", "--rm", "--network", "container:first", "busybox", "ip", "-4", "addr")
    assert r.code == 0, r.err
    assert ip_of(cli, "first") in r.out
    assert cli("create", "--name", "idle", "busybox").code == 0
    r = cli("run", "--rm", "--network", "container:idle", "busybox", "true")
    assert r.code != 0 and "cannot join network of a non running container" in r.err
    r = cli("run", "--rm", "--network", "container:nobody", "busybox", "true")
    assert (r.code, r.err.strip()) == (125, "Error: No such container: nobody")


def test_connect_and_disconnect_a_running_container(cli: CLI, before: set[str]) -> None:
    assert cli("network", "create", "backend").code == 0
    assert (
        cli("run", "-d", "--name", "db", "--network", "backend", "busybox", "sleep", "60").code == 0
    )
    assert cli("run", "-d", "--name", "app", "busybox", "sleep", "60").code == 0
    assert cli("exec", "app", "ping", "-c1", "-W2", "db").code != 0
    assert cli("network", "connect", "backend", "app").code == 0
    assert (
        ip_of(cli, "app", "backend") in cli("exec", "app", "ip", "-4", "addr", "show", "eth1").out
    )
    assert cli("exec", "app", "ping", "-c1", "-W2", "db").code == 0
    assert cli("exec", "db", "ping", "-c1", "-W2", "app").code == 0
    r = cli("network", "connect", "backend", "app")
    assert "endpoint with name app already exists in network backend" in r.err
    assert cli("network", "disconnect", "backend", "app").code == 0
    assert cli("exec", "app", "ls", "/sys/class/net").out.split() == ["eth0", "lo"]
    eventually(lambda: "app" in cli("exec", "db", "cat", "/etc/hosts").out, False)
    r = cli("network", "connect", "host", "app")
    assert r.code != 0 and "connected to host network" in r.err


def test_a_start_after_a_killed_start_reuses_nothing_stale(
    cli: CLI, root: Path, engine: Engine, before: set[str]
) -> None:
    """The network a killed start left (see above) is released by the next start."""
    from layerlab import network

    c = engine.create("busybox", CreateOptions(command=["sleep", "60"]))
    spec: dict[str, Any] = {"linux": {"namespaces": [{"type": "network"}]}}
    network.join(root, c.data, root / "containers" / c.id, spec)  # what the killed start did
    assert cli("start", c.id).code == 0
    assert len(leases(root)) == 1 and len(netns_mounts(root)) == 1
    assert cli("exec", c.id, "ping", "-c1", "-W2", ip_of(cli, c.id)).code == 0


def test_daemon_json_chooses_the_subnets(cli: CLI, root: Path, before: set[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    pools = [{"base": "10.214.0.0/16", "size": 24}]
    (root / "daemon.json").write_text(
        json.dumps({"bip": "10.213.250.1/24", "default-address-pools": pools})
    )
    assert cli("run", "-d", "--name", "c1", "busybox", "sleep", "60").code == 0
    assert ip_of(cli, "c1") == "10.213.250.2"
    assert cli("network", "create", "pooled").code == 0
    subnet = cli("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "pooled")
    assert subnet.out.startswith("10.214.") and subnet.out.strip().endswith("/24")


def test_network_inspect_has_dockers_shape(cli: CLI, before: set[str]) -> None:
    assert cli("network", "create", "--label", "team=a", "shaped").code == 0
    assert (
        cli("run", "-d", "--name", "c1", "--network", "shaped", "busybox", "sleep", "60").code == 0
    )
    found = json.loads(cli("network", "inspect", "shaped").out)[0]
    assert list(found) == [
        "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal",
        "Attachable", "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]  # fmt: skip
    assert found["IPAM"]["Driver"] == "default" and found["Labels"] == {"team": "a"}
    (member,) = found["Containers"].values()
    assert member["Name"] == "c1" and member["IPv4Address"].endswith("/24")
    assert set(member) == {"Name", "EndpointID", "MacAddress", "IPv4Address", "IPv6Address"}
    assert cli("network", "prune", "-f").out == ""  # in use: kept
    cli("rm", "-f", "c1")
    assert cli("network", "prune", "-f").out == "Deleted Networks:\nshaped\n\n"
