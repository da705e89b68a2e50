"""`-p`, `-P`, `--expose` and `port` on the real CLI: Docker's shapes, words and codes."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import CLI

pytestmark = pytest.mark.system


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


def test_a_taken_port_fails_the_start_in_dockers_words(cli: CLI) -> None:
    with socket.create_server(("0.0.0.0", 0)) as taken:
        port = taken.getsockname()[1]
        got = cli("run", "-d", "--name", "pt", "-p", f"{port}:80", "busybox", "sleep", "60")
        cid = cli("inspect", "-f", "{{.Id}}", "pt").out.strip()
        assert (got.code, got.err) == (
            125,
            f"Error: driver failed programming external connectivity on endpoint pt ({cid}): "
            f"Bind for 0.0.0.0:{port} failed: port is already allocated\n",
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
