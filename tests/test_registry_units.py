"""The registry's pure parts: references, trust and credentials, manifests and platforms,
unpacking a blob, what the store records of registries, and Docker's progress lines."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from layerlab.commands.progress import PullPrinter, bar
from layerlab.errors import LayerlabError
from layerlab.layerfs.archive import ORIGINAL_BLOB
from layerlab.registry import hosts
from layerlab.registry import manifest as mf
from layerlab.registry.client import parse_reference
from layerlab.registry.transfers import Blob, Transfer
from layerlab.registry.unpack import unpack_blob
from layerlab.storage import distribution
from layerlab.storage.store import Store

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "host", "path", "familiar", "full"),
    [
        ("busybox", "docker.io", "library/busybox", "busybox:latest",
         "docker.io/library/busybox:latest"),
        ("team/app:v2", "docker.io", "team/app", "team/app:v2", "docker.io/team/app:v2"),
        ("index.docker.io/library/busybox:1", "docker.io", "library/busybox", "busybox:1",
         "docker.io/library/busybox:1"),
        ("localhost:5000/x", "localhost:5000", "x", "localhost:5000/x:latest",
         "localhost:5000/x:latest"),
        ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "127.0.0.1:5000/a/b:t",
         "127.0.0.1:5000/a/b:t"),
        ("registry.example.com/x@sha256:" + "a" * 64, "registry.example.com", "x",
         "registry.example.com/x@sha256:" + "a" * 64,
         "registry.example.com/x@sha256:" + "a" * 64),
    ],
)  # fmt: skip
def test_references_name_their_registry_as_docker_does(
    text: str, host: str, path: str, familiar: str, full: str
) -> None:
    ref = parse_reference(text)
    assert (ref.host, ref.path, ref.familiar_string, ref.full_string) == (
        host, path, familiar, full
    )  # fmt: skip


def test_a_bad_reference_is_docker_s_one_line() -> None:
    with pytest.raises(LayerlabError, match=r"^invalid reference format: repository name must"):
        parse_reference("UPPER/case")
    with pytest.raises(LayerlabError, match=r"^invalid reference format$"):
        parse_reference("x@sha256:short")


def test_plain_http_only_for_loopback_and_listed_registries(tmp_path: Path) -> None:
    for host in ("localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "::1"):
        assert hosts.is_insecure(host, tmp_path), host
    assert not hosts.is_insecure("10.1.2.3:5000", tmp_path)
    (tmp_path / "daemon.json").write_text(
        json.dumps({"insecure-registries": ["10.9.9.9:5000", "10.1.0.0/16"]})
    )
    assert hosts.is_insecure("10.9.9.9:5000", tmp_path)
    assert hosts.is_insecure("10.1.2.3:5000", tmp_path)
    assert not hosts.is_insecure("10.2.2.3:5000", tmp_path)


def test_a_named_ca_is_layerlab_s_then_docker_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYERLAB_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.setattr(hosts, "DOCKER_CERTS", tmp_path / "docker-certs")
    assert hosts.trust("reg.example:5000", insecure=False) == hosts.Trust(True)
    assert hosts.trust("127.0.0.1:5000", insecure=True) == hosts.Trust(False)
    docker_ca = tmp_path / "docker-certs" / "reg.example:5000" / "ca.crt"
    docker_ca.parent.mkdir(parents=True)
    docker_ca.write_text("ca")
    assert hosts.trust("reg.example:5000", insecure=False).verify == str(docker_ca)
    ours = tmp_path / "cfg" / "certs.d" / "reg.example:5000" / "ca.crt"
    ours.parent.mkdir(parents=True)
    ours.write_text("ca")
    assert hosts.trust("reg.example:5000", insecure=False).verify == str(ours)


def test_credentials_are_stored_private_and_read_as_docker_stores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYERLAB_CONFIG", str(tmp_path / "cfg"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    assert hosts.credentials("reg:5000") is None
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}})  # u:p
    )
    assert hosts.credentials("docker.io") == ("u", "p")
    path = hosts.store_credentials("reg:5000", "teacher", "a:b")
    assert path.stat().st_mode & 0o777 == 0o600
    assert hosts.credentials("reg:5000") == ("teacher", "a:b")
    assert hosts.remove_credentials("reg:5000")
    assert not hosts.remove_credentials("reg:5000")
    assert hosts.credentials("reg:5000") is None


def _desc(digest_char: str, platform: dict[str, str] | None = None) -> dict[str, object]:
    found: dict[str, object] = {
        "mediaType": mf.DOCKER_MANIFEST, "digest": "sha256:" + digest_char * 64, "size": 1
    }  # fmt: skip
    if platform:
        found["platform"] = platform
    return found


def test_manifests_and_indexes_are_told_apart() -> None:
    layers = [_desc("1"), _desc("2")]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mf.DOCKER_MANIFEST,
            "config": _desc("c"),
            "layers": layers,
        }
    ).encode()
    parsed = mf.parse(manifest, "", mf.digest_of(manifest))
    assert isinstance(parsed, mf.Manifest) and len(parsed.layers) == 2
    oci_index = json.dumps({"schemaVersion": 2, "manifests": [_desc("a")]}).encode()
    assert isinstance(mf.parse(oci_index, mf.OCI_INDEX, "d"), mf.Index)
    with pytest.raises(LayerlabError, match="schema 1"):
        mf.parse(b"{}", mf.SCHEMA1, "d")
    assert [mf.compression(t) for t in (mf.DOCKER_LAYER, mf.OCI_LAYER_ZSTD, mf.OCI_LAYER)] == [
        "gzip", "zstd", ""
    ]  # fmt: skip


def test_the_platform_is_picked_as_docker_picks_it() -> None:
    index = mf.Index(mf.OCI_INDEX, "d", b"", [
        mf._descriptor(_desc("a", {"os": "linux", "architecture": "amd64"})),
        mf._descriptor(_desc("b", {"os": "linux", "architecture": "arm64", "variant": "v8"})),
        mf._descriptor(_desc("c", {"os": "linux", "architecture": "arm", "variant": "v6"})),
        mf._descriptor(_desc("e", {"os": "windows", "architecture": "amd64"})),
    ])  # fmt: skip
    assert mf.choose(index, mf.parse_platform("linux/amd64")).digest.endswith("a" * 64)
    assert mf.choose(index, mf.parse_platform("aarch64")).digest.endswith("b" * 64)
    assert mf.choose(index, mf.parse_platform("linux/arm/v7")).digest.endswith("c" * 64)
    with pytest.raises(LayerlabError, match=r"^no matching manifest for linux/s390x in the"):
        mf.choose(index, mf.parse_platform("linux/s390x"))
    with pytest.raises(LayerlabError, match="unknown operating system or architecture"):
        mf.parse_platform("linux//x")


def _layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("how", ["gzip", "zstd", ""])
def test_a_blob_unpacks_to_its_diff_id_whatever_its_compression(tmp_path: Path, how: str) -> None:
    plain = _layer_tar({"etc/hello": b"hello\n"})
    blob = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress}.get(
        how, lambda data: data
    )(plain)
    (tmp_path / "blob").write_bytes(blob)
    seen: list[int] = []
    diff_id = unpack_blob(tmp_path / "blob", tmp_path / "staged", seen.append)
    assert diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert (tmp_path / "staged" / "diff" / "etc" / "hello").read_bytes() == b"hello\n"
    assert seen[-1] == len(blob)
    assert (tmp_path / "staged" / ORIGINAL_BLOB).read_bytes() == blob  # for save and push


def test_a_corrupt_blob_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(gzip.compress(_layer_tar({"a": b"a" * 5000}))[:-20])
    with pytest.raises(LayerlabError, match=r"^failed to register layer"):
        unpack_blob(tmp_path / "blob", tmp_path / "staged", lambda n: None)


def test_a_gzip_blob_of_several_members_unpacks_and_a_bad_ending_is_one_error(
    tmp_path: Path,
) -> None:
    """gzip allows members one after another, zeros between them: all one tar. Cut short,
    or followed by what is no gzip, it is refused."""
    plain = _layer_tar({"etc/big": os.urandom(300_000), "etc/small": b"x" * 100_000})
    half = len(plain) // 2
    blob = gzip.compress(plain[:half]) + b"\0" * 1000 + gzip.compress(plain[half:])
    (tmp_path / "blob").write_bytes(blob)
    diff_id = unpack_blob(tmp_path / "blob", tmp_path / "staged", lambda n: None)
    assert diff_id == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert (tmp_path / "staged" / "diff" / "etc" / "small").read_bytes() == b"x" * 100_000
    for n, bad in enumerate([blob[:-3], blob + b"garbage"]):
        (tmp_path / f"bad{n}").write_bytes(bad)
        with pytest.raises(LayerlabError, match=r"^failed to register layer"):
            unpack_blob(tmp_path / f"bad{n}", tmp_path / f"staged{n}", lambda n: None)


def test_the_store_records_blobs_and_repo_digests(tmp_path: Path) -> None:
    store = Store(tmp_path)
    diff_id, blob = "sha256:" + "d" * 64, "sha256:" + "b" * 64
    distribution.record_blob(store, diff_id, blob, "127.0.0.1:5000/x")
    distribution.record_blob(store, diff_id, blob, "127.0.0.1:5000/y")
    assert distribution.diff_id_for(store, blob) == diff_id
    assert [e["SourceRepository"] for e in distribution.blobs_for(store, diff_id)] == [
        "127.0.0.1:5000/y", "127.0.0.1:5000/x"
    ]  # fmt: skip
    image = "sha256:" + "1" * 64
    distribution.record_repo_digest(store, "x@sha256:" + "f" * 64, image)
    assert distribution.repo_digests(store, image) == ["x@sha256:" + "f" * 64]
    assert distribution.image_by_repo_digest(store, "x@sha256:" + "f" * 64) is None  # gone
    store.images_dir.mkdir(parents=True)
    store.image_path(image).write_text("{}")
    assert distribution.image_by_repo_digest(store, "x@sha256:" + "f" * 64) == image


def _transfer(*states: tuple[str, int]) -> Transfer:
    blobs = [Blob("config", "sha256:" + "c" * 64, 10, status="")]
    blobs += [
        Blob("layer", "sha256:" + str(i) * 64, 5_000_000, done=done, status=status)
        for i, (status, done) in enumerate(states, 1)
    ]
    return Transfer("1-1", "pull", "x:1", blobs=blobs)


def test_plain_progress_is_docker_s_lines_without_bars() -> None:
    out = io.StringIO()
    printer = PullPrinter(out, terminal=False)
    for states in (
        [("Pulling fs layer", 0), ("Pulling fs layer", 0)],
        [("Downloading", 100), ("Already exists", 0)],
        [("Downloading", 4000), ("Already exists", 0)],
        [("Verifying Checksum", 5_000_000), ("Already exists", 0)],
        [("Download complete", 5_000_000), ("Already exists", 0)],
        [("Extracting", 10), ("Already exists", 0)],
        [("Pull complete", 5_000_000), ("Already exists", 0)],
    ):
        printer.observe(_transfer(*states))
    one, two = "1" * 12, "2" * 12
    assert out.getvalue().splitlines() == [
        f"{one}: Pulling fs layer", f"{two}: Pulling fs layer", f"{two}: Already exists",
        f"{one}: Verifying Checksum", f"{one}: Download complete", f"{one}: Pull complete",
    ]  # fmt: skip


def test_on_a_terminal_each_layer_s_line_is_redrawn_in_place() -> None:
    out = io.StringIO()
    printer = PullPrinter(out, terminal=True)
    printer.width = 120
    printer.observe(_transfer(("Pulling fs layer", 0), ("Pulling fs layer", 0)))
    printer.observe(_transfer(("Downloading", 1_200_000), ("Pulling fs layer", 0)))
    one, two = "1" * 12, "2" * 12
    drawn = out.getvalue()
    assert drawn.startswith(f"\n\x1b[1A\x1b[2K\r{one}: Pulling fs layer\r\x1b[1B")
    assert f"\n\x1b[1A\x1b[2K\r{two}: Pulling fs layer\r\x1b[1B" in drawn
    assert drawn.endswith(
        f"\x1b[2A\x1b[2K\r{one}: Downloading [{'=' * 12}>{' ' * 38}]    1.2MB/5MB 0s\r\x1b[2B"
    )


def test_the_bar_is_docker_s() -> None:
    assert bar(0, 0, 0, 200, 0) == ""
    assert bar(2_500_000, 5_000_000, 0, 80, 10) == "   2.5MB/5MB 10s"
    assert bar(5_000_000, 5_000_000, 0, 200, 1).startswith("[" + "=" * 50 + ">] ")
