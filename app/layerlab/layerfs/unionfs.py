"""The union filesystem: overlay mounts and what a writable layer changed.

A container's writable layer is an overlay `upperdir`. Reading it directly
answers the article's questions: what did this container add (A), change (C)
or delete (D)? A 0/0 character device is overlay's whiteout (a deletion); a
directory with the `trusted.overlay.opaque` xattr hides everything below it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerlab import libc

OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True)
class Change:
    kind: str  # "A" added, "C" changed, "D" deleted - as `docker diff` prints
    path: str  # absolute path inside the container
    opaque: bool = False  # a directory whose lower contents are hidden
    masked: bool = False  # deleted by the opaque directory above it: no whiteout of its own
    size: int = field(default=0, compare=False)  # a regular file's bytes (for sorting by size)

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
    _mount(merged, 0, lowers, upper, work)


def mount_readonly(layers: Sequence[Path], target: Path) -> None:
    """A read-only union of `layers` (top first): overlay with lower dirs only."""
    _mount(target, libc.MS_RDONLY, layers)


def _mount(
    target: Path, flags: int, lowers: Sequence[Path], upper: Path | None = None,
    work: Path | None = None,
) -> None:  # fmt: skip
    """The overlay mount, its options within one page (4096 bytes) however deep the image:
    as Docker's overlay2 does, each store layer goes by its short link (`l/<26 digits>`),
    given relative to the links folder, and the mount is made from inside that folder
    (all else relative to it too: the store's own path adds nothing). 125 layers fit."""
    from layerlab.storage.store import layer_link  # on use: the TUI's first frame reads no store

    links = [layer_link(lower) for lower in lowers]
    base = next((link.parent for link in links if link is not None), Path("/"))
    names = [_short(lower, base, link) for lower, link in zip(lowers, links, strict=True)]
    options = "lowerdir=" + ":".join(names)
    if upper is not None and work is not None:
        options += f",upperdir={_short(upper, base)},workdir={_short(work, base)}"
    _in_folder(base, lambda: libc.mount("overlay", str(target), "overlay", flags, options))


def _short(path: Path, base: Path, link: Path | None = None) -> str:
    """How a mount made from `base` names `path`: by its short link, else relative to
    `base` within the store, else whole."""
    if link is not None and link.parent == base:
        from layerlab.storage.store import ensure_link

        ensure_link(link, path)
        return link.name
    rel = os.path.relpath(path, base)
    return str(path) if rel.startswith("../../") else rel


def _in_folder(folder: Path, call: Callable[[], None]) -> None:
    """`call()` with `folder` as its working directory, in a thread of its own that stops
    sharing the working directory (unshare CLONE_FS) first: the process's own, and every
    other thread's, never change."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            libc.unshare(libc.CLONE_FS)
            os.chdir(folder)
            call()
        except BaseException as exc:  # handed to the caller
            failed.append(exc)

    thread = threading.Thread(target=run, name="mount")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


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


def masked(rel: str, names: set[str], lowers: Sequence[Path]) -> Iterator[Change]:
    """What the layers below hold in directory `rel` that an opaque directory there hides,
    as deletions (D), but for the `names` it holds itself: Docker's overlay2 diff lists
    each as deleted (`rm -rf /app && mkdir /app` deletes /app's files)."""
    seen = set(names)
    for lower in lowers:
        folder = lower / rel
        try:
            st = os.lstat(folder)
            listing = [] if not stat.S_ISDIR(st.st_mode) else list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISDIR(st.st_mode):
            return  # a file or a whiteout here hides the deeper layers' directory
        for entry in sorted(listing, key=lambda e: e.name):
            if entry.name not in seen:
                seen.add(entry.name)
                if not is_whiteout(entry.stat(follow_symlinks=False)):
                    yield Change("D", f"/{rel}/{entry.name}", masked=True)
        if is_opaque(folder):
            return


def changes(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """Every entry of the writable layer as A/C/D, sorted by path like `docker diff`."""
    return sorted(iter_changes(upper, lowers), key=lambda c: c.path)


def iter_changes(upper: Path, lowers: Sequence[Path]) -> Iterator[Change]:
    """The writable layer's entries as A/C/D, read relative to directory fds (`walk_at`):
    a container swapping a directory for a symlink never turns the walk to the host."""
    from layerlab.layerfs import (
        layers,  # tarfile's module: loaded by what reads layers, not by `run`
    )

    new_dirs: set[str] = set()  # directories whose whole subtree is new
    try:
        walk = layers.walk_at(upper)
        for entry in walk:
            rel = entry.rel
            parent = rel.rpartition("/")[0]
            is_dir = stat.S_ISDIR(entry.st.st_mode)
            if is_whiteout(entry.st):
                kind = "D"
            elif parent in new_dirs or not _exists_below(rel, lowers):
                kind = "A"
            else:
                kind = "C"
            opaque = is_dir and entry.fd >= 0 and layers.is_opaque_fd(entry.fd)
            if is_dir and kind == "A":
                new_dirs.add(rel)
            size = entry.st.st_size if stat.S_ISREG(entry.st.st_mode) else 0
            yield Change(kind, "/" + rel, opaque, size=size)
            if opaque:
                yield from masked(rel, set(os.listdir(entry.fd)), lowers)
    except (FileNotFoundError, NotADirectoryError):  # the layer went meanwhile
        return


@dataclass(frozen=True)
class WritableLayer:
    """A container's writable layer and the paths around it (moby's `RWLayer`).

    `upper` is overlay's upperdir (`containers/<id>/diff`, where the
    container's writes land), `work` its workdir, `merged` the union's mount
    point, `init` the init layer right below the upper one, and `lowers` every
    read-only layer of the union, top first (the init layer, then the image's).
    Everything here reads or mounts; the engine decides when.
    """

    upper: Path
    work: Path
    merged: Path
    init: Path
    lowers: tuple[Path, ...]

    @classmethod
    def from_graph_driver(cls, data: Mapping[str, Any]) -> WritableLayer:
        """From a container record's `GraphDriver.Data` (`LowerDir`, `UpperDir`, ...)."""
        lowers = tuple(Path(p) for p in str(data["LowerDir"]).split(":") if p)
        upper = Path(data["UpperDir"])
        return cls(
            upper=upper,
            work=Path(data["WorkDir"]),
            merged=Path(data["MergedDir"]),
            init=lowers[0] if lowers else upper.parent / "init",
            lowers=lowers,
        )

    @property
    def image_lowers(self) -> tuple[Path, ...]:
        """The image's layers only, top first (without the init layer)."""
        return tuple(p for p in self.lowers if p != self.init)

    def is_mounted(self) -> bool:
        return os.path.ismount(self.merged)

    def mount(self) -> None:
        """Mount the union at `merged`: the writable layer on top of `lowers`."""
        mount_overlay(self.lowers, self.upper, self.work, self.merged)

    def unmount(self) -> None:
        """Take the union down; fine if it is not mounted."""
        unmount(self.merged)

    @contextlib.contextmanager
    def readonly_view(self, target: Path) -> Iterator[Path]:
        """The merged view at `target`, read-only, for as long as the block runs.

        A mounted union is used as it is; otherwise the writable layer is stacked
        read-only on the others (nothing is written to it).
        """
        if self.is_mounted():
            yield self.merged
            return
        mount_readonly([self.upper, *self.lowers], target)
        try:
            yield target
        finally:
            unmount(target)

    def changes(self) -> list[Change]:
        """What the container added, changed and deleted - `docker diff`."""
        return changes(self.upper, self.lowers)

    def size(self) -> tuple[int, int]:
        """(bytes, entries) of the writable layer, as `ps -s` counts the upper dir."""
        from layerlab.layerfs import layers

        try:
            return layers.dir_size(self.upper)
        except FileNotFoundError:  # the container went meanwhile
            return 0, 0


def create_init_layer(init: Path) -> None:
    """Docker's `<id>-init` layer: mount points the runtime needs, kept out of the diff.

    Without it runc would create /proc, /dev, /sys and /etc/hostname in the
    writable layer and `diff` would report them as the container's own changes.
    """
    for d in ("dev/pts", "dev/shm", "dev/mqueue", "proc", "sys", "etc"):
        (init / d).mkdir(parents=True, exist_ok=True)
    for f in ("etc/hostname", "etc/hosts", "etc/resolv.conf"):
        (init / f).touch()
    (init / ".dockerenv").touch(mode=0o755)  # as Docker's init layer has it: not in `diff`
    os.chmod(init / ".dockerenv", 0o755)
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


def _entry_kind(path: Path, st: os.stat_result) -> str:
    if is_whiteout(st):
        return "whiteout"
    if stat.S_ISDIR(st.st_mode):
        return "opaque" if is_opaque(path) else "dir"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    return "file" if stat.S_ISREG(st.st_mode) else "other"


def provenance(upper: Path, lowers: Sequence[Path], path: str) -> list[tuple[Path, str]]:
    """Which layers hold `path` of the merged view, top-down, as (layer dir, kind).

    The first entry supplies what the container sees; the ones below are the
    lower copies it shadows (directories merge instead). Kinds: `file`, `dir`,
    `symlink`, `other`, `whiteout` (deleted from here down), `opaque` (a
    directory hiding everything below it). The walk stops where overlay stops
    looking: at a whiteout, below an opaque directory, and where an ancestor is
    not a directory (a whiteout or a file replaced the whole subtree).
    """
    parts = [p for p in path.split("/") if p]
    found: list[tuple[Path, str]] = []
    for layer in [upper, *lowers]:
        hides_below = False
        for depth in range(1, len(parts)):
            ancestor = layer.joinpath(*parts[:depth])
            try:
                st = os.lstat(ancestor)
            except (FileNotFoundError, NotADirectoryError):
                break
            kind = _entry_kind(ancestor, st)
            if kind not in ("dir", "opaque"):
                return found
            hides_below = hides_below or kind == "opaque"
        else:  # every ancestor is a directory in this layer: look at the path itself
            target = layer.joinpath(*parts)
            try:
                st = os.lstat(target)
            except (FileNotFoundError, NotADirectoryError):
                pass
            else:
                kind = _entry_kind(target, st)
                found.append((layer, kind))
                if kind in ("whiteout", "opaque"):
                    return found
        if hides_below:
            return found
    return found
