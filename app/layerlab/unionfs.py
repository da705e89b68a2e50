"""The union filesystem: overlay mounts and what a writable layer changed.

A container's writable layer is an overlay `upperdir`. Reading it directly
answers the article's questions: what did this container add (A), change (C)
or delete (D)? A 0/0 character device is overlay's whiteout (a deletion); a
directory with the `trusted.overlay.opaque` xattr hides everything below it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from layerlab import libc

OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True)
class Change:
    kind: str  # "A" added, "C" changed, "D" deleted - as `docker diff` prints
    path: str  # absolute path inside the container
    opaque: bool = False  # a directory whose lower contents are hidden

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def mount_overlay(lowers: Sequence[Path], upper: Path, work: Path, merged: Path) -> None:
    """Mount the union: `lowers` top first (overlay's order), `upper` on top of them all."""
    lowerdir = ":".join(str(p) for p in lowers)
    options = f"lowerdir={lowerdir},upperdir={upper},workdir={work}"
    libc.mount("overlay", str(merged), "overlay", 0, options)


def mount_readonly(layers: Sequence[Path], target: Path) -> None:
    """A read-only union of `layers` (top first): overlay with lower dirs only."""
    libc.mount("overlay", str(target), "overlay", libc.MS_RDONLY,
               "lowerdir=" + ":".join(str(p) for p in layers))  # fmt: skip


def unmount(merged: Path) -> None:
    """Detach the union if it is mounted; a missing or unmounted path is fine."""
    if os.path.ismount(merged):
        libc.umount(str(merged), libc.MNT_DETACH)


def _exists_below(rel: str, lowers: Sequence[Path]) -> bool:
    for lower in lowers:
        try:
            st = os.lstat(lower / rel)
        except (FileNotFoundError, NotADirectoryError):
            continue
        return not is_whiteout(st)
    return False


def changes(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """Every entry of the writable layer as A/C/D, sorted by path like `docker diff`."""
    return sorted(iter_changes(upper, lowers), key=lambda c: c.path)


def iter_changes(upper: Path, lowers: Sequence[Path]) -> Iterator[Change]:
    stack: list[tuple[str, bool]] = [("", False)]  # (relative dir, whole subtree is new)
    while stack:
        rel_dir, new_subtree = stack.pop()
        try:
            entries = list(os.scandir(upper / rel_dir))
        except FileNotFoundError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            st = entry.stat(follow_symlinks=False)
            opaque = False
            if is_whiteout(st):
                kind = "D"
            elif new_subtree or not _exists_below(rel, lowers):
                kind = "A"
            else:
                kind = "C"
            if stat.S_ISDIR(st.st_mode):
                opaque = is_opaque(entry.path)
                stack.append((rel, kind == "A"))
            yield Change(kind, "/" + rel, opaque)


def create_init_layer(init: Path) -> None:
    """Docker's `<id>-init` layer: mount points the runtime needs, kept out of the diff.

    Without it runc would create /proc, /dev, /sys and /etc/hostname in the
    writable layer and `diff` would report them as the container's own changes.
    """
    for d in ("dev/pts", "dev/shm", "dev/mqueue", "proc", "sys", "etc"):
        (init / d).mkdir(parents=True, exist_ok=True)
    for f in ("etc/hostname", "etc/hosts", "etc/resolv.conf"):
        (init / f).touch()
    os.chmod(init / "proc", 0o555)
    os.chmod(init / "sys", 0o555)


def write_etc_files(container_dir: Path, hostname: str) -> None:
    """The files Docker bind-mounts over /etc/hostname, /etc/hosts and /etc/resolv.conf."""
    (container_dir / "hostname").write_text(hostname + "\n")
    (container_dir / "hosts").write_text(
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )
    # No network beyond loopback yet: an empty resolver config, not the host's.
    (container_dir / "resolv.conf").write_text("")
