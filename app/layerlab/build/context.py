"""The build context: the files COPY and ADD read, found as Docker's builder finds them.

Context files are untrusted. Every source path is resolved inside its root as
if the root were `/` (symlinks followed only within it), .dockerignore decides
what the context holds, wildcards match as Go's filepath.Match, and a source's
content hash (its entries' type, mode, size and bytes) is what the build cache
compares. Files travel to a container as a tar stream through the store's safe
extractor (layers.extract_layer_tar), which never writes outside its target.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from layerlab.build.dockerignore import IgnoreMatcher
from layerlab.errors import BuildError
from layerlab.presentation.humanize import human_size
from layerlab.runtime.pipes import produced_by

_CHUNK = 1 << 20
_WILDCARD = re.compile(r"(?<!\\)[*?\[]")


def scoped_resolve(root: Path, path: str) -> str:
    """Resolve `path` as if `root` were `/`: symlinks are followed but never out of `root`.

    Returns the path relative to `root`, with no symlink among its existing
    components (Docker's FollowSymlinkInScope).
    """
    pending = [p for p in path.split("/") if p not in ("", ".")]
    pending.reverse()
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise BuildError(f"{path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        resolved.append(part)
    return "/".join(resolved)


@dataclass(repr=False, eq=False)  # cheap to define: this module loads on every build
class Entry:
    """A file or directory of a source, with its lstat."""

    rel: str  # below the source directory ("" for the source itself)
    path: str  # on the host
    st: os.stat_result


@dataclass(repr=False, eq=False)
class Source:
    """One thing a COPY/ADD copies: a file or a directory tree, and its content hash."""

    name: str  # the base name as written (a symlink's own name, not its target's)
    path: Path
    is_dir: bool
    entries: list[Entry]  # for a directory: its contents, parents first
    hash: str


class SourceRoot:
    """Where COPY reads from: the build context (with .dockerignore) or an image's rootfs."""

    def __init__(self, root: Path, ignore: IgnoreMatcher | None, label: str) -> None:
        self.root = root
        self.ignore = ignore
        self.label = label

    def _hidden(self, rel: str) -> bool:
        return self.ignore is not None and self.ignore.excluded(rel)

    def walk(self, rel: str) -> list[Entry]:
        """Everything below root/rel that the context holds, sorted, never following symlinks."""
        found: list[Entry] = []
        base = self.root.joinpath(rel) if rel else self.root
        self._walk_into(base, rel, "", found)
        return found

    def _walk_into(self, directory: Path, ctx_rel: str, rel: str, found: list[Entry]) -> bool:
        try:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            raise BuildError(
                f"{self.label}: cannot read {ctx_rel or '.'}: {exc.strerror}"
            ) from None
        any_kept = False
        for child in children:
            child_ctx = f"{ctx_rel}/{child.name}" if ctx_rel else child.name
            child_rel = f"{rel}/{child.name}" if rel else child.name
            st = child.stat(follow_symlinks=False)
            hidden = self._hidden(child_ctx)
            if stat.S_ISDIR(st.st_mode):
                if hidden and not (self.ignore and self.ignore.has_exceptions):
                    continue
                mark = len(found)
                found.append(Entry(child_rel, child.path, st))
                kept = self._walk_into(Path(child.path), child_ctx, child_rel, found)
                if hidden and not kept:
                    del found[mark:]
                    continue
            elif hidden:
                continue
            else:
                found.append(Entry(child_rel, child.path, st))
            any_kept = True
        return any_kept

    def find(self, written: str, keyword: str) -> list[Source]:
        """What a COPY/ADD source as written names: a wildcard's matches, or the one path."""
        if _WILDCARD.search(written):
            return self.glob(written, keyword)
        return [self.source(written, keyword)]

    def source(self, written: str, keyword: str) -> Source:
        """A named source (no wildcards): resolved inside the root, symlinks followed in scope."""
        clean = _relative(written, keyword)
        rel = scoped_resolve(self.root, clean)
        missing = BuildError(
            f"{keyword} failed: file not found in build context or excluded by .dockerignore: "
            f"stat {written}: file does not exist"
        )
        path = self.root.joinpath(rel) if rel else self.root
        try:
            st = os.lstat(path)
        except OSError:
            raise missing from None
        # an ignored directory is still there if an exception pattern keeps something in it
        hidden = self._hidden(clean) or self._hidden(rel)
        if hidden and (not stat.S_ISDIR(st.st_mode) or not self.walk(rel)):
            raise missing
        name = posixpath.basename(clean) or posixpath.basename(rel)
        return self._make(name, path, rel, st)

    def glob(self, pattern: str, keyword: str) -> list[Source]:
        """Sources matching a wildcard path (Go's filepath.Match, per path component)."""
        wanted = _relative(pattern, keyword).split("/")
        matched: list[Source] = []
        skip: str | None = None
        for entry in self.walk(""):
            if skip is not None and entry.rel.startswith(skip + "/"):
                continue
            parts = entry.rel.split("/")
            if len(parts) != len(wanted) or not all(
                _match_component(p, w) for p, w in zip(parts, wanted, strict=True)
            ):
                continue
            if stat.S_ISLNK(entry.st.st_mode):
                matched.append(self.source(entry.rel, keyword))
            else:
                matched.append(self._make(parts[-1], Path(entry.path), entry.rel, entry.st))
            if stat.S_ISDIR(entry.st.st_mode):
                skip = entry.rel
        return matched

    def _make(self, name: str, path: Path, rel: str, st: os.stat_result) -> Source:
        if stat.S_ISDIR(st.st_mode):
            entries = self.walk(rel)
            digest = hashlib.sha256()
            for entry in entries:
                digest.update(os.fsencode(entry.rel) + b"\0" + entry_digest(entry).encode() + b"\n")
            return Source(name, path, True, entries, "dir:" + digest.hexdigest())
        entry = Entry("", str(path), st)
        return Source(name, path, False, [entry], "file:" + entry_digest(entry))


def _tar_blocks(name: str, size: int, link: str = "") -> int:
    """Bytes one entry takes in a Go tar: a header, its data in 512-byte blocks, and a PAX
    header (and its block) when the name or link target does not fit the USTAR fields."""
    fits = len(link) <= 100 and (
        len(name) <= 100 or any(
            i <= 155 and len(name) - i - 1 <= 100 for i, c in enumerate(name) if c == "/"
        )
    )  # fmt: skip
    return 512 + -(-size // 512) * 512 + (0 if fits else 1024)


def sent_size(context: SourceRoot, always: dict[str, int]) -> int:
    """The size of the context as Docker's client tars it to send (docker/cli
    cli/command/image/build.go): every entry .dockerignore keeps, plus `always` (name: size),
    the Dockerfile and .dockerignore it sends even when ignored, then the tar's two zero
    blocks (Go's archive/tar pads no further)."""
    total, seen = 1024, set()
    for entry in context.walk(""):
        seen.add(entry.rel)
        if stat.S_ISDIR(entry.st.st_mode):
            total += _tar_blocks(entry.rel + "/", 0)
        elif stat.S_ISLNK(entry.st.st_mode):
            total += _tar_blocks(entry.rel, 0, os.readlink(entry.path))
        else:
            total += _tar_blocks(
                entry.rel, entry.st.st_size if stat.S_ISREG(entry.st.st_mode) else 0
            )
    return total + sum(_tar_blocks(n, size) for n, size in always.items() if n not in seen)


def sending_line(
    context: SourceRoot, name: str, dockerfile_size: int, dockerfile: str | None, from_stdin: bool
) -> str:
    """Docker's first line, as its client's progress output ends it (a carriage return,
    then "\\r\\n"): `Sending build context to Docker daemon  3.072kB`. `name` is the
    Dockerfile's, `dockerfile` the -f path given, `from_stdin` when it came on stdin."""
    root = context.root
    # A Dockerfile from elsewhere (stdin, -f outside) travels as `.dockerfile.<hex>`.
    key = ".dockerfile.0" if from_stdin else name
    if dockerfile and not from_stdin:
        path = Path(dockerfile).absolute()
        inside = path.is_relative_to(root)
        key = str(path.relative_to(root)) if inside else ".dockerfile.0"
    always = {key: dockerfile_size}
    with contextlib.suppress(OSError):
        always[".dockerignore"] = (root / ".dockerignore").stat().st_size
    size = human_size(sent_size(context, always))
    return f"Sending build context to Docker daemon {size:>8}\r\r\n"


def check_context(context: Path) -> Path:
    """The context folder, resolved; Docker's words when it is missing or no folder."""
    if not context.exists():
        raise BuildError(f'unable to prepare context: path "{context}" not found')
    if not context.is_dir():
        raise BuildError(f"unable to prepare context: context must be a directory: {context}")
    return context.resolve()


def _relative(written: str, keyword: str) -> str:
    """A source path as written, made relative to its root; one that climbs out is refused."""
    clean = posixpath.normpath(written.lstrip("/") or ".")
    if clean == ".." or clean.startswith("../"):
        raise BuildError(f"{keyword} failed: forbidden path outside the build context: {written}")
    return clean


def _match_component(name: str, pattern: str) -> bool:
    """Go's filepath.Match for one path component (`[^...]` negates, `\\` escapes)."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return False
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{body}]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.fullmatch("".join(out), name, re.S) is not None
    except re.error:
        return False


def open_file(path: str | Path) -> BinaryIO:
    """A context file opened for reading; if it became a symlink meanwhile, it is refused."""
    return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")


def entry_digest(entry: Entry) -> str:
    """A copied entry's identity: type, mode, size, content or link target (no owner, no mtime)."""
    st = entry.st
    digest = hashlib.sha256(f"{stat.S_IFMT(st.st_mode)}:{stat.S_IMODE(st.st_mode):o}:".encode())
    if stat.S_ISREG(st.st_mode):
        digest.update(f"{st.st_size}:".encode())
        with open_file(entry.path) as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    elif stat.S_ISLNK(st.st_mode):
        digest.update(os.fsencode(os.readlink(entry.path)))
    return digest.hexdigest()


def is_archive(path: Path) -> bool:
    """ADD extracts a local file when it is a tar (plain, gzip, bzip2 or xz), as Docker does."""
    import tarfile  # tar machinery loads for steps that run, never for a cached build

    try:
        with tarfile.open(path, "r|*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False


def write_tar(out: BinaryIO, entries: list[tuple[str, Entry]], owner: tuple[int, int]) -> None:
    """The entries as a tar with the given names, owned by `owner`, modes and mtimes kept."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, entry in entries:
            st = entry.st
            info = tarfile.TarInfo(name)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = owner
            info.mtime = int(st.st_mtime)
            if stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                with open_file(entry.path) as data:
                    tar.addfile(info, data)
                continue
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(entry.path)
            elif stat.S_ISFIFO(st.st_mode):
                info.type = tarfile.FIFOTYPE
            else:  # sockets and devices don't travel in a build context
                continue
            tar.addfile(info)


def extract_stream(dest: Path, produce: Callable[[BinaryIO], None]) -> None:
    """Pipe what `produce` writes through the safe extractor into `dest`."""
    from layerlab.layerfs import layers

    with produced_by(produce) as source:
        layers.extract_layer_tar(source, dest)
