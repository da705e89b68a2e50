"""The on-disk store: layout, atomic JSON writes, the store lock, name and id resolution.

Everything the engine knows lives here as plain files (ARCHITECTURE.md, "The store"), so any
process - the CLI, the TUI, a shim - sees the same state by reading it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from layerlab.errors import Conflict, Corrupted, LayerlabError, NotFound
from layerlab.storage.containers import record_problem
from layerlab.storage.reference import normalize_ref, split_ref, strip_digest
from layerlab.storage.rootdir import default_root


def write_json_atomic(path: Path, data: Any, durable: bool = True) -> None:
    """Write JSON so readers see the old file or the new one, never half of one."""
    write_bytes_atomic(path, json.dumps(data, indent=2).encode() + b"\n", durable)


def write_bytes_atomic(path: Path, payload: bytes, durable: bool = True) -> None:
    """`payload` at `path`, all or nothing. `durable`: on the disk before it is renamed in
    (a record); False for what is remade on each use (a bundle's config)."""
    tmp = path.parent / _owned_name(".tmp-")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _owned_name(prefix: str) -> str:
    """`<prefix><pid>.<random>`, the name `tmp_owner` reads back. Made here, not by tempfile:
    its import (shutil, bz2, lzma) would cost every command, `run` included, milliseconds."""
    return f"{prefix}{os.getpid()}.{os.urandom(6).hex()}"


def record_durable(data: dict[str, Any]) -> bool:
    """Whether a container's record is synced before it is renamed in. Not a `--rm` one's:
    it is not meant to outlive a crash (dockerd removes such containers when it restarts),
    and its three writes (create, start, exit) would cost each `run --rm` milliseconds."""
    return not (data.get("HostConfig") or {}).get("AutoRemove")


def read_json(path: Path) -> Any:
    """A store file's JSON; ValueError for what is no JSON, however it is broken."""
    with open(path, "rb") as f:
        try:
            return json.load(f)
        except RecursionError:  # `[[[[...` a hundred thousand deep
            raise ValueError("nested too deeply") from None


def warn(message: str) -> None:
    """One line on stderr, as Docker warns about a record it cannot read."""
    print(f"WARNING: {message}", file=sys.stderr)


KILLED_SECONDS = 10.0  # a killed owner's last system call may take that long (a slow disk)
SIGKILL_BIT = 1 << (9 - 1)  # in /proc/PID/status's masks of pending signals
PF_EXITING = 0x4  # in /proc/PID/stat's flags: in the kernel's exit path


# --- who owns a piece of scratch work: `<kind>-<pid>.<random>`, `.tmp-<pid>.<random>` ------
_OWNED = re.compile(r"^(?P<kind>.*?)-?(?P<pid>\d+)\.[A-Za-z0-9_]+$")


def tmp_owner(name: str) -> int | None:
    """The pid recorded in a scratch name, or None (a name from before owners were kept)."""
    m = _OWNED.match(name.removeprefix(".tmp-"))
    return int(m["pid"]) if m else None


def process_started(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime"))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def owner_alive(pid: int | None, made: float) -> bool:
    """Whether the process that made something at `made` (epoch) still lives: a pid that is
    gone, or now names a process started after it (pid reuse), owns nothing any more, nor
    does a zombie. One that is being killed is waited for (a served command is killed as
    its client dies, and may still be in its last system call): then it owns nothing."""
    if pid is None:
        return False
    deadline = time.monotonic() + KILLED_SECONDS
    while True:
        started = process_started(pid)
        if started is None or started > made + 1:
            return False
        ending = _ending(pid)
        if ending == "ended":
            return False
        if ending is None or time.monotonic() > deadline:
            return True
        time.sleep(0.005)


def _ending(pid: int) -> str | None:
    """How far `pid` is in its end: "ended" (a zombie, or gone), "killed" (a SIGKILL waits
    for it, or it is exiting), or None while it lives on."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state, _, _, _, _, _, flags = f.read().rsplit(b")", 1)[1].split()[:7]
        with open(f"/proc/{pid}/status", "rb") as f:
            status = dict(line.split(b":", 1) for line in f if b":" in line)
        pending = int(status[b"SigPnd"], 16) | int(status[b"ShdPnd"], 16)
    except (OSError, KeyError, ValueError):
        return "ended"
    if state in (b"Z", b"X"):
        return "ended"
    return "killed" if pending & SIGKILL_BIT or int(flags) & PF_EXITING else None


def remove_tree(path: Path) -> None:
    """`rm -rf` without recursion (any depth, any path length), never crossing into a mount
    nor following a symlink; what cannot be removed is left (as rmtree's ignore_errors)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        top = os.open(path, flags)
    except FileNotFoundError:
        return
    except OSError:  # a file or a symlink
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    dev = os.fstat(top).st_dev
    stack: list[tuple[int, str]] = [(top, "")]
    skipped: set[tuple[int, str]] = set()
    try:
        while stack:
            fd, _ = stack[-1]
            child = None
            with contextlib.suppress(OSError), os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if (fd, entry.name) not in skipped:
                            child = entry.name
                            break
                        continue
                    with contextlib.suppress(OSError):
                        os.unlink(entry.name, dir_fd=fd)
            if child is not None:
                try:
                    cfd = os.open(child, flags, dir_fd=fd)
                    if os.fstat(cfd).st_dev != dev:  # a mount point: never empty a mount
                        os.close(cfd)
                        raise OSError("mount point")
                except OSError:
                    skipped.add((fd, child))
                    continue
                stack.append((cfd, child))
                continue
            _, name = stack.pop()
            os.close(fd)
            if stack:
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=stack[-1][0])
    finally:
        for fd, _ in stack:
            with contextlib.suppress(OSError):
                os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


LINKS = "l"  # `<root>/l/<link>` -> `../layers/<chain-id>/diff`: overlay2's short names
TRANSFERS = "transfers"  # `<root>/transfers/<id>.json`: a pull or push under way
LINK_LENGTH = 26  # as Docker's: 125 of them fit one page of mount options


def layer_link(diff: Path) -> Path | None:
    """The short link of a store layer's `diff` folder (`<root>/l/` and the first 26 hex
    digits of its chain id), or None for a folder that is no store layer's."""
    layer = diff.parent
    if diff.name != "diff" or layer.parent.name != "layers" or len(layer.name) != 64:
        return None
    return layer.parent.parent / LINKS / layer.name[:LINK_LENGTH]


def ensure_link(link: Path, diff: Path) -> None:
    """A layer's short link, made (or mended) on use, atomically: its name comes from the
    chain id, so there is nothing to record, and a mount always finds it."""
    want = os.path.relpath(diff, link.parent)
    try:
        if os.readlink(link) == want:
            return
    except FileNotFoundError:
        link.parent.mkdir(exist_ok=True)
    except OSError:  # not a symlink: replaced below
        pass
    tmp = link.parent / _owned_name(".tmp-")
    os.symlink(want, tmp)
    os.replace(tmp, link)


def read_tag_index(path: Path) -> dict[str, str]:
    """`repositories.json` as a flat map `name:tag` -> image id; ValueError says why it
    cannot be read as one."""
    data = read_json(path)
    flat: dict[str, str] = {}
    try:
        for tags in data.get("Repositories", {}).values():
            flat.update(tags.items())
    except (AttributeError, TypeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in flat.items()):
        raise ValueError("a tag or an image id that is not a string")
    return flat


class Store:
    """Paths and primitives for one store root (`/var/lib/layerlab` or `LAYERLAB_ROOT`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._lock_depth = 0
        self._lock_fd: int | None = None
        self._thread_lock = threading.RLock()
        # Run once, at the first lock this Store takes: the engine heals what a killed
        # command left (stale scratch work, a frozen container) before it mutates anything.
        self.on_first_lock: Callable[[], None] | None = None

    # --- layout -----------------------------------------------------------
    @property
    def layers_dir(self) -> Path:
        return self.root / "layers"

    @property
    def images_dir(self) -> Path:
        return self.root / "images"

    @property
    def containers_dir(self) -> Path:
        return self.root / "containers"

    @property
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    @property
    def transfers_dir(self) -> Path:
        """Where a pull or push keeps its record while it runs (`registry/transfers.py`)."""
        return self.root / TRANSFERS

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def links_dir(self) -> Path:
        return self.root / LINKS

    @property
    def repositories_path(self) -> Path:
        return self.root / "repositories.json"

    def layer_dir(self, chain_id: str) -> Path:
        return self.layers_dir / strip_digest(chain_id)

    def image_path(self, image_id: str) -> Path:
        return self.images_dir / f"{strip_digest(image_id)}.json"

    def image_parent_path(self, image_id: str) -> Path:
        return self.images_dir / f"{strip_digest(image_id)}.parent"

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    def volume_dir(self, name: str) -> Path:
        """`volumes/<name>`: the volume's files in `_data`, as Docker keeps them."""
        return self.volumes_dir / name

    def ensure(self) -> None:
        """Create the top-level folders; called before the first mutation."""
        for d in (self.layers_dir, self.images_dir, self.containers_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)

    def make_tmp_dir(self, prefix: str) -> Path:
        """A scratch folder on the store's filesystem, so the finished thing can be renamed in."""
        self.ensure()
        # The owner's pid in the name: work left by a killed command is told from live work.
        path = self.tmp_dir / _owned_name(prefix)
        path.mkdir(mode=0o700)
        return path

    def discard(self, path: Path) -> None:
        remove_tree(path)

    def remove_layer(self, layer: Path) -> None:
        """Under the lock: a layer folder out of sight at once (renamed away), then removed,
        its short link with it."""
        trash = self.make_tmp_dir("removing-")
        os.rename(layer, trash / "layer")
        link = layer_link(layer / "diff")
        if link is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
        self.discard(trash)

    # --- locking ----------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The store lock: every read-modify-write of the store happens inside it.

        Re-entrant within a process so engine methods can compose.
        """
        with self._thread_lock:
            if self._lock_depth == 0:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                hook, self.on_first_lock = self.on_first_lock, None
                if hook is not None:
                    hook()
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None

    # --- repositories (name:tag -> image id), Docker's repositories.json shape
    def read_repositories(self) -> dict[str, str]:
        """Flat map `name:tag` -> `sha256:<image id>`; an unreadable index reads as none."""
        try:
            return read_tag_index(self.repositories_path)
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            warn(f"{self.repositories_path}: unreadable ({exc}); tags ignored")
            return {}

    def write_repositories(self, tags: dict[str, str]) -> None:
        """Under the lock. An index that cannot be read is quarantined, never overwritten:
        the tags it held can still be recovered by hand."""
        repos: dict[str, dict[str, str]] = {}
        for ref in sorted(tags):
            repos.setdefault(split_ref(ref)[0], {})[ref] = tags[ref]
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            try:
                read_tag_index(self.repositories_path)
            except ValueError:
                self.quarantine(self.repositories_path, "repositories")
        write_json_atomic(self.repositories_path, {"Repositories": repos})

    def quarantine(self, path: Path, kind: str) -> Path:
        """Move an unreadable store entry to `quarantine/<kind>/`, never deleting it."""
        dest_dir = self.root / "quarantine" / kind
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
        os.rename(path, dest)
        return dest

    # --- listing ----------------------------------------------------------
    def container_ids(self) -> list[str]:
        try:
            return sorted(
                e.name
                for e in os.scandir(self.containers_dir)
                if e.is_dir() and (Path(e.path) / "config.json").exists()
            )
        except FileNotFoundError:
            return []

    def image_ids(self) -> list[str]:
        try:
            return sorted(
                "sha256:" + e.name[:-5]
                for e in os.scandir(self.images_dir)
                if e.name.endswith(".json") and not e.name.startswith(".")
            )
        except FileNotFoundError:
            return []

    def read_container(self, container_id: str) -> dict[str, Any]:
        """The record; raises `Corrupted` for one that is not a container's JSON."""
        path = self.container_dir(container_id) / "config.json"
        try:
            data = read_json(path)
        except ValueError as exc:
            raise Corrupted(path, f"not JSON: {exc}") from None
        problem = record_problem(data, container_id)
        if problem:
            raise Corrupted(path, problem)
        record: dict[str, Any] = data
        return record

    def write_container(self, data: dict[str, Any]) -> None:
        write_json_atomic(
            self.container_dir(data["Id"]) / "config.json", data, durable=record_durable(data)
        )

    def update_container(
        self, container_id: str, change: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Read-modify-write one container's record under the store lock; returns the new record.

        The one place a record changes after `create` (engine and shim alike);
        raises NotFound if the container was removed meanwhile.
        """
        with self.lock():
            try:
                data = self.read_container(container_id)
            except FileNotFoundError:
                raise NotFound(f"No such container: {container_id}") from None
            change(data)
            self.write_container(data)
        return data

    # --- what a watcher watches -------------------------------------------
    def watch_dirs(self) -> set[Path]:
        """The folders whose entries index the store: the root, images/, containers/, each
        container's folder (its `config.json`), volumes/, transfers/. Non-recursive watches
        on these see every change of the index without descending into writable layers,
        mounted roots or a volume's files.

        A root that does not exist yet is waited for from its parent.
        """
        if not self.root.is_dir():
            return {self.root.parent} if self.root.parent.is_dir() else set()
        wanted = {self.root}
        for sub in (self.images_dir, self.containers_dir, self.volumes_dir, self.transfers_dir):
            if sub.is_dir():
                wanted.add(sub)
        with contextlib.suppress(FileNotFoundError):
            wanted.update(Path(e.path) for e in os.scandir(self.containers_dir) if e.is_dir())
        return wanted

    def reshapes_watch(self, path: Path) -> bool:
        """Whether a change at `path` may add or drop one of `watch_dirs()` (rescan them)."""
        return path == self.root or path.parent in (self.root, self.containers_dir)

    def indexes(self, path: Path) -> bool:
        """Whether a change at `path` changes what the store lists (containers, images, tags,
        volumes, the transfers under way)."""
        if path == self.root or path.parent in (self.containers_dir, self.volumes_dir):
            return True
        if path.parent == self.images_dir:
            return path.suffix in (".json", ".parent") and not path.name.startswith(".")
        if path == self.transfers_dir:  # made with a record in it, before its watch began
            return True
        if path.parent == self.transfers_dir:
            return path.suffix == ".json" and not path.name.startswith(".")
        if path == self.repositories_path:
            return True
        return path.name == "config.json" and path.parent.parent == self.containers_dir

    # --- resolution -------------------------------------------------------
    def resolve_container(self, ref: str) -> str:
        """Full id, then exact name, then a unique id prefix - Docker's order."""
        ids = self.container_ids()
        if ref in ids:
            return ref
        name = "/" + ref.lstrip("/")
        for cid in ids:
            with contextlib.suppress(FileNotFoundError, Corrupted):
                if self.read_container(cid).get("Name") == name:
                    return cid
        matches = [cid for cid in ids if ref and cid.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise LayerlabError(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def find_image(self, ref: str) -> str | None:
        """`name[:tag]`, `sha256:<id>`, or a unique id prefix -> image id, or None."""
        tags = self.read_repositories()
        normal = normalize_ref(ref)
        if normal in tags:
            return tags[normal]
        hexpart = strip_digest(ref)
        if not hexpart or any(c not in "0123456789abcdef" for c in hexpart):
            return None
        matches = [i for i in self.image_ids() if strip_digest(i).startswith(hexpart)]
        if len(matches) > 1:
            raise Conflict(f"multiple IDs found with provided prefix: {ref}")
        return matches[0] if matches else None
