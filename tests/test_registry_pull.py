"""`pull`, `login`, `logout` against a real registry (Debian's docker-registry on 127.0.0.1),
with images pushed by skopeo or put through the registry's API as they are."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from layerlab import libc
from layerlab.engine import Engine
from layerlab.errors import Cancelled
from layerlab.registry import hosts
from layerlab.registry.transfers import Transfer, read_transfers, transfers_dir

from . import registry_side
from .conftest import CLI
from .registry_side import (
    PASSWORD,
    USER,
    Layout,
    Registry,
    _sha,
    free_port,
    oci_layout,
    push_layout,
    upload,
    upload_layout,
)

# The registry fixtures, for this module's tests.
registry = registry_side.registry
tls_registry = registry_side.tls_registry
token_registry = registry_side.token_registry
registry_config = registry_side.registry_config

pytestmark = pytest.mark.system

GUARD = 60.0  # a hang guard, not a measure
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def listing(root: Path) -> list[str]:
    """Every path in the store, with each file's size: what a failed pull must not change."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found.append(os.path.relpath(os.path.join(folder, name), root) + "/")
        for name in files:
            path = os.path.join(folder, name)
            size = os.lstat(path).st_size if name != "journal" else 0
            found.append(f"{os.path.relpath(path, root)} {size}")
    return sorted(found)


def three_layers(tmp_path: Path, name: str = "img") -> Layout:
    """busybox's layer, then a gzip, a zstd and another gzip layer, a file in each."""
    return oci_layout(
        tmp_path / name,
        [{"etc/one.txt": b"one\n"}, {"etc/two.txt": b"two\n" * 1000}, {"etc/three.txt": b"3\n"}],
        ["gzip", "zstd", "gzip"],
    )


def test_a_pushed_image_is_pulled_and_runs(cli: CLI, registry: Registry, tmp_path: Path) -> None:
    layout = three_layers(tmp_path)
    push_layout(registry, layout, "demo:v1")
    digest = registry.manifest_digest("demo", "v1")
    name = f"{registry.host}/demo"
    pulled = cli("pull", f"{name}:v1")
    assert pulled.code == 0, pulled.err
    lines = pulled.out.splitlines()
    assert lines[0] == "v1: Pulling from demo"
    ids = [d.removeprefix("sha256:")[:12] for d in layout.layer_digests]
    for short in ids:  # Docker's plain lines, in its order for each layer
        mine = [line.split(": ", 1)[1] for line in lines if line.startswith(f"{short}: ")]
        assert mine[0] == "Pulling fs layer" and mine[-1] == "Pull complete", mine
        assert "Download complete" in mine and "Downloading" not in mine
    assert lines[-3:] == [
        f"Digest: {digest}",
        f"Status: Downloaded newer image for {name}:v1",
        f"{name}:v1",
    ]
    for n, word in (("one", "one"), ("three", "3")):
        ran = cli("run", "--rm", "--network", "none", f"{name}:v1", "cat", f"/etc/{n}.txt")
        assert (ran.code, ran.out) == (0, f"{word}\n"), ran.err
    ran = cli("run", "--rm", "--network", "none", f"{name}:v1", "cat", "/etc/two.txt")
    assert ran.out == "two\n" * 1000  # the zstd layer's file
    inspect = json.loads(cli("inspect", f"{name}:v1").out)[0]
    assert inspect["RepoDigests"] == [f"{name}@{digest}"]
    assert inspect["RootFS"]["Layers"] == layout.diff_ids
    saved = tmp_path / "saved.tar"  # the blobs it pulled give the very tars its config names
    assert cli("save", "-o", str(saved), f"{name}:v1").code == 0
    other = CLI(tmp_path / "other-store")
    assert other("load", "-i", str(saved)).code == 0
    ran = other("run", "--rm", "--network", "none", f"{name}:v1", "cat", "/etc/two.txt")
    assert ran.out == "two\n" * 1000, ran.err
    table = cli("images", "--digests").out.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert table[1].split()[:3] == [name, "v1", digest]


def test_pulled_again_it_is_up_to_date_and_nothing_is_fetched(
    cli: CLI, registry: Registry, tmp_path: Path
) -> None:
    layout = three_layers(tmp_path)
    push_layout(registry, layout, "demo:v1")
    name = f"{registry.host}/demo:v1"
    assert cli("pull", "-q", name).out == f"{name}\n"
    fetched = registry.blob_gets()
    again = cli("pull", name)
    assert again.code == 0, again.err
    digest = registry.manifest_digest("demo", "v1")
    assert again.out.splitlines() == [  # Docker's words: the image is here, nothing to say
        "v1: Pulling from demo", f"Digest: {digest}",
        f"Status: Image is up to date for {name}", name,
    ]  # fmt: skip
    assert registry.blob_gets() == fetched  # not a blob travels again, not even the config


def test_pull_by_digest_all_tags_and_the_default_tag(
    cli: CLI, registry: Registry, tmp_path: Path
) -> None:
    layout = three_layers(tmp_path)
    push_layout(registry, layout, "demo:v1")
    push_layout(registry, layout, "demo:v2")
    digest = registry.manifest_digest("demo", "v1")
    name = f"{registry.host}/demo"
    by_digest = cli("pull", f"{name}@{digest}")
    assert by_digest.code == 0, by_digest.err
    assert by_digest.out.splitlines()[0] == f"{name}@{digest}: Pulling from demo"
    assert by_digest.out.splitlines()[-1] == f"{name}@{digest}"
    ran = cli("run", "--rm", "--network", "none", f"{name}@{digest}", "cat", "/etc/one.txt")
    assert ran.out == "one\n", ran.err
    assert cli("images").out.splitlines()[1].split()[:2] == [name, "<none>"]  # as Docker lists
    assert cli("image", "prune", "-f").code == 0  # a digest names it: not dangling, kept
    assert cli("images", "--digests").out.splitlines()[1].split()[:3] == [name, "<none>", digest]
    removed = cli("rmi", f"{name}@{digest}").out.splitlines()
    assert removed[0] == f"Untagged: {name}@{digest}" and removed[1].startswith("Deleted: ")
    assert cli("pull", "-q", f"{name}@{digest}").code == 0
    every = cli("pull", "-a", name)
    assert every.code == 0, every.err
    assert [line for line in every.out.splitlines() if "Pulling from" in line] == [
        "v1: Pulling from demo", "v2: Pulling from demo"
    ]  # fmt: skip
    assert every.out.splitlines()[-2:] == [f"Status: Downloaded newer image for {name}", name]
    tags = {line.split()[1] for line in cli("images").out.splitlines()[1:]}
    assert {"v1", "v2"} <= tags
    missing = cli("pull", name)
    assert missing.out == "Using default tag: latest\n"
    assert missing.err == (
        f"Error response from daemon: manifest for {name}:latest not found: "
        "manifest unknown: manifest unknown\n"
    )
    assert missing.code == 1
    assert "tag can't be used with --all-tags/-a" in cli("pull", "-a", f"{name}:v1").err


def test_images_sharing_a_base_share_its_blobs(
    cli: CLI, registry: Registry, tmp_path: Path
) -> None:
    base = [{"etc/base.txt": b"base\n"}]
    first = oci_layout(tmp_path / "a", base)
    second = oci_layout(tmp_path / "b", [*base, {"etc/more.txt": b"more\n"}])
    push_layout(registry, first, "app:1")
    push_layout(registry, second, "app:2")
    assert cli("pull", f"{registry.host}/app:1").code == 0
    pulled = cli("pull", f"{registry.host}/app:2")
    assert pulled.code == 0, pulled.err
    shared, new = second.layer_digests[:-1], second.layer_digests[-1]
    for digest in shared:
        assert registry.blob_gets(digest) == 1  # fetched by the first pull only
        assert f"{digest.removeprefix('sha256:')[:12]}: Already exists" in pulled.out
    assert registry.blob_gets(new) == 1


def test_a_plain_tar_layer_and_an_index_pick_this_machine(
    cli: CLI, registry: Registry, tmp_path: Path
) -> None:
    """Blobs put as they are: a plain-tar layer, and an index naming a manifest for this
    machine and one for another architecture (whose blobs are never fetched)."""
    layout = oci_layout(tmp_path / "plain", [{"etc/plain.txt": b"plain\n"}], [""])
    ours = upload_layout(registry, layout, "multi", "ours")
    ours_size = (layout.path / "blobs/sha256" / ours.removeprefix("sha256:")).stat().st_size
    other_config = json.dumps({"architecture": "s390x", "os": "linux",
                               "rootfs": {"type": "layers", "diff_ids": []}}).encode()  # fmt: skip
    other = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _sha(other_config), "size": len(other_config)},
    }).encode()  # fmt: skip
    upload(registry, "multi", [other_config], "other", other, OCI_MANIFEST)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    index = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": _sha(other), "size": len(other),
             "platform": {"architecture": "s390x", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": ours, "size": ours_size,
             "platform": {"architecture": arch, "os": "linux"}},
        ],
    }).encode()  # fmt: skip
    index_digest = upload(registry, "multi", [], "latest", index, OCI_INDEX)
    pulled = cli("pull", f"{registry.host}/multi")
    assert pulled.code == 0, pulled.err
    assert f"Digest: {index_digest}" in pulled.out  # the index's digest names what was pulled
    assert registry.blob_gets(_sha(other_config)) == 0
    ran = cli("run", "--rm", "--network", "none", f"{registry.host}/multi", "cat", "/etc/plain.txt")
    assert ran.out == "plain\n", ran.err
    wrong = cli("pull", "--platform", "linux/riscv64", f"{registry.host}/multi")
    assert wrong.err == (
        "Error response from daemon: no matching manifest for linux/riscv64 in the manifest"
        " list entries\n"
    )


def test_login_over_tls_then_pull(cli: CLI, tls_registry: Registry, tmp_path: Path,
                                  registry_config: Path) -> None:  # fmt: skip
    layout = three_layers(tmp_path)
    push_layout(tls_registry, layout, "team/app:v1")
    name = f"{tls_registry.host}/team/app:v1"
    anonymous = cli("pull", name)
    assert anonymous.code == 1
    assert anonymous.err == (
        f'Error response from daemon: Get "https://{tls_registry.host}/v2/team/app/manifests/v1":'
        " no basic auth credentials\n"
    )
    wrong = cli("login", "-u", USER, "-p", "not-it", tls_registry.host)
    assert wrong.code == 1
    assert wrong.err.splitlines() == [
        "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
        f"Error response from daemon: login attempt to https://{tls_registry.host}/v2/ failed"
        " with status: 401 Unauthorized",
    ]
    assert not (registry_config / "config.json").exists()  # nothing stored
    hosts.store_credentials(tls_registry.host, USER, "stale")  # a password changed since
    stale = cli("pull", name)
    assert (stale.code, stale.err) == (
        1, "Error response from daemon: unauthorized: authentication required\n"
    )  # fmt: skip
    ok = cli("login", "-u", USER, "--password-stdin", tls_registry.host, input=PASSWORD + "\n")
    assert (ok.code, ok.out) == (0, "Login Succeeded\n"), ok.err
    stored = registry_config / "config.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert tls_registry.host in json.loads(stored.read_text())["auths"]
    pulled = cli("pull", "-q", name)
    assert (pulled.code, pulled.out) == (0, f"{name}\n"), pulled.err
    out = cli("logout", tls_registry.host).out
    assert out == f"Removing login credentials for {tls_registry.host}\n"
    assert json.loads(stored.read_text())["auths"] == {}
    out = cli("logout", tls_registry.host).out  # Docker 20.10 says it again
    assert out == f"Removing login credentials for {tls_registry.host}\n"


def test_a_registry_killed_mid_pull_leaves_the_store_as_it_was(
    cli: CLI, registry: Registry, tmp_path: Path, root: Path
) -> None:
    small = oci_layout(tmp_path / "small", [{"etc/a.txt": b"a\n"}])
    push_layout(registry, small, "small:1")
    assert cli("pull", f"{registry.host}/small:1").code == 0  # the store's folders exist
    big = oci_layout(tmp_path / "big", [{"big.bin": os.urandom(96 << 20)}], ["gzip"])
    push_layout(registry, big, "big:1")
    before = listing(root)
    env = dict(os.environ, LAYERLAB_ROOT=str(root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "pull", f"{registry.host}/big:1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    big_blob = big.layer_digests[-1]
    try:
        deadline = time.monotonic() + GUARD
        while not _downloading(root, big_blob):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the big layer never started downloading"
            time.sleep(0.01)
        assert registry.proc is not None
        os.kill(registry.proc.pid, signal.SIGSTOP)  # mid-download: no more bytes leave it
        registry.stop()
        _, err = proc.communicate(timeout=GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert len(err.splitlines()) == 1 and err.startswith("Error response from daemon: "), err
    assert "Traceback" not in err
    assert listing(root) == before
    assert read_transfers(root) == []
    registry.start()
    again = subprocess.run([sys.executable, "-m", "layerlab", "pull", "-q",
                            f"{registry.host}/big:1"], capture_output=True, text=True,
                           env=env, timeout=GUARD * 3)  # fmt: skip
    assert again.returncode == 0, again.stderr


def test_a_pull_killed_mid_download_is_healed_by_the_next_command(
    cli: CLI, registry: Registry, tmp_path: Path, root: Path
) -> None:
    """SIGKILL to the pulling process: its scratch and its transfer's record stay behind
    until the next command that changes the store cures them (its pid is gone)."""
    small = oci_layout(tmp_path / "small", [{"etc/a.txt": b"a\n"}])
    push_layout(registry, small, "small:1")
    assert cli("pull", f"{registry.host}/small:1").code == 0
    big = oci_layout(tmp_path / "big", [{"big.bin": os.urandom(96 << 20)}], ["gzip"])
    push_layout(registry, big, "big:1")
    before = listing(root)
    env = dict(os.environ, LAYERLAB_ROOT=str(root), LAYERLAB_NO_SERVER="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerlab", "pull", f"{registry.host}/big:1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + GUARD
        while not _downloading(root, big.layer_digests[-1]):
            assert proc.poll() is None and time.monotonic() < deadline, "no download seen"
            time.sleep(0.01)
        proc.kill()
        proc.wait(GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [t.id.split("-")[0] for t in read_transfers(root)] == [str(proc.pid)]
    # killed as it rewrote its record, it would leave the temp file of that write too
    (transfers_dir(root) / f".tmp-{proc.pid}.0123456789ab").write_text('{"id": ')
    assert listing(root) != before  # the killed pull's scratch and record
    assert cli("pull", "-q", f"{registry.host}/small:1").code == 0  # takes the store lock
    assert listing(root) == before
    assert read_transfers(root) == []


def _downloading(root: Path, digest: str) -> bool:
    return any(
        b.digest == digest and b.status == "Downloading" and 0 < b.done < b.size
        for t in read_transfers(root)
        for b in t.blobs
    )


def test_a_corrupt_blob_is_refused_and_nothing_is_stored(
    cli: CLI, registry: Registry, tmp_path: Path, root: Path
) -> None:
    small = oci_layout(tmp_path / "small", [{"etc/a.txt": b"a\n"}])
    push_layout(registry, small, "small:1")
    assert cli("pull", f"{registry.host}/small:1").code == 0
    layout = oci_layout(tmp_path / "img", [{"etc/b.txt": b"b\n" * 5000}])
    push_layout(registry, layout, "bad:1")
    blob = registry.blob_file(layout.layer_digests[-1])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed, the size kept
    blob.write_bytes(bytes(data))
    before = listing(root)
    pulled = cli("pull", f"{registry.host}/bad:1")
    assert pulled.code == 1
    assert pulled.err == (
        "Error response from daemon: filesystem layer verification failed for digest "
        f"{layout.layer_digests[-1]}\n"
    )
    assert listing(root) == before
    assert read_transfers(root) == []


def test_a_sound_layer_under_another_digest_is_refused_and_nothing_is_stored(
    cli: CLI, registry: Registry, tmp_path: Path, root: Path
) -> None:
    """The blob unpacks well (a layer is unpacked as it arrives) but is not the one the
    manifest names: Docker's verification error, and nothing of it stays."""
    small = oci_layout(tmp_path / "small", [{"etc/a.txt": b"a\n"}])
    push_layout(registry, small, "small:1")
    assert cli("pull", f"{registry.host}/small:1").code == 0
    layout = oci_layout(tmp_path / "img", [{"etc/b.txt": os.urandom(3 << 20)}])
    other = oci_layout(tmp_path / "other", [{"etc/b.txt": os.urandom(2 << 20)}])
    push_layout(registry, layout, "bad:1")
    named = registry.blob_file(layout.layer_digests[-1])
    sound = other.path / "blobs/sha256" / other.layer_digests[-1].removeprefix("sha256:")
    size = named.stat().st_size
    named.write_bytes(sound.read_bytes().ljust(size, b"\0"))  # gzip may end in zeros
    before = listing(root)
    pulled = cli("pull", f"{registry.host}/bad:1")
    assert pulled.code == 1
    assert pulled.err == (
        "Error response from daemon: filesystem layer verification failed for digest "
        f"{layout.layer_digests[-1]}\n"
    )
    assert listing(root) == before
    assert read_transfers(root) == []


def test_a_refused_connection_is_one_line(cli: CLI, registry_config: Path) -> None:
    port = free_port()
    pulled = cli("pull", f"127.0.0.1:{port}/x:1")
    assert pulled.code == 1
    assert pulled.err == (
        f'Error response from daemon: Get "https://127.0.0.1:{port}/v2/": dial tcp '
        f"127.0.0.1:{port}: connect: connection refused\n"
    )


def test_a_full_disk_says_so_and_leaves_nothing(registry: Registry, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    libc.mount("tmpfs", str(disk), "tmpfs", 0, "size=16m")
    try:
        cli = CLI(disk / "store")
        small = oci_layout(tmp_path / "small", [{"etc/a.txt": b"a\n"}])
        push_layout(registry, small, "small:1")
        assert cli("pull", "-q", f"{registry.host}/small:1").code == 0
        big = oci_layout(tmp_path / "big", [{"big.bin": os.urandom(4 << 20)}])
        push_layout(registry, big, "big:1")
        vfs = os.statvfs(disk)
        (disk / "filler").write_bytes(b"\0" * (vfs.f_bavail * vfs.f_frsize - (1 << 20)))
        before = listing(disk / "store")
        pulled = cli("pull", f"{registry.host}/big:1")
        assert pulled.code == 1
        [line] = pulled.err.splitlines()
        assert line.startswith("Error response from daemon: write ")
        assert line.endswith(": no space left on device")
        assert listing(disk / "store") == before
    finally:
        libc.umount(str(disk), libc.MNT_DETACH)


def test_a_cancelled_pull_stops_and_leaves_nothing(
    engine: Engine, registry: Registry, tmp_path: Path, root: Path
) -> None:
    """The TUI's Ctrl+C sets the command's cancel event: the downloads stop, and the store
    keeps nothing of the pull."""
    small = oci_layout(tmp_path / "small", [{"etc/a.txt": b"a\n"}])
    push_layout(registry, small, "small:1")
    engine.pull(f"{registry.host}/small:1")
    layout = oci_layout(tmp_path / "img", [{"etc/b.bin": os.urandom(4 << 20)}])
    push_layout(registry, layout, "img:1")
    before = listing(root)
    cancel = threading.Event()

    def observe(transfer: Transfer) -> None:
        if any(b.status == "Downloading" for b in transfer.blobs):
            cancel.set()  # as Ctrl+C would, mid-download

    with pytest.raises(Cancelled):
        engine.pull(f"{registry.host}/img:1", observe=observe, cancel=cancel)
    assert cancel.is_set()
    assert listing(root) == before
    assert read_transfers(root) == []


def test_bearer_tokens_as_docker_hub_asks_for_them(
    cli: CLI, token_registry: Registry, tmp_path: Path
) -> None:
    layout = three_layers(tmp_path)
    push_layout(token_registry, layout, "team/app:v1", f"--dest-creds={USER}:{PASSWORD}")
    name = f"{token_registry.host}/team/app"
    anonymous = cli("pull", f"{name}:v1")
    assert (anonymous.code, anonymous.err) == (1, (
        f"Error response from daemon: pull access denied for {name}, repository does not exist"
        " or may require 'docker login': denied: requested access to the resource is denied\n"
    ))  # fmt: skip
    wrong = cli("login", "-u", USER, "--password-stdin", token_registry.host, input="nope\n")
    assert (wrong.code, wrong.err) == (1, (
        f'Error response from daemon: Get "http://{token_registry.host}/v2/": unauthorized:'
        " incorrect username or password\n"
    ))  # fmt: skip
    ok = cli("login", "-u", USER, "--password-stdin", token_registry.host, input=PASSWORD)
    assert ok.out == "Login Succeeded\n", ok.err
    pulled = cli("pull", f"{name}:v1")
    assert pulled.code == 0, pulled.err
    ran = cli("run", "--rm", "--network", "none", f"{name}:v1", "cat", "/etc/one.txt")
    assert ran.out == "one\n", ran.err


def _pull_lines(out: str) -> tuple[list[str], dict[str, list[str]]]:
    """A pull's plain output: its lines without a layer id in order, and each layer's
    states in order (layers move at once, so their lines interleave as they will)."""
    plain: list[str] = []
    layers: dict[str, list[str]] = {}
    for line in out.splitlines():
        head, sep, state = line.partition(": ")
        if sep and len(head) == 12 and all(c in "0123456789abcdef" for c in head):
            layers.setdefault(head, []).append(state)
        else:
            plain.append(line)
    return plain, layers


def _in_order(some: list[str], every: list[str]) -> bool:
    """`some` is `every` with states left out, none added, none moved."""
    rest = iter(every)
    return all(state in rest for state in some)


def test_pull_prints_what_docker_prints(
    cli: CLI, registry: Registry, tmp_path: Path, real_docker: Any
) -> None:
    """Docker 20.10 pulls the same images from the same registry: the same lines (a layer
    waiting beyond three, `Already exists` for a shared base, nothing for an image that is
    here), the same RepoDigests, the same `images --digests` and `rmi`."""
    base = [{"etc/one.txt": b"one\n"}, {"etc/two.txt": b"two\n"}, {"etc/three.txt": b"3\n"}]
    push_layout(registry, oci_layout(tmp_path / "a", base), "demo:v1")
    push_layout(registry, oci_layout(tmp_path / "b", [*base, {"x": b"x"}]), "demo:v2")
    name = f"{registry.host}/demo"
    for words in (["pull", f"{name}:v1"], ["pull", f"{name}:v2"], ["pull", f"{name}:v1"],
                  ["pull", "-a", name], ["pull", f"{name}:nope"]):  # fmt: skip
        theirs, ours = real_docker(*words), cli(*words)
        assert (ours.code, ours.err) == (theirs.code, theirs.err), words
        (our_plain, our_layers), (plain, layers) = _pull_lines(ours.out), _pull_lines(theirs.out)
        assert our_plain == plain and our_layers.keys() == layers.keys(), words
        for layer, states in layers.items():  # Docker may skip a state a fast blob passed
            assert _in_order(states, our_layers[layer]), (words, layer)
            assert states[-1] == our_layers[layer][-1]
    listing = ["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", name]
    ours, theirs = cli(*listing).out.splitlines(), real_docker(*listing).out.splitlines()
    assert sorted(ours) == sorted(theirs)  # the same age: Docker's order among them is not set
    for words in (["inspect", "-f", "{{.RepoDigests}}", f"{name}:v2"],
                  ["rmi", f"{name}:v1", f"{name}:v2"]):  # fmt: skip
        theirs, ours = real_docker(*words), cli(*words)
        assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, theirs.err), words


def test_logins_and_refusals_are_worded_as_docker_words_them(
    cli: CLI, tls_registry: Registry, token_registry: Registry, tmp_path: Path, real_docker: Any
) -> None:
    """Docker 20.10 beside layerlab, on a Basic-auth registry over TLS and on one asking for
    Bearer tokens (Docker trusts loopback without the CA, as layerlab without a named one)."""
    layout = oci_layout(tmp_path / "img", [{"etc/one.txt": b"one\n"}])
    push_layout(tls_registry, layout, "team/app:v1")
    push_layout(token_registry, layout, "team/app:v1", f"--dest-creds={USER}:{PASSWORD}")
    steps: list[tuple[list[str], str | None]] = [
        (["pull", f"{token_registry.host}/team/app:v1"], None),
        (["login", "-u", USER, "--password-stdin", token_registry.host], "wrong"),
        (["login", "-u", USER, "--password-stdin", tls_registry.host], "wrong"),
        (["login", "-u", USER, "-p", "wrong", tls_registry.host], None),
        (["login", "-u", USER, "--password-stdin", tls_registry.host], PASSWORD),
        (["pull", "-q", f"{tls_registry.host}/team/app:v1"], None),
        (["logout", tls_registry.host], None),
        (["logout", tls_registry.host], None),
    ]
    for words, given in steps:
        theirs, ours = real_docker(*words, input=given), cli(*words, input=given)
        assert (ours.code, ours.out) == (theirs.code, theirs.out), words
        assert _but_paths(ours.err) == _but_paths(theirs.err), words


def _but_paths(err: str) -> list[str]:
    """An error output but the line naming where credentials are kept (each its own)."""
    return [line for line in err.splitlines() if "stored unencrypted" not in line]
