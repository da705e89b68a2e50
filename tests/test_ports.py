"""`-p`, `-P`, `--expose` and `port` on the real CLI: Docker's shapes, words and codes."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import psutil
import pytest

from layerlab.engine import Engine
from layerlab.network.proxy import NAME as PROXY
from tests.conftest import CLI, eventually

pytestmark = pytest.mark.system


LOOPBACK = "127.0.0.1"
HTTPD = ["busybox", "httpd", "-f", "-p", "80"]  # answers any request (404 for /)


def _answer(port: int) -> bytes:
    """What the container answers a request sent to the host's `port` on loopback."""
    with socket.create_connection((LOOPBACK, port), timeout=30) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return conn.recv(64)


def _host_port(cli: CLI, name: str, private: str) -> int:
    got = cli("port", name, private)
    assert got.code == 0, got.err
    return int(got.out.splitlines()[0].rpartition(":")[2])


def _proxies_of(shim: int) -> list[int]:
    return [p.pid for p in psutil.Process(shim).children() if p.name() == PROXY]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _port_free(port: int) -> bool:
    try:
        socket.create_server((LOOPBACK, port)).close()
    except OSError:
        return False
    return True


def _inspect(cli: CLI, name: str, template: str) -> object:
    got = cli("inspect", "-f", f"{{{{json {template}}}}}", name)
    assert got.code == 0, got.err
    return json.loads(got.out)


def test_publish_and_expose_are_recorded_in_dockers_shape(cli: CLI) -> None:
    made = cli(
        "create", "--name", "pp", "-p", "8080:80", "-p", "127.0.0.1::53/udp",
        "-p", "9000-9001:90-91", "-p", "7000-7010:70", "--expose", "5000-5001", "-P",
        "busybox", "true",
    )  # fmt: skip
    assert made.code == 0, made.err
    # docker inspect -f '{{json .HostConfig.PortBindings}}' on Docker 20.10
    assert _inspect(cli, "pp", ".HostConfig.PortBindings") == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "90/tcp": [{"HostIp": "", "HostPort": "9000"}],
        "91/tcp": [{"HostIp": "", "HostPort": "9001"}],
        "70/tcp": [{"HostIp": "", "HostPort": "7000-7010"}],
    }
    assert _inspect(cli, "pp", ".HostConfig.PublishAllPorts") is True
    exposed = _inspect(cli, "pp", ".Config.ExposedPorts")
    assert isinstance(exposed, dict)
    assert set(exposed) == {"80/tcp", "53/udp", "90/tcp", "91/tcp", "70/tcp", "5000/tcp",
                            "5001/tcp"}  # fmt: skip
    # not running: nothing published, as `docker port` and `docker ps` show it
    assert cli("port", "pp").out == ""
    assert cli("ps", "-a", "--format", "{{.Names}}[{{.Ports}}]").out == "pp[]\n"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", "Invalid containerPort: abc"),
        ("8080:", "No port specified: 8080:<empty>"),
        ("x:80", "Invalid hostPort: x"),
        ("1.2.3:80:80", "Invalid ip address: 1.2.3"),
        ("80/sctp", "Invalid proto: sctp"),
        (
            "8000-8001:80-82",
            "Invalid ranges specified for container and host Ports: 80-82 and 8000-8001",
        ),
        ("70000", "Invalid containerPort: 70000"),
    ],
)
def test_a_bad_publish_is_one_line_and_creates_nothing(cli: CLI, spec: str, message: str) -> None:
    got = cli("create", "-p", spec, "busybox", "true")
    assert (got.code, got.err) == (125, f"Error: {message}\n")
    assert cli("ps", "-aq").out == ""


def test_a_joined_namespace_publishes_nothing(cli: CLI) -> None:
    """`--network container:X` uses X's namespace: its ports are X's to publish."""
    assert cli("run", "-d", "--name", "owner", "busybox", "sleep", "60").code == 0
    for flags, what in ((["-p", "80"], "publishing"), (["-P"], "publishing"),
                        (["--expose", "80"], "exposing")):  # fmt: skip
        got = cli("create", "--network", "container:owner", *flags, "busybox", "true")
        assert (got.code, got.err) == (
            125,
            f"Error: conflicting options: port {what} and the container type network mode\n",
        )
    assert cli("ps", "-aq").out.count("\n") == 1  # nothing created


def test_a_taken_port_fails_the_start_in_dockers_words(cli: CLI) -> None:
    with socket.create_server((LOOPBACK, 0)) as taken:
        port = taken.getsockname()[1]
        spec = f"{LOOPBACK}:{port}:80"
        got = cli("run", "-d", "--name", "pt", "-p", spec, "busybox", "sleep", "60")
        endpoint = cli("inspect", "-f", "{{.NetworkSettings.EndpointID}}", "pt").out.strip()
        assert endpoint == ""  # not running: the endpoint named in the error is gone
        assert (got.code, got.err.split(" (")[0], got.err.split("): ")[1]) == (
            125,
            "Error: driver failed programming external connectivity on endpoint pt",
            f"Bind for {LOOPBACK}:{port} failed: port is already allocated\n",
        )
        # Docker leaves the container created; `start` says the same, exit 1
        assert cli("ps", "-a", "--format", "{{.Names}} {{.State}}").out == "pt created\n"
        again = cli("start", "pt")
        assert again.code == 1
        assert again.err.splitlines()[-1] == "Error: failed to start containers: pt"
    assert cli("start", "pt").code == 0  # the port is free now


def test_port_of_a_port_not_published_is_dockers_error(cli: CLI) -> None:
    assert cli("run", "-d", "--name", "pn", "busybox", "sleep", "60").code == 0
    assert cli("port", "pn").out == ""
    got = cli("port", "pn", "80/udp")
    assert (got.code, got.err) == (1, "Error: No public port '80/udp' published for pn\n")
    got = cli("container", "port", "pn", "x")
    assert (got.code, got.err) == (1, 'Error: strconv.ParseUint: parsing "x": invalid syntax\n')


def test_a_published_port_answers_on_loopback_until_rm(cli: CLI, engine: Engine) -> None:
    got = cli("run", "-d", "--name", "web", "-p", f"{LOOPBACK}::80", *HTTPD)
    assert got.code == 0, got.err
    port = _host_port(cli, "web", "80")
    assert _answer(port).startswith(b"HTTP/1.")  # busybox httpd, inside the container
    assert cli("port", "web").out == f"80/tcp -> {LOOPBACK}:{port}\n"
    ps = cli("ps", "--format", "{{.Names}} {{.Ports}}").out
    assert ps == f"web {LOOPBACK}:{port}->80/tcp\n"
    ports = _inspect(cli, "web", ".NetworkSettings.Ports")
    assert ports == {"80/tcp": [{"HostIp": LOOPBACK, "HostPort": str(port)}]}
    # ps -f publish= names a host port, -f expose= a container port (moby's list.go)
    for flt, shown in ((f"publish={port}", "web\n"), ("publish=80", ""), ("expose=80", "web\n"),
                       ("expose=79-81/tcp", "web\n"), ("expose=80/udp", "")):  # fmt: skip
        assert cli("ps", "-f", flt, "--format", "{{.Names}}").out == shown, flt
    assert cli("rm", "-f", "web").code == 0
    assert _port_free(port)  # its proxy ended with it


def test_ports_stay_published_across_restarts_after_an_attached_run(
    cli: CLI, root: Path, engine: Engine
) -> None:
    """An attached run ends with the first exit and a new shim supervises the restarts:
    a proxy dies with the process that forked it, so the new shim forwards the ports with
    proxies of its own."""
    serve_second_time = "[ -e /served ] && exec httpd -f -p 80; touch /served; exit 3"
    got = cli("run", "--name", "again", "-p", f"{LOOPBACK}::80", "--restart", "on-failure",
              "busybox", "sh", "-c", serve_second_time)  # fmt: skip
    assert got.code == 3, got.err
    eventually(lambda: _inspect(cli, "again", ".RestartCount"), 1, timeout=60)
    port = _host_port(cli, "again", "80")
    eventually(lambda: _answers(port), True, timeout=60)
    shim = int((root / "containers" / engine.container("again").id / "shim.pid").read_text())
    assert len(_proxies_of(shim)) == 1
    assert cli("rm", "-f", "again").code == 0
    eventually(lambda: _port_free(port), True, timeout=60)


def _answers(port: int) -> bool:
    try:
        return _answer(port).startswith(b"HTTP/1.")
    except OSError:  # the container's server is not listening yet
        return False


def test_publish_all_publishes_every_exposed_port(cli: CLI) -> None:
    got = cli("run", "-d", "--name", "all", "-P", "--expose", "80", "--expose", "81", *HTTPD)
    assert got.code == 0, got.err
    assert _answer(_host_port(cli, "all", "80/tcp")).startswith(b"HTTP/1.")
    listed = cli("port", "all").out.splitlines()
    assert [line.split(" -> ")[0] for line in listed] == ["80/tcp", "81/tcp"]
    assert all(line.split(" -> ")[1].startswith("0.0.0.0:") for line in listed)


def test_a_killed_shim_takes_its_proxies_along(cli: CLI, root: Path, engine: Engine) -> None:
    """The proxies die with their shim (the kernel's parent-death signal): nothing is left
    holding the host's port, even with no one to end them."""
    assert cli("run", "-d", "--name", "killed", "-p", f"{LOOPBACK}::80", *HTTPD).code == 0
    port = _host_port(cli, "killed", "80")
    cid = engine.container("killed").id
    shim = int((root / "containers" / cid / "shim.pid").read_text())
    proxies = _proxies_of(shim)
    assert len(proxies) == 1
    os.kill(shim, signal.SIGKILL)
    eventually(lambda: [pid for pid in proxies if _alive(pid)], [], timeout=60)
    eventually(lambda: _port_free(port), True, timeout=60)
    assert cli("port", "killed").out == ""  # a lost shim: nothing published
    assert _inspect(cli, "killed", ".NetworkSettings.Ports") == {}
