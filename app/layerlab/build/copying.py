"""COPY and ADD's far end: a source written into a container's mounted union, as Docker places it.

Docker's copier decides where a source lands (into a directory or as a new
name), makes missing directories owned by --chown's user, extracts a local tar
for ADD, and refuses names that would be whiteouts in the layer. The union is
the container's rootfs, so every path is resolved inside it and no directory
is made through a symlink.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
from pathlib import Path

from layerlab.build.context import (
    Source,
    extract_stream,
    is_archive,
    open_file,
    scoped_resolve,
    write_tar,
)
from layerlab.errors import BuildError
from layerlab.layerfs import layers


def place(merged: Path, source: Source, dest: str, owner: tuple[int, int], keyword: str) -> None:
    """Write one COPY/ADD source into a mounted union at `dest`, as Docker's copier places it."""
    reserved = f"names starting with {layers.WHITEOUT_PREFIX} are reserved for layer whiteouts"
    for entry in source.entries:
        if posixpath.basename(entry.rel).startswith(layers.WHITEOUT_PREFIX):
            raise BuildError(f"{keyword} failed: {entry.rel}: {reserved}")
    target = scoped_resolve(merged, dest)
    if source.is_dir:
        directory = ensure_dir(merged, target, *owner)
        named = [(e.rel, e) for e in source.entries]
        extract_stream(directory, lambda out: write_tar(out, named, owner))
        return
    if keyword == "ADD" and is_archive(source.path):
        directory = ensure_dir(merged, target, *owner)
        with open_file(source.path) as archive:
            layers.extract_layer_tar(archive, directory)
        return
    into_dir = dest.endswith("/") or stat.S_ISDIR(
        _lstat_mode(merged.joinpath(target) if target else merged)
    )
    if into_dir:
        parent, name = target, source.name
    else:
        parent, name = posixpath.dirname(target), posixpath.basename(target)
    if name.startswith(layers.WHITEOUT_PREFIX):
        raise BuildError(f"{keyword} failed: {name}: {reserved}")
    directory = ensure_dir(merged, parent, *owner)
    single = [(name, source.entries[0])]
    extract_stream(directory, lambda out: write_tar(out, single, owner))


def ensure_dir(root: Path, rel: str, uid: int, gid: int) -> Path:
    """mkdir -p root/rel, new directories 0755 and owned by uid:gid; never through a symlink."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = [p for p in rel.split("/") if p]
        os.close(layers.open_dir(root_fd, parts, create=True, owner=(uid, gid)))
    except NotADirectoryError as exc:  # its filename: the path up to the culprit
        raise BuildError(f"mkdir /{exc.filename}: not a directory") from None
    finally:
        os.close(root_fd)
    return root.joinpath(rel) if rel else root


def lookup_owner(root: Path, chown: str) -> tuple[int, int]:
    """`--chown=user[:group]`, names or numbers, as the image's /etc/passwd and /etc/group say."""
    user, _, group = chown.partition(":")
    return _lookup_id(root, "passwd", user, "uid"), _lookup_id(root, "group", group or user, "gid")


def _lookup_id(root: Path, table: str, name: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    rel = scoped_resolve(root, f"etc/{table}")
    with contextlib.suppress(OSError):
        for line in root.joinpath(rel).read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                return int(fields[2])
    raise BuildError(
        f"unable to convert uid/gid chown string to host mapping: can't find {what} for "
        f"{'user' if what == 'uid' else 'group'} {name}: no such "
        f"{'user' if what == 'uid' else 'group'}: {name}"
    )


def _lstat_mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0
