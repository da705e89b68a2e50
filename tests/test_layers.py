"""Layer tars: canonical bytes, overlay <-> OCI whiteouts, and extraction of hostile tars."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerlab.layerfs.layers import (
    OPAQUE_XATTR,
    UnsafeTarError,
    chain_id,
    dir_size,
    extract_layer_tar,
    layer_diff_id,
    walk_at,
    write_layer_tar,
)
from tests.trees import NAME, NODE, build

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown, mknod, trusted.*"),
    pytest.mark.unit,
]

# --- helpers ----------------------------------------------------------------


def manifest(root: Path) -> list[tuple[object, ...]]:
    """Everything a layer records about each entry, in a comparable form."""
    rows: list[tuple[object, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            s = os.lstat(path)
            is_reg, is_dir = stat.S_ISREG(s.st_mode), stat.S_ISDIR(s.st_mode)
            opaque = False
            if is_dir:
                with contextlib.suppress(OSError):
                    opaque = os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
            rows.append(
                (
                    os.path.relpath(path, root),
                    stat.filemode(s.st_mode),  # type and permissions, setuid/sticky included
                    s.st_uid,
                    s.st_gid,
                    s.st_mtime_ns // 1_000_000_000,
                    s.st_size if is_reg else None,
                    hashlib.sha256(Path(path).read_bytes()).hexdigest() if is_reg else None,
                    os.readlink(path) if stat.S_ISLNK(s.st_mode) else None,
                    opaque,
                    stat.S_ISCHR(s.st_mode) and s.st_rdev == 0,  # an overlay whiteout
                )
            )
    return sorted(rows)


def tar_bytes(src: Path) -> tuple[bytes, str]:
    buf = io.BytesIO()
    digest = write_layer_tar(src, buf)
    return buf.getvalue(), digest


def make_tar(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    """A hand-made (possibly hostile) tar in memory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    buf.seek(0)
    return buf


def member(
    name: str, type_: bytes = tarfile.REGTYPE, linkname: str = "", dev: tuple[int, int] = (0, 0)
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = type_, linkname, 0o644
    info.devmajor, info.devminor = dev
    return info


def rich_tree(root: Path) -> None:
    """Every kind of entry a layer can hold, with awkward metadata."""
    root.mkdir()
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.link(root / "etc/passwd", root / "etc/passwd-")
    (root / "bin").mkdir(mode=0o755)
    (root / "bin/su").write_bytes(b"\x7fELF" * 100)
    os.chown(root / "bin/su", 1000, 1000)
    os.chmod(root / "bin/su", 0o6755)  # after chown, which clears setuid/setgid
    (root / "bin/sh").symlink_to("/bin/busybox")
    (root / "bin/ls").symlink_to("../usr/bin/ls")
    (root / "home/user").mkdir(parents=True)
    (root / "home/user/notes").write_bytes(os.urandom(70_000))
    os.chown(root / "home/user", 1000, 1000)
    os.chown(root / "home/user/notes", 1000, 1000)
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    os.mkfifo(root / "tmp/fifo", 0o640)
    os.mknod(root / "tmp/deleted", stat.S_IFCHR, os.makedev(0, 0))  # overlay whiteout
    (root / "var/cache").mkdir(parents=True)
    (root / "var/cache/fresh").write_text("new")
    os.setxattr(root / "var/cache", OPAQUE_XATTR, b"y")
    (root / ("long-" + "x" * 150)).write_text("pax path header")
    (root / "caf\u00e9").write_text("non-ASCII name")
    Path(os.fsdecode(bytes(root) + b"/raw-\xff")).write_text("undecodable name")
    (root / "empty").write_bytes(b"")
    for i, path in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i), follow_symlinks=False)


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path]:
    """(dest, outside): hostile tars extract into dest and must leave outside alone."""
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    return dest, outside


def assert_contained(dest: Path, outside: Path) -> None:
    assert sorted(os.listdir(dest.parent)) == ["dest", "outside"]
    assert os.listdir(outside) == []


# --- canonical writing ------------------------------------------------------


def test_same_tree_gives_same_bytes_and_diff_id(tmp_path: Path) -> None:
    rich_tree(tmp_path / "src")
    first, digest1 = tar_bytes(tmp_path / "src")
    second, digest2 = tar_bytes(tmp_path / "src")
    assert first == second
    assert digest1 == digest2 == "sha256:" + hashlib.sha256(first).hexdigest()
    assert layer_diff_id(tmp_path / "src") == digest1


def test_touching_an_mtime_changes_the_diff_id(tmp_path: Path) -> None:
    rich_tree(tmp_path / "src")
    before = layer_diff_id(tmp_path / "src")
    os.utime(tmp_path / "src/empty", (1, 1))
    assert layer_diff_id(tmp_path / "src") != before


def ustar_header(
    name: str, typeflag: bytes, mode: int, mtime: int, size: int = 0, link: str = ""
) -> bytes:
    """A ustar header block written from the POSIX spec, independently of tarfile."""

    def num(value: int, width: int) -> bytes:
        return b"%0*o\0" % (width - 1, value)

    block = b"".join(
        [
            name.encode().ljust(100, b"\0"),
            num(mode, 8),
            num(0, 8),  # uid
            num(0, 8),  # gid
            num(size, 12),
            num(mtime, 12),
            b" " * 8,  # checksum placeholder
            typeflag,
            link.encode().ljust(100, b"\0"),
            b"ustar\x0000",
            b"\0" * 64,  # uname, gname: empty
            b"\0" * 16,  # devmajor, devminor: only for devices
        ]
    ).ljust(512, b"\0")
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def test_known_tree_has_known_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d/hello").write_bytes(b"hi\n")
    (src / "link").symlink_to("d/hello")
    os.chmod(src / "d", 0o755)
    os.chmod(src / "d/hello", 0o644)
    for path, mtime in (("d/hello", 1_000_000_001), ("d", 1_000_000_002), ("link", 1_000_000_003)):
        os.utime(src / path, (mtime, mtime), follow_symlinks=False)

    expected = b"".join(
        [
            ustar_header("d/", b"5", 0o755, 1_000_000_002),
            ustar_header("d/hello", b"0", 0o644, 1_000_000_001, size=3),
            b"hi\n".ljust(512, b"\0"),
            ustar_header("link", b"2", 0o777, 1_000_000_003, link="d/hello"),
            b"\0" * 1024,
        ]
    )
    data, digest = tar_bytes(src)
    assert data == expected
    assert digest == "sha256:" + hashlib.sha256(expected).hexdigest()


def test_overlay_whiteouts_become_oci_whiteouts(tmp_path: Path) -> None:
    rich_tree(tmp_path / "src")
    data, _ = tar_bytes(tmp_path / "src")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names.index("var/cache/.wh..wh..opq") == names.index("var/cache") + 1
    whiteout = members[names.index("tmp/.wh.deleted")]
    assert whiteout.isreg() and whiteout.size == 0
    assert "tmp/deleted" not in names
    assert members[names.index("etc/passwd-")].islnk()
    assert all(m.uname == m.gname == "" for m in members)
    # Only the pax records that long, non-ASCII and undecodable names need: no xattrs, no times.
    assert {key for m in members for key in m.pax_headers} == {"path", "hdrcharset"}


def test_chain_id_follows_the_oci_definition() -> None:
    d0, d1, d2 = ("sha256:" + hashlib.sha256(s).hexdigest() for s in (b"0", b"1", b"2"))
    c1 = "sha256:" + hashlib.sha256(f"{d0} {d1}".encode()).hexdigest()
    c2 = "sha256:" + hashlib.sha256(f"{c1} {d2}".encode()).hexdigest()
    assert chain_id(None, d0) == d0
    assert chain_id(chain_id(None, d0), d1) == c1
    assert chain_id(c1, d2) == c2


def test_dir_size_counts_hardlinks_once_and_symlinks_not_their_targets(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub/b").write_bytes(b"y" * 24)
    os.link(tmp_path / "a", tmp_path / "sub/a-again")
    (tmp_path / "big-link").symlink_to("/etc/passwd")
    # Docker's directory.Size: the link's own 11 bytes ("/etc/passwd"), not its target's
    assert dir_size(tmp_path) == (1024 + 11, 5)


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(64 << 20)
    tracemalloc.start()
    try:
        layer_diff_id(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


# --- the walk -----------------------------------------------------------------


def test_walk_order_is_bytewise_with_each_directory_before_its_children(tmp_path: Path) -> None:
    for rel in ("b/z", "b/a/x", "B", "a-", "a/y", "\u00e9"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    walked = [entry.rel for entry in walk_at(tmp_path)]
    assert walked == ["B", "a", "a/y", "a-", "b", "b/a", "b/a/x", "b/z", "\u00e9"]


def test_walk_stats_files_on_demand_and_directories_by_their_open_fd(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/f").write_text("data")
    (tmp_path / "link").symlink_to("d/f")
    for stat_files in (True, False):
        seen = {}
        for entry in walk_at(tmp_path, stat_files=stat_files):
            if entry.rel == "d":
                assert entry.fd >= 0 and os.path.samestat(entry.st, os.fstat(entry.fd))
            else:
                assert entry.fd == -1
            seen[entry.rel] = (entry.is_file(), stat.S_IFMT(entry.st.st_mode), entry.st.st_size)
        assert seen == {
            "d": (False, stat.S_IFDIR, seen["d"][2]),
            "d/f": (True, stat.S_IFREG, 4),
            "link": (False, stat.S_IFLNK, 3),  # the link itself, never its target
        }


def test_a_directory_swapped_for_a_symlink_mid_walk_is_taken_as_the_symlink(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "a").write_text("first")
    walk = walk_at(src)
    assert next(walk).rel == "a"  # "b" is listed as a directory by now
    os.rmdir(src / "b")
    (src / "b").symlink_to(outside)
    rest = [(entry.rel, stat.S_ISLNK(entry.st.st_mode), entry.fd) for entry in walk]
    assert rest == [("b", True, -1)]  # nothing of outside/ comes through


def test_a_file_gone_mid_walk_is_left_out(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text(name)
    walk = walk_at(tmp_path)
    assert next(walk).rel == "a"
    (tmp_path / "b").unlink()
    assert [entry.rel for entry in walk] == ["c"]


# --- extraction -------------------------------------------------------------


def test_round_trip_keeps_every_detail(tmp_path: Path) -> None:
    rich_tree(tmp_path / "src")
    data, digest = tar_bytes(tmp_path / "src")
    (tmp_path / "dest").mkdir()
    extract_layer_tar(io.BytesIO(data), tmp_path / "dest")
    assert manifest(tmp_path / "dest") == manifest(tmp_path / "src")
    passwd = os.lstat(tmp_path / "dest/etc/passwd")
    assert passwd.st_nlink == 2
    assert passwd.st_ino == os.lstat(tmp_path / "dest/etc/passwd-").st_ino
    assert layer_diff_id(tmp_path / "dest") == digest


def test_gzip_layers_are_detected_by_magic(tmp_path: Path) -> None:
    rich_tree(tmp_path / "src")
    data, _ = tar_bytes(tmp_path / "src")
    (tmp_path / "dest").mkdir()
    extract_layer_tar(io.BytesIO(gzip.compress(data)), tmp_path / "dest")
    assert manifest(tmp_path / "dest") == manifest(tmp_path / "src")


def test_later_members_replace_earlier_ones(tmp_path: Path) -> None:
    tar = make_tar(
        (member("a"), b"file"),
        (member("a/", tarfile.DIRTYPE), b""),
        (member("a/b"), b"in a dir now"),
        (member("d/", tarfile.DIRTYPE), b""),
        (member("d/child"), b""),
        (member("d"), b"a file now"),
        (member("k/", tarfile.DIRTYPE), b""),
        (member("k/kept"), b""),
        (member("k/", tarfile.DIRTYPE), b""),
        (member("s", tarfile.SYMTYPE, "/etc"), b""),
        (member("s"), b"the symlink is replaced, not followed"),
    )
    extract_layer_tar(tar, tmp_path)
    assert (tmp_path / "a/b").read_bytes() == b"in a dir now"
    assert (tmp_path / "d").read_bytes() == b"a file now"
    assert (tmp_path / "k/kept").exists()
    assert not (tmp_path / "s").is_symlink()


def test_oci_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    extract_layer_tar(make_tar((member("gone"), b"x"), (member("dir/old"), b"")), tmp_path)
    extract_layer_tar(
        make_tar((member(".wh.gone"), b""), (member("dir/.wh..wh..opq"), b"")), tmp_path
    )
    gone = os.lstat(tmp_path / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(tmp_path / "dir", OPAQUE_XATTR) == b"y"
    assert not (tmp_path / ".wh.gone").exists()
    assert not (tmp_path / "dir/.wh..wh..opq").exists()


def test_absolute_names_land_inside_dest(box: tuple[Path, Path]) -> None:
    dest, outside = box
    extract_layer_tar(make_tar((member("/abs/evil"), b"x"), (member("./rel"), b"y")), dest)
    assert (dest / "abs/evil").read_bytes() == b"x"
    assert (dest / "rel").read_bytes() == b"y"
    assert not Path("/abs").exists()
    assert_contained(dest, outside)


HOSTILE = {
    "dotdot": lambda out: [(member("../evil"), b"x")],
    "dotdot-inside": lambda out: [(member("a/../../evil"), b"x")],
    "symlink-out": lambda out: [
        (member("link", tarfile.SYMTYPE, str(out)), b""),
        (member("link/evil"), b"x"),
    ],
    "symlink-up": lambda out: [
        (member("link", tarfile.SYMTYPE, ".."), b""),
        (member("link/outside/evil"), b"x"),
    ],
    "hardlink-abs": lambda out: [(member("pw", tarfile.LNKTYPE, "/etc/passwd"), b"")],
    "hardlink-dotdot": lambda out: [(member("pw", tarfile.LNKTYPE, "../outside/x"), b"")],
    "hardlink-via-symlink": lambda out: [
        (member("etc", tarfile.SYMTYPE, "/etc"), b""),
        (member("pw", tarfile.LNKTYPE, "etc/passwd"), b""),
    ],
    "hardlink-to-symlink": lambda out: [
        (member("s", tarfile.SYMTYPE, "/etc/passwd"), b""),
        (member("pw", tarfile.LNKTYPE, "s"), b""),
    ],
    "hardlink-to-dir": lambda out: [
        (member("d/", tarfile.DIRTYPE), b""),
        (member("pw", tarfile.LNKTYPE, "d"), b""),
    ],
    "char-device": lambda out: [(member("null", tarfile.CHRTYPE, dev=(1, 3)), b"")],
    "block-device": lambda out: [(member("sda", tarfile.BLKTYPE, dev=(8, 0)), b"")],
    "whiteout-dotdot": lambda out: [(member("a/.wh..."), b"")],
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_tars_are_refused(case: str, box: tuple[Path, Path]) -> None:
    dest, outside = box
    members = HOSTILE[case](outside)
    passwd_links = os.stat("/etc/passwd").st_nlink
    with pytest.raises(UnsafeTarError) as err:
        extract_layer_tar(make_tar(*members), dest)
    message = str(err.value)
    assert "\n" not in message and repr(members[-1][0].name) in message
    assert_contained(dest, outside)
    assert os.stat("/etc/passwd").st_nlink == passwd_links
    assert not (dest / "null").exists() and not (dest / "pw").exists()


def test_hardlink_to_a_file_outside_is_refused(box: tuple[Path, Path]) -> None:
    dest, outside = box
    (outside / "secret").write_text("s")
    with pytest.raises(UnsafeTarError):
        extract_layer_tar(make_tar((member("x", tarfile.LNKTYPE, "../outside/secret"), b"")), dest)
    assert os.stat(outside / "secret").st_nlink == 1
    assert os.listdir(dest) == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"this is not a tar archive\n" * 100, id="not-a-tar"),
        pytest.param(b"", id="empty"),
        pytest.param(make_tar((member("f"), os.urandom(5000))).getvalue()[:3000], id="truncated"),
        pytest.param(
            gzip.compress(make_tar((member("f"), os.urandom(5000))).getvalue())[:3000],
            id="truncated-gzip",
        ),
    ],
)
def test_corrupt_tars_are_refused(data: bytes, box: tuple[Path, Path]) -> None:
    dest, outside = box
    with pytest.raises(UnsafeTarError, match="not a valid tar archive"):
        extract_layer_tar(io.BytesIO(data), dest)
    assert_contained(dest, outside)


def test_member_count_does_not_grow_memory(tmp_path: Path) -> None:
    tar = make_tar(*[(member("./", tarfile.DIRTYPE), b"")] * 20_000)
    tracemalloc.start()
    try:
        extract_layer_tar(tar, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20


# --- properties -------------------------------------------------------------


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(NAME, min_size=1, max_size=3), NODE), max_size=15))
def test_random_trees_round_trip(entries: list[tuple[list[str], bytes | str | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, dest = Path(tmp, "src"), Path(tmp, "dest")
        src.mkdir()
        dest.mkdir()
        for parts, node in entries:
            build(src, parts, node)
        data, digest = tar_bytes(src)
        extract_layer_tar(io.BytesIO(data), dest)
        assert manifest(dest) == manifest(src)
        assert layer_diff_id(dest) == digest


COMPONENT = st.sampled_from(["..", ".", "", "a", "b", "link", "up", ".wh.a", ".wh..."])
HOSTILE_NAME = st.lists(COMPONENT, min_size=1, max_size=5).map("/".join)
TARGET = st.sampled_from(["..", "../..", "/", "OUTSIDE", "a", "../outside", "link/a", "up/.."])
KIND = st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE])


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(HOSTILE_NAME, KIND, TARGET), min_size=1, max_size=8))
def test_random_names_never_escape_dest(entries: list[tuple[str, bytes, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dest, outside = Path(tmp, "dest"), Path(tmp, "outside")
        dest.mkdir()
        outside.mkdir()
        members = []
        for name, kind, target in entries:
            link = str(outside) if target == "OUTSIDE" else target
            members.append((member(name, kind, link), b"x" if kind == tarfile.REGTYPE else b""))
        with contextlib.suppress(UnsafeTarError):
            extract_layer_tar(make_tar(*members), dest)
        assert_contained(dest, outside)
