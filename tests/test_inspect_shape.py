"""`inspect` has Docker 20.10's whole structure: every key, with its type, for a container,
an image and a volume. The reference is the key tree Docker 20.10.24 printed for the same
objects (tests/fixtures/docker-20.10-inspect-*.json, from `docker create -v /host:/b
-v vol1:/v busybox sleep 100`, `docker image inspect busybox`, `docker volume create`);
with a Docker daemon answering at DOCKER_HOST, the same objects are compared live too."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from . import docker_side
from .conftest import CLI
from .inspect_keys import differences, key_tree

pytestmark = pytest.mark.system

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(kind: str) -> dict[str, str]:
    return json.loads((FIXTURES / f"docker-20.10-inspect-{kind}.json").read_text())


def _make_objects(run: CLI | docker_side.Daemon, bind: Path, tag: str) -> dict[str, object]:
    """The container, image and volume the fixtures were recorded from, made by `run`."""
    volume = f"shape-vol-{tag}"
    made = run("create", "--name", f"shape-{tag}", "-v", f"{bind}:/b", "-v", f"{volume}:/v",
               "busybox", "sleep", "100")  # fmt: skip
    assert made.code == 0, made.err
    assert run("volume", "create", f"shape-made-{tag}").code == 0
    found = {}
    for kind, words in (
        ("container", ("inspect", f"shape-{tag}")),
        ("image", ("image", "inspect", "busybox")),
        ("volume", ("volume", "inspect", f"shape-made-{tag}")),
    ):
        shown = run(*words)
        assert shown.code == 0, shown.err
        found[kind] = json.loads(shown.out)[0]
    return found


@pytest.mark.parametrize("kind", ["container", "image", "volume"])
def test_inspect_has_docker_20_10s_keys_and_types(cli: CLI, tmp_path: Path, kind: str) -> None:
    found = _make_objects(cli, tmp_path, "x")
    assert differences(key_tree(found[kind]), _fixture(kind)) == []


def test_a_template_reads_what_json_leaves_out(cli: CLI, tmp_path: Path) -> None:
    """Go's `omitempty` fields are absent from the JSON but a template reads their zero
    value; Docker 20.10 prints these lines for the fixture's objects."""
    _make_objects(cli, tmp_path, "t")
    fmt = (
        "{{range .Mounts}}[{{.Name}}|{{.Driver}}]{{end}} {{.Config.Shell}} "
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} "
        "{{.HostConfig.Links}} {{.ExecIDs}} {{.AppArmorProfile}}|{{.MountLabel}}|"
        "{{.ProcessLabel}}|{{.NetworkSettings.IPAddress}}|{{.Config.StopSignal}}|"
        "{{.State.Health}}|{{.SizeRw}}|{{.HostConfig.Init}}"
    )
    shown = cli("inspect", "-f", fmt, "shape-t")
    assert shown.out == "[|][shape-vol-t|local] [] no:0 [] [] |||||<nil>|<nil>|<nil>\n"
    # Go prints a struct's fields in order, the omitted ones too (Docker 20.10 printed these).
    printed = cli("inspect", "-f", "{{.HostConfig.RestartPolicy}} {{range .Mounts}}{{.}}{{end}}",
                  "shape-t").out  # fmt: skip
    bind = f"{{bind  {tmp_path} /b   true rprivate}}"
    volume_source = cli("volume", "inspect", "-f", "{{.Mountpoint}}", "shape-vol-t").out.strip()
    assert printed in (
        f"{{no 0}} {bind}{{volume shape-vol-t {volume_source} /v local z true }}\n",
        f"{{no 0}} {{volume shape-vol-t {volume_source} /v local z true }}{bind}\n",
    )
    image = cli("image", "inspect", "-f", "{{.VirtualSize}} {{.ContainerConfig.Cmd}}", "busybox")
    size = cli("image", "inspect", "-f", "{{.Size}}", "busybox").out.strip()
    assert image.out == f"{size} []\n"
    volume = cli("volume", "inspect", "-f", "{{.Status}} {{.UsageData}}", "shape-made-t")
    assert volume.out == "map[] <nil>\n"
    # Not in the JSON, as Docker's: a bind has no Name, a create no StopSignal.
    record = json.loads(cli("inspect", "shape-t").out)[0]
    assert [sorted(m) for m in record["Mounts"] if m["Type"] == "bind"] == [
        ["Destination", "Mode", "Propagation", "RW", "Source", "Type"]
    ]
    assert "StopSignal" not in record["Config"] and "Init" not in record["HostConfig"]


def test_inspect_keys_side_by_side_with_a_live_docker(
    cli: CLI, tmp_path: Path, referee: docker_side.Daemon | None
) -> None:
    docker = referee
    if docker is None:
        pytest.skip("no dockerd on this machine (Debian's docker.io)")
    tag = uuid.uuid4().hex[:8]
    try:
        theirs = _make_objects(docker, tmp_path, tag)
    finally:
        docker("rm", "-f", f"shape-{tag}")
        docker("volume", "rm", f"shape-vol-{tag}", f"shape-made-{tag}")
    ours = _make_objects(cli, tmp_path, tag)
    for kind in ("container", "image", "volume"):
        assert differences(key_tree(ours[kind]), key_tree(theirs[kind])) == [], kind
