"""The fast layer writer against the reference one: same diff_ids, same trees, same tar bytes.

`layers.write_layer_tar` (and extracting what it writes) defines a layer. The
one-pass commit copy, the hash-only diff_id and the export writer must agree
with it byte for byte on every kind of entry a writable layer can hold.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import stat
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab import libc
from layerlab.engine import Engine
from layerlab.layerfs import layer_store, layer_writer, layers, tar_stream
from layerlab.storage.containers import CreateOptions
from layerlab.storage.store import Store
from tests.trees import NAME, OVERLAY_NODE, build

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown, mknod, trusted.*"),
    pytest.mark.unit,
]

# --- helpers ----------------------------------------------------------------


def content_hash(path: str) -> str:
    """Read without touching atime: the manifest compares atimes too."""
    with open(os.open(path, os.O_RDONLY | os.O_NOATIME), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def manifest(root: Path) -> list[tuple[object, ...]]:
    """Everything a layer folder records about each entry, hardlink groups included."""
    rows: list[tuple[object, ...]] = []
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            s = os.lstat(path)
            xattrs: list[tuple[str, bytes]] = []
            if not stat.S_ISLNK(s.st_mode):
                with contextlib.suppress(OSError):
                    xattrs = sorted(
                        (key, os.getxattr(path, key, follow_symlinks=False))
                        for key in os.listxattr(path, follow_symlinks=False)
                    )
            is_reg = stat.S_ISREG(s.st_mode)
            rows.append(
                (
                    rel,
                    stat.filemode(s.st_mode),
                    s.st_uid,
                    s.st_gid,
                    s.st_mtime_ns,  # whole seconds on both sides, or the test says so
                    s.st_atime_ns if is_reg else None,
                    s.st_size if is_reg else None,
                    content_hash(path) if is_reg else None,
                    os.readlink(path) if stat.S_ISLNK(s.st_mode) else None,
                    s.st_rdev if stat.S_ISCHR(s.st_mode) else None,
                    s.st_nlink if is_reg else None,
                    inodes.setdefault(s.st_ino, rel) if is_reg and s.st_nlink > 1 else None,
                    tuple(xattrs),
                )
            )
    return sorted(rows, key=lambda row: os.fsencode(str(row[0])))


def reference_tar(src: Path) -> tuple[bytes, str]:
    buf = io.BytesIO()
    digest = layers.write_layer_tar(src, buf)
    return buf.getvalue(), digest


def reference_copy(src: Path, dest: Path) -> str:
    """What commit did before: the canonical tar, extracted again."""
    data, digest = reference_tar(src)
    dest.mkdir()
    layers.extract_layer_tar(io.BytesIO(data), dest)
    return digest


def varied_tree(root: Path) -> None:
    """Every kind of entry a writable layer can hold, with awkward metadata and names."""
    root.mkdir()
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.link(root / "etc/passwd", root / "etc/passwd-")
    (root / "etc/deep/er").mkdir(parents=True)
    os.link(root / "etc/passwd", root / "etc/deep/er/third-link")  # across directories
    (root / "bin").mkdir(mode=0o755)
    (root / "bin/su").write_bytes(b"\x7fELF" * 100)
    os.chown(root / "bin/su", 1000, 1000)
    os.chmod(root / "bin/su", 0o6755)
    (root / "bin/sh").symlink_to("/bin/busybox")
    (root / "bin/ls").symlink_to("../usr/bin/ls")
    (root / "bin/dangling").symlink_to("nowhere/" + "t" * 120)  # a pax linkpath
    (root / "home/user").mkdir(parents=True)
    (root / "home/user/notes").write_bytes(os.urandom(70_000))
    os.chown(root / "home/user", 1000, 1000)
    os.chown(root / "home/user/notes", 1000, 1000)
    (root / "home/huge-ids").write_text("ids that need pax records")
    os.chown(root / "home/huge-ids", 8**7 + 5, 8**8)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    os.mkfifo(root / "tmp/fifo", 0o640)
    os.mknod(root / "tmp/deleted", stat.S_IFCHR, os.makedev(0, 0))  # overlay whiteout
    os.chown(root / "tmp/deleted", 7, 8, follow_symlinks=False)
    with socket.socket(socket.AF_UNIX) as sock:  # neither a tar nor a layer holds one
        sock.bind(str(root / "tmp/socket"))
    (root / "var/cache").mkdir(parents=True)
    (root / "var/cache/fresh").write_text("new")
    os.setxattr(root / "var/cache", layers.OPAQUE_XATTR, b"y")
    (root / "var/empty-opaque").mkdir()
    os.setxattr(root / "var/empty-opaque", layers.OPAQUE_XATTR, b"y")
    os.setxattr(root / "var", "trusted.overlay.origin", b"bookkeeping")  # not carried
    with contextlib.suppress(OSError):  # user xattrs where the file system has them
        os.setxattr(root / "etc/passwd", "user.note", b"not in a layer tar")
    (root / "locked").mkdir(mode=0o000)
    (root / "locked/inside").write_text("root reads it anyway")
    (root / ("long-" + "x" * 150)).write_text("pax path header")
    (root / ("d" * 99)).mkdir()  # 100 with the slash: the ustar limit exactly
    (root / ("d" * 100)).mkdir()  # 101: a pax path
    (root / "caf\u00e9").write_text("non-ASCII name")
    (root / "sp ace\nnew-line\ttab").write_text("odd characters")
    Path(os.fsdecode(bytes(root) + b"/raw-\xff")).write_text("undecodable name")
    (root / "empty").write_bytes(b"")
    (root / "exactly-small").write_bytes(os.urandom(layer_writer.SMALL))
    (root / "small-plus-one").write_bytes(os.urandom(layer_writer.SMALL + 1))
    with open(root / "sparse-ish", "wb") as f:  # holes, data, holes: read back as zeros
        f.seek(3 << 20)
        f.write(os.urandom(5000))
        f.truncate(6 << 20)
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i), follow_symlinks=False)
    os.utime(root / "empty", ns=(5, 1_700_000_000_999_999_999))  # sub-second: truncated
    os.utime(root / "etc/deep", (0, 0))


# --- headers ----------------------------------------------------------------

NAMES = st.one_of(
    st.text(alphabet="abc/._-", min_size=1, max_size=110),
    st.text(min_size=1, max_size=20).filter(lambda n: "\0" not in n),
    st.sampled_from(["a" * 99, "a" * 100, "a" * 101, "x/" * 50, "/", "d/", "raw-\udcff"]),
)
TYPES = st.sampled_from(
    [
        tarfile.REGTYPE,
        tarfile.DIRTYPE,
        tarfile.SYMTYPE,
        tarfile.LNKTYPE,
        tarfile.FIFOTYPE,
        tarfile.CHRTYPE,
        tarfile.BLKTYPE,
    ]
)
NUMBERS = st.one_of(st.integers(0, 70_000), st.sampled_from([8**7 - 1, 8**7, 8**11 - 1, 8**11]))


@settings(max_examples=400, deadline=None)
@given(NAMES, TYPES, NAMES, NUMBERS, NUMBERS, NUMBERS, NUMBERS, st.integers(0, 0o7777))
def test_packed_headers_are_tarfiles_bytes(
    name: str, type_: bytes, link: str, uid: int, gid: int, size: int, mtime: int, mode: int
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.mtime = type_, mode, uid, gid, mtime
    info.size = size if type_ == tarfile.REGTYPE else 0
    if type_ in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = link
    if type_ in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    expected = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    assert tar_stream.header_bytes(info) == expected


# --- commit's one-pass copy -------------------------------------------------


def test_copy_layer_makes_the_reference_tree_diff_id_and_tar(tmp_path: Path) -> None:
    varied_tree(tmp_path / "src")
    want = reference_copy(tmp_path / "src", tmp_path / "ref")
    (tmp_path / "new").mkdir()
    digest, size = layer_writer.copy_layer(tmp_path / "src", tmp_path / "new")
    assert digest == want
    assert manifest(tmp_path / "new") == manifest(tmp_path / "ref")
    assert size == layers.dir_size(tmp_path / "ref")[0]
    # what save writes for each of the two layers: the same bytes
    assert reference_tar(tmp_path / "new") == reference_tar(tmp_path / "ref")
    assert reference_tar(tmp_path / "new")[1] == want


def test_hash_only_and_export_give_the_reference_stream(tmp_path: Path) -> None:
    varied_tree(tmp_path / "src")
    data, digest = reference_tar(tmp_path / "src")
    assert layer_writer.diff_id(tmp_path / "src") == digest
    in_memory = io.BytesIO()  # no fileno: everything through write()
    layer_writer.write_tar(tmp_path / "src", in_memory)
    assert in_memory.getvalue() == data
    with open(tmp_path / "out.tar", "wb") as f:  # a file: written by offset, big data copied
        f.write(b"already here")  # export appends at the file's position
        layer_writer.write_tar(tmp_path / "src", f)
        f.write(b" and after")  # and leaves the position where writing in order would
    assert (tmp_path / "out.tar").read_bytes() == b"already here" + data + b" and after"
    with open(tmp_path / "appended.tar", "ab") as f:  # O_APPEND: offsets don't hold, in order
        layer_writer.write_tar(tmp_path / "src", f)
    assert (tmp_path / "appended.tar").read_bytes() == data
    read_end, write_end = os.pipe()  # a pipe: in order, big data by sendfile
    received = io.BytesIO()
    reader = threading.Thread(target=lambda: received.write(os.fdopen(read_end, "rb").read()))
    reader.start()
    with os.fdopen(write_end, "wb") as f:
        layer_writer.write_tar(tmp_path / "src", f)
    reader.join()
    assert received.getvalue() == data


@pytest.mark.system  # mounts a tmpfs
def test_export_into_another_file_system_gives_the_reference_stream(tmp_path: Path) -> None:
    """Export reads an overlay and writes elsewhere: copy_file_range refuses (EXDEV), the
    big files go by splice at their offsets, and the bytes are the same."""
    varied_tree(tmp_path / "src")
    data, _ = reference_tar(tmp_path / "src")
    other = tmp_path / "tmpfs"
    other.mkdir()
    libc.mount("tmpfs", str(other), "tmpfs", 0, "size=64m")
    try:
        with open(other / "out.tar", "wb") as f:
            layer_writer.write_tar(tmp_path / "src", f)
        assert (other / "out.tar").read_bytes() == data
    finally:
        libc.umount(str(other), libc.MNT_DETACH)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(NAME, min_size=1, max_size=3), OVERLAY_NODE), max_size=15))
def test_random_trees_copy_as_the_reference(
    entries: list[tuple[list[str], bytes | str | None]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        src.mkdir()
        for parts, node in entries:
            build(src, parts, node)
        want = reference_copy(src, Path(tmp, "ref"))
        Path(tmp, "new").mkdir()
        assert layer_writer.copy_layer(src, Path(tmp, "new"))[0] == want
        assert manifest(Path(tmp, "new")) == manifest(Path(tmp, "ref"))
        assert layer_writer.diff_id(src) == want


# --- copy_into_layer: fast path, fallback, failure ----------------------------


def test_names_that_extraction_reinterprets_take_the_reference_path(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "x").write_text("a file called x")
    (src / ".wh.y").write_text("a file a container named like a whiteout")
    (src / "d").mkdir()
    (src / "d/.wh..wh..opq").write_text("")
    (tmp_path / "unused").mkdir()
    with pytest.raises(layer_writer.NeedsReference):
        layer_writer.copy_layer(src, tmp_path / "unused")
    want = reference_copy(src, tmp_path / "ref")
    store = Store(tmp_path / "store")
    layer = layer_store.copy_into_layer(store, src, None, "test", "2024-01-02T03:04:05Z")
    assert layer.diff_id == want
    assert manifest(layer.diff_path) == manifest(tmp_path / "ref")
    assert layer.size == layers.dir_size(tmp_path / "ref")[0]


def test_a_failed_commit_leaves_no_layer_and_no_tmp_work(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("x")
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # refused, as before
    store = Store(tmp_path / "store")
    with pytest.raises(layers.UnsafeTarError, match="device nodes are not allowed"):
        layer_store.copy_into_layer(store, src, None, "test", "2024-01-02T03:04:05Z")
    assert not store.layers_dir.exists() or os.listdir(store.layers_dir) == []
    assert os.listdir(store.tmp_dir) == []


def test_a_directory_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    src = tmp_path / "src"
    src.mkdir()
    (src / "d").symlink_to(outside)
    with pytest.raises(OSError):  # a symlink where a directory is expected: not opened
        list(layers.walk_at(src / "d"))
    (tmp_path / "new").mkdir()
    layer_writer.copy_layer(src, tmp_path / "new")
    assert os.readlink(tmp_path / "new/d") == str(outside)  # copied as the link it is
    assert os.listdir(tmp_path / "new") == ["d"]


# --- a real container's commit, saved ------------------------------------------


@pytest.mark.system
def test_commit_of_a_real_container_matches_the_reference(engine: Engine, tmp_path: Path) -> None:
    script = (
        "mkdir -p /data/a/b && echo hi > /data/a/b/f && ln /data/a/b/f /data/hard"
        " && ln -s /data/a /data/sym && : > /data/empty && mkfifo /data/fifo"
        " && head -c 1000000 /dev/urandom > /data/big && chmod 4711 /data/a/b/f"
        " && rm /bin/ls && rm -rf /var/spool && mkdir -p /var/spool/new"
        " && touch '/data/caf\u00e9' && chown 12:34 /data/a"
    )
    container, _ = engine.run("busybox", CreateOptions(command=["sh", "-c", script], name="varied"))
    assert engine.wait(container.id) == 0
    upper = Path(engine.container("varied").upper_dir)
    want = reference_copy(upper, tmp_path / "ref")
    image_id = engine.commit("varied", "varied:1")
    top = engine.image(image_id).layers[-1]
    assert top.diff_id == want
    assert manifest(top.diff_path) == manifest(tmp_path / "ref")
    assert os.getxattr(top.diff_path / "var/spool", layers.OPAQUE_XATTR) == b"y"
    assert stat.S_ISCHR(os.lstat(top.diff_path / "bin/ls").st_mode)
    with open(tmp_path / "saved.tar", "wb") as out:
        engine.save(["varied:1"], out)
    with tarfile.open(tmp_path / "saved.tar") as saved:
        blob = saved.extractfile(f"blobs/sha256/{want.removeprefix('sha256:')}")
        assert blob is not None
        assert blob.read() == reference_tar(tmp_path / "ref")[0]
