"""`push` against a real registry (Debian's docker-registry on loopback): what travels, what
the registry then holds, and independent referees reading it back (skopeo, Docker)."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerlab.engine import Engine
from layerlab.registry import hosts
from layerlab.registry.transfers import Transfer, read_transfers

from . import registry_side
from .conftest import CLI, eventually
from .docker_side import Daemon
from .registry_side import PASSWORD, USER, Registry

# the fixtures: a registry on loopback (plain, or TLS with Basic auth), config in the test's tmp
registry, registry_config = registry_side.registry, registry_side.registry_config
tls_registry = registry_side.tls_registry

pytestmark = pytest.mark.system

LINE = re.compile(r"^([0-9a-f]{12}): (.+)$")


def _image(cli: CLI, name: str, text: str = "hi", base: str = "busybox") -> str:
    """A two-layer image: busybox's, and one with `/greeting` holding `text`; its id."""
    made = cli("run", "--name", "maker", base, "sh", "-c", f"echo {text} > /greeting")
    assert made.code == 0, made
    done = cli("commit", "maker", name)
    assert done.code == 0, done
    assert cli("rm", "maker").code == 0
    return done.out.strip()


def _statuses(out: str) -> dict[str, str]:
    """Each layer's last status line in a push's plain output (not a terminal)."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        if m := LINE.match(line):
            found[m[1]] = m[2]
    return found


def _digest_line(out: str, tag: str) -> tuple[str, int]:
    m = re.search(rf"^{re.escape(tag)}: digest: (sha256:[0-9a-f]{{64}}) size: (\d+)$", out, re.M)
    assert m, out
    return m[1], int(m[2])


def _blobs(registry: Registry) -> set[str]:
    root = registry.storage / "docker/registry/v2/blobs/sha256"
    return {p.parent.name for p in root.glob("*/*/data")}


def _store_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)


def _diff_ids(cli: CLI, ref: str) -> list[str]:
    r = cli("inspect", "-f", "{{json .RootFS.Layers}}", ref)
    assert r.code == 0, r
    return list(json.loads(r.out))


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def test_push_is_what_skopeo_copies_back(cli: CLI, registry: Registry, tmp_path: Path) -> None:
    name = f"{registry.host}/demo:v1"
    image_id = _image(cli, name)
    r = cli("push", name)
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.host}/demo]"
    diff_ids = _diff_ids(cli, name)
    shorts = [d.removeprefix("sha256:")[:12] for d in reversed(diff_ids)]  # top first
    assert [line.split(":")[0] for line in lines[1:3]] == shorts
    assert _statuses(r.out) == dict.fromkeys(shorts, "Pushed")
    digest, size = _digest_line(r.out, "v1")
    # skopeo reads the manifest layerlab printed, and copies the image out
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{name}")
    assert raw.returncode == 0, raw.stderr
    assert "sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest() == digest
    assert len(raw.stdout.encode()) == size
    manifest = json.loads(raw.stdout)
    assert manifest["config"]["digest"] == image_id
    seen = json.loads(_skopeo("inspect", "--tls-verify=false", f"docker://{name}").stdout)
    assert seen["Digest"] == digest
    assert seen["Layers"] == [layer["digest"] for layer in manifest["layers"]]
    # copied out (skopeo checks each blob's digest as it reads it), into an OCI layout: the
    # layers are the very blobs pushed, unpacking to the image's diff_ids
    out = tmp_path / "copy"
    copied = _skopeo("copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{out}")
    assert copied.returncode == 0, copied.stderr
    blobs = out / "blobs" / "sha256"
    [entry] = json.loads((out / "index.json").read_text())["manifests"]
    oci = json.loads((blobs / entry["digest"].removeprefix("sha256:")).read_bytes())
    assert [layer["digest"] for layer in oci["layers"]] == seen["Layers"]
    for layer, diff_id in zip(oci["layers"], diff_ids, strict=True):
        data = (blobs / layer["digest"].removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest() == diff_id
    config = json.loads((blobs / oci["config"]["digest"].removeprefix("sha256:")).read_bytes())
    assert config["rootfs"]["diff_ids"] == diff_ids
    repo_digests = cli("inspect", "-f", "{{json .RepoDigests}}", name)
    assert json.loads(repo_digests.out) == [f"{registry.host}/demo@{digest}"]


def test_a_second_push_sends_nothing_and_one_changed_byte_sends_one_layer(
    cli: CLI, registry: Registry
) -> None:
    name = f"{registry.host}/demo"
    _image(cli, f"{name}:v1")
    assert cli("push", f"{name}:v1").code == 0
    held = _blobs(registry)
    again = cli("push", f"{name}:v1")
    assert again.code == 0, again
    assert set(_statuses(again.out).values()) == {"Layer already exists"}, again.out
    assert _blobs(registry) == held
    # one byte changed in /greeting: a new layer on top; only it and the config travel
    _image(cli, f"{name}:v2", text="ho", base=f"{name}:v1")
    r = cli("push", f"{name}:v2")
    assert r.code == 0, r
    diff_ids = _diff_ids(cli, f"{name}:v2")
    top = diff_ids[-1].removeprefix("sha256:")[:12]
    statuses = _statuses(r.out)
    assert statuses.pop(top) == "Pushed", r.out
    assert set(statuses.values()) == {"Layer already exists"} and len(statuses) == 2
    config = cli("inspect", "-f", "{{.Id}}", f"{name}:v2").out.strip().removeprefix("sha256:")
    new = _blobs(registry) - held
    manifest_digest = _digest_line(r.out, "v2")[0].removeprefix("sha256:")
    assert new - {manifest_digest, config} and len(new - {manifest_digest, config}) == 1


def test_a_second_repository_mounts_the_shared_base(cli: CLI, registry: Registry) -> None:
    _image(cli, f"{registry.host}/demo:v1")
    assert cli("push", f"{registry.host}/demo:v1").code == 0
    _image(cli, f"{registry.host}/other:v1", text="other")
    r = cli("push", "-a", f"{registry.host}/other")
    assert r.code == 0, r
    base = _diff_ids(cli, f"{registry.host}/other:v1")[0].removeprefix("sha256:")[:12]
    statuses = _statuses(r.out)
    assert statuses.pop(base) == "Mounted from demo", r.out
    assert list(statuses.values()) == ["Pushed"]
    assert "Using default tag" not in r.out


def test_push_quiet_and_tags(cli: CLI, registry: Registry) -> None:
    name = f"{registry.host}/demo"
    _image(cli, f"{name}:v1")
    assert cli("tag", f"{name}:v1", name).code == 0
    r = cli("push", "-q", name)
    assert (r.code, r.out, r.err) == (0, f"{name}:latest\n", ""), r
    r = cli("push", name)
    assert r.out.splitlines()[:2] == [
        "Using default tag: latest",
        f"The push refers to repository [{name}]",
    ], r
    r = cli("push", "--all-tags", name)
    assert r.code == 0, r
    assert [line.split(":")[0] for line in r.out.splitlines() if "digest:" in line] == [
        "latest",
        "v1",
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["nosuch"], "An image does not exist locally with the tag: {host}/nosuch"),
        (["demo:v9"], "tag does not exist: {host}/demo:v9"),
        (["-a", "demo:v1"], "Error: tag can't be used with --all-tags/-a"),
    ],
)
def test_push_refusals_are_dockers_one_line(
    cli: CLI, registry: Registry, root: Path, args: list[str], error: str
) -> None:
    _image(cli, f"{registry.host}/demo:v1")
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)
    args = [*args[:-1], f"{registry.host}/{args[-1]}"]
    r = cli("push", *args)
    assert r.code == 1, r
    assert r.err == error.format(host=registry.host) + "\n", r
    after = sorted(str(p.relative_to(root)) for p in root.rglob("*") if "tmp" not in p.parts)
    assert after == before


def test_a_registry_that_is_down_fails_in_one_line(
    cli: CLI, registry: Registry, root: Path
) -> None:
    name = f"{registry.host}/demo:v1"
    _image(cli, name)
    registry.stop()
    r = cli("push", name)
    assert r.code == 1, r
    assert len(r.err.splitlines()) == 1 and "connect: connection refused" in r.err, r
    assert not (root / "distribution").exists()
    assert list((root / "transfers").glob("*.json")) == []


def test_push_to_a_registry_with_basic_auth(cli: CLI, tls_registry: Registry) -> None:
    name = f"{tls_registry.host}/secret:v1"
    _image(cli, name)
    anonymous = cli("push", name)
    assert anonymous.code == 1, anonymous
    assert anonymous.err.strip().endswith("no basic auth credentials"), anonymous
    # a password changed since the login: the registry refuses what is stored
    hosts.store_credentials(tls_registry.host, USER, "stale-password")
    stale = cli("push", name)
    assert (stale.code, stale.err) == (1, "unauthorized: authentication required\n"), stale
    login = cli("login", "-u", USER, "--password-stdin", tls_registry.host, input=PASSWORD)
    assert login.code == 0, login
    r = cli("push", name)
    assert r.code == 0, r
    assert set(_statuses(r.out).values()) == {"Pushed"}


def test_pushed_then_removed_then_pulled_is_the_same_image(cli: CLI, registry: Registry) -> None:
    name = f"{registry.host}/demo:v1"
    image_id = _image(cli, name)
    assert cli("push", name).code == 0
    assert cli("rmi", name).code == 0
    r = cli("pull", name)
    assert r.code == 0, r
    assert cli("inspect", "-f", "{{.Id}}", name).out.strip() == image_id
    ran = cli("run", "--rm", name, "cat", "/greeting")
    assert ran.out == "hi\n", ran


def test_docker_pulls_and_runs_what_layerlab_pushed(
    cli: CLI, registry: Registry, real_docker: Daemon
) -> None:
    name = f"{registry.host}/demo:v1"
    _image(cli, name, text="from-layerlab")
    assert cli("push", name).code == 0
    pulled = real_docker("pull", name)
    assert pulled.code == 0, pulled
    ran = real_docker("run", "--rm", "--network", "none", name, "cat", "/greeting")
    assert (ran.code, ran.out) == (0, "from-layerlab\n"), ran
    real_docker("rmi", name)


def test_search_lists_the_catalog_as_docker_lists_search_results(
    cli: CLI, registry: Registry
) -> None:
    for repo in ("demo", "other"):
        _image(cli, f"{registry.host}/{repo}:v1", text=repo)
        assert cli("push", f"{registry.host}/{repo}:v1").code == 0
    r = cli("search", f"{registry.host}/dem")
    assert r.code == 0, r
    name = f"{registry.host}/demo"
    width = len(name) + 3
    assert r.out == (
        f"{'NAME':<{width}}DESCRIPTION   STARS     OFFICIAL   AUTOMATED\n"
        f"{name:<{width}}              0                    \n"
    )
    r = cli("search", "--format", "{{.Name}} {{.StarCount}}", "--limit", "1", f"{registry.host}/")
    assert r.out == f"{registry.host}/demo 0\n", r
    r = cli("search", "-f", "is-official=true", "--format", "{{.Name}}", f"{registry.host}/o")
    assert (r.code, r.out) == (0, ""), r
    r = cli("search", "--limit", "0", f"{registry.host}/o")
    assert (r.code, r.err) == (
        1,
        "Error response from daemon: Limit 0 is outside the range of [1, 100]\n",
    ), r


def test_search_refused_is_one_line(cli: CLI, tls_registry: Registry) -> None:
    r = cli("search", f"{tls_registry.host}/x")
    assert r.code == 1 and len(r.err.splitlines()) == 1, r
    assert "no basic auth credentials" in r.err, r


def _big_image(cli: CLI, name: str) -> None:
    """An image whose top layer is 48 MB of random bytes: its compression takes a while."""
    made = cli("run", "--name", "maker", "busybox", "sh", "-c",
               "head -c 48000000 /dev/urandom > /big")  # fmt: skip
    assert made.code == 0, made
    assert cli("commit", "maker", name).code == 0
    assert cli("rm", "maker").code == 0


def _compressing(root: Path) -> bool:
    """The push's record shows the big layer being compressed (Preparing, bytes read)."""
    return any(
        blob.status == "Preparing" and blob.done > 0 and blob.size > 40_000_000
        for transfer in read_transfers(root)
        for blob in transfer.blobs
    )


def _push_until_compressing(root: Path, name: str) -> subprocess.Popen[str]:
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    push = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "push", name], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60  # a hang guard
    while not _compressing(root):
        assert push.poll() is None, push.communicate()
        assert time.monotonic() < deadline, "the push never compressed its big layer"
        time.sleep(0.02)
    return push


def test_a_registry_killed_mid_push_leaves_the_store_as_it_was(
    cli: CLI, registry: Registry, root: Path
) -> None:
    name = f"{registry.host}/big:v1"
    _big_image(cli, name)
    before = _store_files(root)
    push = _push_until_compressing(root, name)
    registry.stop()
    out, err = push.communicate(timeout=120)
    assert push.returncode == 1, (out, err)
    assert len(err.splitlines()) == 1 and "connection refused" in err, err
    assert _store_files(root) == before
    assert not list((root / "tmp").glob("*push-*"))


def test_a_killed_push_leaves_the_store_as_it_was(cli: CLI, registry: Registry, root: Path) -> None:
    name = f"{registry.host}/big:v1"
    _big_image(cli, name)
    before = _store_files(root)
    push = _push_until_compressing(root, name)
    push.kill()
    push.communicate(timeout=60)
    eventually(lambda: cli("system", "check", "--repair").code, 0, timeout=60)
    assert _store_files(root) == before
    assert not list((root / "tmp").glob("*push-*"))
    r = cli("push", name)  # and a push again goes through
    assert r.code == 0, r


def test_the_push_record_names_each_blob_as_the_faces_draw_it(
    cli: CLI, engine: Engine, registry: Registry
) -> None:
    """What the TUI draws: each layer's compressed digest, diff_id and chain id side by side,
    its state in Docker's words, then the manifest's digest; the record gone at the end."""
    name = f"{registry.host}/demo:v1"
    _image(cli, name)
    seen: list[Transfer] = []
    result = engine.push(name, observe=lambda t: seen.append(copy.deepcopy(t)))
    last = seen[-1]
    assert (last.verb, last.reference, last.manifest_digest) == (
        "push",
        name,
        result.tags[0].digest,
    )
    image = engine.image(name)
    layers = [b for b in last.blobs if b.kind == "layer"]
    assert [b.diff_id for b in layers] == [layer.diff_id for layer in reversed(image.layers)]
    assert [b.chain_id for b in layers] == [layer.chain_id for layer in reversed(image.layers)]
    assert {b.status for b in last.blobs} == {"Pushed"}
    assert all(b.done == b.size for b in last.blobs)
    manifest = json.loads(
        _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{name}").stdout
    )
    assert [b.digest for b in reversed(layers)] == [d["digest"] for d in manifest["layers"]]
    [config] = [b for b in last.blobs if b.kind == "config"]
    assert config.digest == image.id
    states = {(b.diff_id[:19], b.status) for t in seen for b in t.blobs if b.kind == "layer"}
    assert {status for _, status in states} >= {"Preparing", "Pushing", "Pushed"}
    assert read_transfers(engine.store.root) == []
