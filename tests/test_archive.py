"""save / load / import: round trips, skopeo and umoci as referees, hostile archives."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.layerfs import archive, base_image, layer_store, layers
from layerlab.presentation.humanize import parse_rfc3339
from layerlab.storage import images
from layerlab.storage.store import Store

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown, mknod, trusted.*"),
    pytest.mark.system,
]

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci not installed")

CREATED = "2024-01-02T03:04:05.000000000Z"

# --- helpers ----------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def tree(root: Path) -> list[tuple[object, ...]]:
    """What a layer folder records about each entry, whiteouts and opaque dirs included."""
    rows: list[tuple[object, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            s = os.lstat(path)
            opaque = None
            if stat.S_ISDIR(s.st_mode):
                with contextlib.suppress(OSError):
                    opaque = os.getxattr(path, layers.OPAQUE_XATTR, follow_symlinks=False)
            rows.append(
                (
                    os.path.relpath(path, root),
                    stat.filemode(s.st_mode),
                    s.st_uid,
                    s.st_gid,
                    int(s.st_mtime),
                    hashlib.sha256(Path(path).read_bytes()).hexdigest()
                    if stat.S_ISREG(s.st_mode)
                    else None,
                    os.readlink(path) if stat.S_ISLNK(s.st_mode) else None,
                    s.st_rdev if stat.S_ISCHR(s.st_mode) else None,
                    opaque,
                )
            )
    return rows


def listing(store: Store) -> dict[str, str | None]:
    """Every path in the store (but tmp/) with its content hash: 'the store as it was'."""
    out: dict[str, str | None] = {}
    for dirpath, dirnames, filenames in os.walk(store.root):
        if Path(dirpath) == store.root:
            dirnames[:] = [d for d in dirnames if d != "tmp"]
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            is_file = path.is_file() and not path.is_symlink()
            out[str(path.relative_to(store.root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest() if is_file else None
            )
    return out


def add_top_layer(store: Store, base_id: str, fill: dict[str, bytes], ref: str) -> str:
    """An image = `base_id` + one layer with the given files, tagged `ref`."""
    base = images.read_image(store, base_id)
    staged = store.make_tmp_dir("layer-")
    diff = staged / "diff"
    diff.mkdir()
    for name, data in fill.items():
        (diff / name).parent.mkdir(parents=True, exist_ok=True)
        (diff / name).write_bytes(data)
    return _finish_image(store, base, staged, ref)


def _finish_image(store: Store, base: images.Image, staged: Path, ref: str) -> str:
    layer = layer_store.add_layer(store, staged, base.layers[-1].chain_id, "test layer", CREATED)
    config = json.loads(json.dumps(base.config))
    config["rootfs"]["diff_ids"].append(layer.diff_id)
    config["history"].append({"created": CREATED, "created_by": "test layer"})
    image_id = images.write_image(store, config)
    images.tag_image(store, image_id, ref)
    return image_id


def make_multi(store: Store) -> str:
    """busybox + a layer that adds a file, deletes /etc/group (whiteout), and makes /home opaque."""
    base = images.read_image(store, base_image.ensure_base_image(store))
    staged = store.make_tmp_dir("layer-")
    diff = staged / "diff"
    (diff / "etc").mkdir(parents=True)
    (diff / "added.txt").write_text("hello from layer two\n")
    os.link(diff / "added.txt", diff / "hardlink.txt")
    os.symlink("added.txt", diff / "link")
    os.mknod(diff / "etc/group", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (diff / "home/fresh").mkdir(parents=True)
    os.setxattr(diff / "home", layers.OPAQUE_XATTR, b"y")
    (diff / "home/fresh/f").write_bytes(b"x" * 5000)
    return _finish_image(store, base, staged, "multi:v1")


def save_to(store: Store, refs: list[str], path: Path) -> Path:
    with open(path, "wb") as f:
        archive.save(store, refs, f)
    return path


def unpack(tar_path: Path, dest: Path) -> Path:
    dest.mkdir()
    with tarfile.open(tar_path) as tar:
        tar.extractall(dest, filter="data")
    return dest


def repack(src: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(src / name, arcname=name)
    return out


def run(*args: str, tmp: Path) -> str:
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_same_image(a: Store, b: Store, image_id: str, other_id: str | None = None) -> None:
    left, right = images.read_image(a, image_id), images.read_image(b, other_id or image_id)
    assert [x.diff_id for x in left.layers] == [x.diff_id for x in right.layers]
    assert [x.chain_id for x in left.layers] == [x.chain_id for x in right.layers]
    for x, y in zip(left.layers, right.layers, strict=True):
        assert tree(x.diff_path) == tree(y.diff_path)
        assert (x.created_by, x.size) == (y.created_by, y.size)
        assert parse_rfc3339(x.created) == parse_rfc3339(y.created)  # skopeo drops '.000000000'


def refused(store: Store, src: Path) -> str:
    """Load `src`, expect a one-line error and an untouched store; return the message."""
    before = listing(store)
    with pytest.raises(LayerlabError) as exc:
        archive.load(store, src)
    assert "\n" not in str(exc.value)
    assert listing(store) == before
    assert not os.listdir(store.tmp_dir)  # the spool and staged layers are gone too
    return str(exc.value)


# --- save / load round trips -------------------------------------------------


def test_save_writes_a_docker_archive_and_an_oci_layout(store: Store, tmp_path: Path) -> None:
    image_id = make_multi(store)
    image = images.read_image(store, image_id)
    saved = save_to(store, ["multi:v1"], tmp_path / "multi.tar")
    with tarfile.open(saved) as tar:
        names = tar.getnames()

        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            assert member is not None
            return member.read()

        manifest = json.loads(read("manifest.json"))
        index = json.loads(read("index.json"))
        oci_digest = index["manifests"][0]["digest"]
        oci_manifest = json.loads(read("blobs/sha256/" + oci_digest.removeprefix("sha256:")))
        assert json.loads(read("repositories")) == {
            "multi": {"v1": image.layers[-1].diff_id.removeprefix("sha256:")}
        }
        assert json.loads(read("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        for name in names:  # every blob is named by its content
            if name.startswith("blobs/sha256/") and tar.getmember(name).isfile():
                assert hashlib.sha256(read(name)).hexdigest() == name.rsplit("/", 1)[1]
    assert names[:2] == ["blobs", "blobs/sha256"] and names == names[:2] + sorted(names[2:])
    hexes = [layer.diff_id.removeprefix("sha256:") for layer in image.layers]
    assert manifest == [
        {
            "Config": f"blobs/sha256/{image_id.removeprefix('sha256:')}",
            "RepoTags": ["multi:v1"],
            "Layers": [f"blobs/sha256/{h}" for h in hexes],
        }
    ]
    assert index["manifests"][0]["annotations"] == {
        "io.containerd.image.name": "docker.io/library/multi:v1",
        "org.opencontainers.image.ref.name": "v1",
    }
    assert oci_manifest["config"]["digest"] == image_id
    assert oci_manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [x["mediaType"] for x in oci_manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar"
    ] * 2
    assert [x["digest"] for x in oci_manifest["layers"]] == [x.diff_id for x in image.layers]
    # the same images give the same bytes, and nothing is left in tmp/
    assert save_to(store, ["multi:v1"], tmp_path / "again.tar").read_bytes() == saved.read_bytes()
    assert not os.listdir(store.tmp_dir)


def test_round_trip_into_a_fresh_store(store: Store, tmp_path: Path) -> None:
    image_id = make_multi(store)
    base_id = base_image.ensure_base_image(store)
    saved = save_to(store, ["multi:v1", "busybox"], tmp_path / "both.tar")
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, saved) == ["Loaded image: multi:v1", "Loaded image: busybox:latest"]
    assert fresh.read_repositories() == {"multi:v1": image_id, "busybox:latest": base_id}
    assert store.image_path(image_id).read_bytes() == fresh.image_path(image_id).read_bytes()
    assert_same_image(store, fresh, image_id)
    layer = images.read_image(fresh, image_id).layers[-1]
    assert (
        os.stat(layer.diff_path / "added.txt").st_ino
        == os.stat(layer.diff_path / "hardlink.txt").st_ino
    )
    # loading again skips the layers it has and changes nothing
    before = listing(fresh)
    with gzip.open(saved.with_suffix(".tar.gz"), "wb") as gz:
        gz.write(saved.read_bytes())
    with open(saved.with_suffix(".tar.gz"), "rb") as stream:  # a gzipped stream, like stdin
        assert archive.load(fresh, stream)[0] == "Loaded image: multi:v1"
    assert listing(fresh) == before


def test_save_by_id_records_no_tag(store: Store, tmp_path: Path) -> None:
    image_id = base_image.ensure_base_image(store)
    saved = save_to(store, [image_id[7:19]], tmp_path / "id.tar")
    with tarfile.open(saved) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] is None and "repositories" not in names
    assert "annotations" not in index["manifests"][0]
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, saved) == [f"Loaded image ID: {image_id}"]
    assert fresh.read_repositories() == {}


def test_load_of_an_extracted_folder_and_of_the_oci_half_alone(
    store: Store, tmp_path: Path
) -> None:
    image_id = make_multi(store)
    folder = unpack(save_to(store, ["multi:v1"], tmp_path / "m.tar"), tmp_path / "m")
    (folder / "manifest.json").unlink()  # only the OCI layout is left: index.json is read
    (folder / "repositories").unlink()
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, folder) == ["Loaded image: multi:v1"]
    assert_same_image(store, fresh, image_id)


def test_a_bare_name_saves_every_tag_of_the_repository(store: Store, tmp_path: Path) -> None:
    image_id = base_image.ensure_base_image(store)
    images.tag_image(store, image_id, "busybox:v2")
    saved = save_to(store, ["busybox"], tmp_path / "b.tar")
    with tarfile.open(saved) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    refs = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert refs == ["latest", "v2"]
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, saved) == [
        "Loaded image: busybox:latest",
        "Loaded image: busybox:v2",
    ]


def test_load_picks_this_machine_from_a_multi_platform_index(store: Store, tmp_path: Path) -> None:
    image_id = base_image.ensure_base_image(store)
    layout = unpack(save_to(store, ["busybox"], tmp_path / "b.tar"), tmp_path / "layout")
    (layout / "manifest.json").unlink()
    index = json.loads((layout / "index.json").read_text())
    ours = index["manifests"][0]
    foreign = {**ours, "digest": "sha256:" + "f" * 64}  # a blob that isn't there
    platform = {"os": "linux", "architecture": images.docker_arch()}
    nested = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {**foreign, "platform": {"os": "linux", "architecture": "s390x-other"}},
                {**ours, "platform": platform},
            ],
        }
    ).encode()
    nested_hex = hashlib.sha256(nested).hexdigest()
    (layout / "blobs/sha256" / nested_hex).write_bytes(nested)
    index["manifests"] = [
        {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": "sha256:" + nested_hex,
            "size": len(nested),
            "annotations": ours["annotations"],
        },
        {**foreign, "platform": {"os": "windows", "architecture": "amd64"}},  # skipped
    ]
    (layout / "index.json").write_text(json.dumps(index))
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, layout) == ["Loaded image: busybox:latest"]
    assert fresh.read_repositories() == {"busybox:latest": image_id}
    index["manifests"] = index["manifests"][1:]  # only another platform's image is left
    (layout / "index.json").write_text(json.dumps(index))
    assert "no linux/" in refused(fresh, layout)


def test_save_of_an_unknown_image_fails_cleanly(store: Store, tmp_path: Path) -> None:
    base_image.ensure_base_image(store)
    with pytest.raises(LayerlabError, match="No such image"):
        save_to(store, ["nope:1"], tmp_path / "x.tar")


def test_save_refuses_a_corrupt_layer(store: Store, tmp_path: Path) -> None:
    image = images.read_image(store, base_image.ensure_base_image(store))
    (image.layers[0].diff_path / "etc/passwd").write_text("tampered\n")
    with pytest.raises(LayerlabError, match="cannot save layer"):
        save_to(store, ["busybox"], tmp_path / "x.tar")
    assert not os.listdir(store.tmp_dir)


def test_save_streams_a_big_layer_with_flat_memory(store: Store, tmp_path: Path) -> None:
    base_id = base_image.ensure_base_image(store)
    staged = store.make_tmp_dir("layer-")
    (staged / "diff").mkdir()
    with open(staged / "diff/big", "wb") as f:
        for _ in range(60):  # 60 MiB
            f.write(os.urandom(1 << 20))
    _finish_image(store, images.read_image(store, base_id), staged, "big:1")
    # A fresh process, so its high-water mark (VmHWM; ru_maxrss survives exec) is its own.
    script = """
import re, sys
from pathlib import Path
from layerlab.layerfs import archive
from layerlab.storage.store import Store
def hwm():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) * 1024
before = hwm()
with open(sys.argv[2], "wb") as f:
    archive.save(Store(Path(sys.argv[1])), ["big:1"], f)
archive.load(Store(Path(sys.argv[3])), Path(sys.argv[2]))
print(hwm() - before)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(store.root), str(tmp_path / "big.tar"),
         str(tmp_path / "fresh")],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert int(out) < 50 << 20
    assert (tmp_path / "big.tar").stat().st_size > 60 << 20


# --- referees: skopeo and umoci ----------------------------------------------


@needs_skopeo
def test_skopeo_reads_both_halves(store: Store, tmp_path: Path) -> None:
    image_id = make_multi(store)
    diff_ids = [x.diff_id for x in images.read_image(store, image_id).layers]
    saved = save_to(store, ["multi:v1"], tmp_path / "m.tar")
    for transport in ("docker-archive", "oci-archive"):
        info = json.loads(run("skopeo", "inspect", f"{transport}:{saved}", tmp=tmp_path))
        assert info["Layers"] == diff_ids and info["Os"] == "linux"
        config = json.loads(
            run("skopeo", "inspect", "--config", "--raw", f"{transport}:{saved}", tmp=tmp_path)
        )
        assert config["rootfs"]["diff_ids"] == diff_ids
    config_bytes = run(
        "skopeo", "inspect", "--config", "--raw", f"oci-archive:{saved}", tmp=tmp_path
    )
    assert hashlib.sha256(config_bytes.encode()).hexdigest() == image_id.removeprefix("sha256:")


@needs_skopeo
def test_load_of_skopeo_oci_layouts_with_gzip_layers(store: Store, tmp_path: Path) -> None:
    image_id = make_multi(store)
    saved = save_to(store, ["multi:v1"], tmp_path / "m.tar")
    # OCI -> OCI keeps the config bytes: the same image id, gzip layers, a bare tag
    same = tmp_path / "same"
    run("skopeo", "--insecure-policy", "copy", "--dest-compress", f"oci-archive:{saved}",
        f"oci:{same}:v1", tmp=tmp_path)  # fmt: skip
    index = json.loads((same / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    manifest = json.loads((same / "blobs/sha256" / manifest_digest).read_text())
    assert {x["mediaType"] for x in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    }
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, same) == [f"Loaded image ID: {image_id}"]  # 'v1' names no repo
    assert_same_image(store, fresh, image_id)
    # docker-archive -> OCI: skopeo re-encodes the config, so only the id changes
    converted = tmp_path / "converted"
    run("skopeo", "--insecure-policy", "copy", f"docker-archive:{saved}",
        f"oci:{converted}:tag", tmp=tmp_path)  # fmt: skip
    other = Store(tmp_path / "other")
    (line,) = archive.load(other, converted)
    other_id = line.removeprefix("Loaded image ID: ")
    assert_same_image(store, other, image_id, other_id)
    loaded = images.read_image(other, other_id).config
    assert loaded["config"] == images.read_image(store, image_id).config["config"]


@needs_skopeo
def test_load_of_skopeo_docker_archive_with_layer_folders(store: Store, tmp_path: Path) -> None:
    image_id = make_multi(store)
    saved = save_to(store, ["multi:v1"], tmp_path / "m.tar")
    other = tmp_path / "other.tar"
    run("skopeo", "--insecure-policy", "copy", f"oci-archive:{saved}",
        f"docker-archive:{other}:busybox:latest", tmp=tmp_path)  # fmt: skip
    with tarfile.open(other) as tar:
        assert any(m.issym() and m.name.endswith("/layer.tar") for m in tar)  # the old form
    fresh = Store(tmp_path / "fresh")
    assert archive.load(fresh, other) == ["Loaded image: busybox:latest"]
    assert fresh.read_repositories() == {"busybox:latest": image_id}
    assert_same_image(store, fresh, image_id)


@needs_umoci
def test_umoci_unpacks_the_saved_layout(store: Store, tmp_path: Path) -> None:
    make_multi(store)
    layout = unpack(save_to(store, ["multi:v1"], tmp_path / "m.tar"), tmp_path / "layout")
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{layout}:v1", str(bundle), tmp=tmp_path)
    rootfs = bundle / "rootfs"
    assert (rootfs / "bin/busybox").is_file()
    assert (rootfs / "added.txt").read_text() == "hello from layer two\n"
    assert (rootfs / "etc/passwd").exists() and not (rootfs / "etc/group").exists()
    assert sorted(os.listdir(rootfs / "home")) == ["fresh"]  # opaque: the base's /home is hidden


# --- hostile and corrupt input -------------------------------------------------


@pytest.fixture
def layout(store: Store, tmp_path: Path) -> Path:
    """busybox saved and extracted: a folder the tests below damage, then load as a tar."""
    base_image.ensure_base_image(store)
    return unpack(save_to(store, ["busybox"], tmp_path / "b.tar"), tmp_path / "layout")


def _layer_blob(layout: Path) -> Path:
    manifest = json.loads((layout / "manifest.json").read_text())
    return layout / manifest[0]["Layers"][0]


@pytest.mark.parametrize("form", ["docker", "oci"])
def test_tampered_layer_blob_is_refused(
    store: Store, layout: Path, tmp_path: Path, form: str
) -> None:
    blob = _layer_blob(layout)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1  # same size, other content
    blob.write_bytes(bytes(data))
    if form == "oci":
        (layout / "manifest.json").unlink()
    assert "does not match its digest" in refused(store, repack(layout, tmp_path / "bad.tar"))


@pytest.mark.parametrize("form", ["docker", "oci"])
def test_missing_blob_is_refused(store: Store, layout: Path, tmp_path: Path, form: str) -> None:
    _layer_blob(layout).unlink()
    if form == "oci":
        (layout / "manifest.json").unlink()
    assert "is missing" in refused(store, repack(layout, tmp_path / "bad.tar"))


def test_layer_diff_id_must_match_the_config(store: Store, layout: Path, tmp_path: Path) -> None:
    # a layer blob that hashes right but is not the layer the config names
    blob = _layer_blob(layout)
    other = io.BytesIO()
    with tarfile.open(fileobj=other, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO())
    new_hex = hashlib.sha256(other.getvalue()).hexdigest()
    blob.unlink()
    (blob.parent / new_hex).write_bytes(other.getvalue())
    manifest = json.loads((layout / "manifest.json").read_text())
    manifest[0]["Layers"] = [f"blobs/sha256/{new_hex}"]
    (layout / "manifest.json").write_text(json.dumps(manifest))
    fresh = Store(tmp_path / "fresh")  # `store` has this layer: load would not extract it
    fresh.ensure()
    assert "is not the layer" in refused(fresh, repack(layout, tmp_path / "bad.tar"))


def _docker_archive(
    tmp_path: Path, layer: bytes, history: list[dict[str, object]] | None = None
) -> Path:
    """An old-form docker-archive holding one given layer tar, with a config that matches it."""
    data: dict[str, object] = {
        "architecture": images.docker_arch(), "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }  # fmt: skip
    if history is not None:
        data["history"] = history
    config = json.dumps(data).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"]}]
    )
    out = tmp_path / "crafted.tar"
    with tarfile.open(out, "w") as tar:
        for name, data in [
            (config_name, config),
            ("l/layer.tar", layer),
            ("manifest.json", manifest.encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_layer_escaping_its_folder_is_refused(store: Store, tmp_path: Path) -> None:
    base_image.ensure_base_image(store)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("../evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    assert "'..'" in refused(store, _docker_archive(tmp_path, layer.getvalue()))
    assert not any(p.name == "evil" for p in tmp_path.rglob("evil"))


def test_well_formed_crafted_archive_loads(store: Store, tmp_path: Path) -> None:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    assert archive.load(store, _docker_archive(tmp_path, layer.getvalue())) == [
        "Loaded image: evil:1"
    ]
    assert (
        images.resolve_image(store, "evil:1").layers[0].diff_path / "hello"
    ).read_bytes() == b"hi"


def test_a_stream_unpacks_its_layers_as_they_come(store: Store, tmp_path: Path) -> None:
    """A layer's tar is unpacked as the stream brings it; a member that looks like a tar but
    does not unpack (an extra one, escaping its folder) is only kept, and the rest loads;
    nothing of the work stays behind."""
    layer, junk = io.BytesIO(), io.BytesIO()
    for buffer, name in ((layer, "hello"), (junk, "../evil")):
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    crafted = _docker_archive(tmp_path, layer.getvalue())
    with tarfile.open(crafted, "a") as tar:
        info = tarfile.TarInfo("junk/layer.tar")
        info.size = len(junk.getvalue())
        tar.addfile(info, io.BytesIO(junk.getvalue()))
    with open(crafted, "rb") as stream:
        assert archive.load(store, stream) == ["Loaded image: evil:1"]
    loaded = images.resolve_image(store, "evil:1").layers[0]
    assert (loaded.diff_path / "hello").read_bytes() == b"hi"
    assert (loaded.path / archive.ORIGINAL_TAR).read_bytes() == layer.getvalue()  # for save
    assert not any(p.name == "evil" for p in tmp_path.rglob("evil"))
    assert list((store.root / "tmp").iterdir()) == []


def test_more_history_than_layers_is_refused(store: Store, tmp_path: Path) -> None:
    """moby refuses a config whose non-empty history outnumbers its layers; so do we."""
    base_image.ensure_base_image(store)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    steps: list[dict[str, object]] = [{"created_by": "one"}, {"created_by": "two"}]
    crafted = _docker_archive(tmp_path, layer.getvalue(), history=steps)
    assert "history" in refused(store, crafted)


@pytest.mark.parametrize(
    "member",
    [
        ("../evil", tarfile.REGTYPE, ""),
        ("/abs", tarfile.REGTYPE, ""),
        ("link", tarfile.SYMTYPE, "/etc/passwd"),
        ("link", tarfile.SYMTYPE, "../../outside"),
        ("dev", tarfile.CHRTYPE, ""),
    ],
)
def test_unsafe_archive_members_are_refused(
    store: Store, layout: Path, tmp_path: Path, member: tuple[str, bytes, str]
) -> None:
    bad = repack(layout, tmp_path / "bad.tar")
    with tarfile.open(bad, "a") as tar:
        info = tarfile.TarInfo(member[0])
        info.type, info.linkname = member[1], member[2]
        tar.addfile(info, io.BytesIO())
    assert "invalid archive" in refused(store, bad)
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()


@pytest.mark.parametrize(
    "payload",
    [b"", os.urandom(4096), gzip.compress(os.urandom(4096)), b"\0" * 10240],
    ids=["empty", "random", "gzip-random", "empty-tar"],
)
def test_garbage_is_refused(store: Store, tmp_path: Path, payload: bytes) -> None:
    base_image.ensure_base_image(store)
    (tmp_path / "junk").write_bytes(payload)
    assert refused(store, tmp_path / "junk").startswith("invalid archive")


@pytest.mark.parametrize("name", ["manifest.json", "index.json"])
def test_malformed_json_is_refused(store: Store, layout: Path, tmp_path: Path, name: str) -> None:
    (layout / name).write_text('{"not": json')
    if name == "index.json":
        (layout / "manifest.json").unlink()
    assert "not valid JSON" in refused(store, repack(layout, tmp_path / "bad.tar"))


def test_missing_file_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(LayerlabError, match="no such file"):
        archive.load(store, tmp_path / "absent.tar")


def test_write_image_bytes_checks_the_id(store: Store) -> None:
    payload = b'{"a": 1}'
    with pytest.raises(LayerlabError):
        archive.write_image_bytes(store, payload, "sha256:" + "0" * 64)
    image_id = "sha256:" + hashlib.sha256(payload).hexdigest()
    archive.write_image_bytes(store, payload, image_id)
    assert store.image_path(image_id).read_bytes() == payload


# --- import ------------------------------------------------------------------


def _rootfs_tar() -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data, target in [
            ("etc", tarfile.DIRTYPE, b"", ""),
            ("etc/hello", tarfile.REGTYPE, b"hello\n", ""),
            ("bin", tarfile.DIRTYPE, b"", ""),
            ("bin/tool", tarfile.REGTYPE, b"#!/bin/sh\necho tool\n", ""),
            ("bin/alias", tarfile.SYMTYPE, b"", "tool"),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, len(data), target
            info.mode = 0o755 if kind != tarfile.REGTYPE or name == "bin/tool" else 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_import_makes_a_one_layer_image(store: Store) -> None:
    image_id = Engine(store.root).import_image(
        _rootfs_tar(),
        message="my rootfs",
        changes=['CMD ["sh"]', "ENV A=b"],
        repo_tag="imported:v1",
    )
    image = images.resolve_image(store, "imported:v1")
    assert image.id == image_id and len(image.layers) == 1
    layer = image.layers[0]
    assert layer.parent is None and layer.created_by == ""
    assert (layer.diff_path / "etc/hello").read_text() == "hello\n"
    assert os.readlink(layer.diff_path / "bin/alias") == "tool"
    assert os.stat(layer.diff_path / "bin/tool").st_mode & 0o777 == 0o755
    assert image.config["config"] == {"Cmd": ["sh"], "Env": ["A=b"]}
    assert image.config["rootfs"]["diff_ids"] == [layer.diff_id]
    assert image.config["history"][0]["comment"] == "my rootfs"
    assert image.config["os"] == "linux" and image.config["architecture"] == images.docker_arch()
    # and it saves and loads like any other image
    out = io.BytesIO()
    archive.save(store, ["imported:v1"], out)
    assert archive.load(Store(store.root.parent / "fresh"), io.BytesIO(out.getvalue())) == [
        "Loaded image: imported:v1"
    ]


def test_import_defaults_and_failures(store: Store) -> None:
    engine = Engine(store.root)
    image_id = engine.import_image(_rootfs_tar())
    config = images.read_image(store, image_id).config
    assert config["history"][0]["comment"] == "Imported from -" and config["config"] == {}
    assert store.read_repositories() == {}
    before = listing(store)
    with pytest.raises(LayerlabError, match="not a valid change"):
        engine.import_image(_rootfs_tar(), changes=["RUN x"])
    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("../escape"), io.BytesIO())
    hostile.seek(0)
    with pytest.raises(LayerlabError, match=r"'\.\.'"):
        engine.import_image(hostile, repo_tag="x")
    with pytest.raises(LayerlabError):
        engine.import_image(io.BytesIO(b"garbage"), repo_tag="x")
    with pytest.raises(LayerlabError, match="invalid reference format"):
        engine.import_image(_rootfs_tar(), changes=["RUN x"], repo_tag="Bad:Tag")  # name first
    assert listing(store) == before


# --- foreign tars and the CLI --------------------------------------------------


def _foreign_docker_archive(path: Path) -> str:
    """A docker-archive whose layer tar was written by GNU tar, not by us: other bytes."""
    work = path.parent / "foreign"
    (work / "rootfs/bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", work / "rootfs/bin/busybox")
    (work / "rootfs/bin/sh").symlink_to("busybox")
    (work / "rootfs/hello.txt").write_text("from another tool\n")
    subprocess.run(
        ["tar", "--format=gnu", "-cf", str(work / "layer.tar"), "-C", str(work / "rootfs"), "."],
        check=True,
    )
    diff_id = "sha256:" + hashlib.sha256((work / "layer.tar").read_bytes()).hexdigest()
    config = json.dumps(
        {
            "architecture": images.docker_arch(),
            "os": "linux",
            "created": CREATED,
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": CREATED, "created_by": "tar"}],
        }
    ).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = [
        {"Config": f"{config_hex}.json", "RepoTags": ["foreign:1"], "Layers": ["l/layer.tar"]}
    ]
    with tarfile.open(path, "w") as tar:
        for name, data in (
            (f"{config_hex}.json", config),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(work / "layer.tar", "l/layer.tar")
    return "sha256:" + config_hex


def test_a_foreign_layer_round_trips_through_save(tmp_path: Path) -> None:
    from layerlab.engine import Engine

    image_id = _foreign_docker_archive(tmp_path / "foreign.tar")
    first = Engine(tmp_path / "one")
    assert first.load(tmp_path / "foreign.tar") == ["Loaded image: foreign:1"]
    assert first.image("foreign:1").id == image_id
    with open(tmp_path / "again.tar", "wb") as out:
        first.save(["foreign:1"], out)
    second = Engine(tmp_path / "two")
    second.load(tmp_path / "again.tar")
    assert second.image("foreign:1").id == image_id


def test_save_load_import_from_the_command_line(tmp_path: Path) -> None:
    env = dict(os.environ, LAYERLAB_ROOT=str(tmp_path / "cli"))

    def ll(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "layerlab", *args], capture_output=True, text=True, env=env,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    assert ll("save", "-o", str(tmp_path / "bb.tar"), "busybox").returncode == 0
    busybox = ll("inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    assert ll("rmi", "busybox").returncode == 0
    loaded = ll("load", "-i", str(tmp_path / "bb.tar"))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: busybox:latest\n")
    assert ll("inspect", "-f", "{{.Id}}", "busybox").stdout.strip() == busybox
    bad = ll("load", "-i", str(tmp_path / "missing.tar"))
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1  # Docker: 1
    with tarfile.open(tmp_path / "one.tar", "w") as tar:
        data = b"imported\n"
        info = tarfile.TarInfo("file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    imported = ll("import", "-c", 'CMD ["cat", "/file.txt"]', str(tmp_path / "one.tar"), "mine:1")
    assert imported.returncode == 0 and imported.stdout.startswith("sha256:")
    assert len(ll("history", "-q", "mine:1").stdout.split()) == 1  # one layer, one entry
