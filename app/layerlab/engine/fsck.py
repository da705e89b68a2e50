"""`system check [--repair]`: what killed commands and crashes left in a store, and its cure.

Each finding is one `Problem` (the file, the reason, and whether it was repaired).
What is found: scratch work under `tmp/` whose owner process is gone, temp files of
interrupted atomic writes, the transfer records of killed pulls, overlay mounts no running
container owns,
runtime state and cgroups of containers that are gone or stopped, containers a
killed commit left frozen or whose shim died, layers no image or container uses (a commit,
load or import killed between the layer and its image), and store JSON that cannot be read
(quarantined under `quarantine/`, never dropped). `heal` is the part every mutating command runs
first: the cheap, certain cures of what a killed command left. What tells a live shim or
start from a dead one, and settles a ghost, is recovery.py's: the engine uses it too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from layerlab import libc
from layerlab.engine import lifecycle, recovery
from layerlab.errors import Corrupted, LayerlabError, NotFound
from layerlab.network import recovery as network_recovery
from layerlab.registry.transfers import transfers_dir
from layerlab.runtime import cgroups
from layerlab.storage import images as imagelib
from layerlab.storage.containers import BUILD_OWNER
from layerlab.storage.reference import chain_id, strip_digest
from layerlab.storage.store import (
    Store,
    layer_link,
    owner_alive,
    read_json,
    read_tag_index,
    remove_tree,
    tmp_owner,
    write_json_atomic,
)

if TYPE_CHECKING:
    from layerlab.engine.context import Context

Found = Callable[..., None]


@dataclass
class Problem:
    path: str
    reason: str
    repaired: bool = False
    cure: str = ""  # what the repair did, when it is worth saying (where a file went)

    def line(self) -> str:
        done = f" (repaired: {self.cure})" if self.cure else " (repaired)"
        return f"{self.path}: {self.reason}" + (done if self.repaired else "")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first (so they unmount in order)."""
    prefix = os.path.realpath(root).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix) or point + "/" == prefix:
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def _unmount_all(path: Path) -> None:
    for point in mounts_under(path):
        with contextlib.suppress(OSError):
            libc.umount(point, libc.MNT_DETACH)


def _discard_scratch(path: Path) -> None:
    _unmount_all(path)
    remove_tree(path)


def _made(path: Path) -> float:
    try:
        st = os.lstat(path)
    except OSError:
        return time.time()
    return min(st.st_mtime, st.st_ctime)


def stale_tmp(ctx: Context, *, unowned: bool) -> list[Path]:
    """Scratch entries under `tmp/` whose recorded owner is gone (`unowned`: also those that
    record none, from before owners were kept)."""
    try:
        entries = sorted(ctx.store.tmp_dir.iterdir())
    except FileNotFoundError:
        return []
    stale = []
    for entry in entries:
        pid = tmp_owner(entry.name)
        if pid is None and not unowned:
            continue
        if pid == os.getpid() or owner_alive(pid, _made(entry)):
            continue
        stale.append(entry)
    return stale


def stale_temp_files(ctx: Context) -> list[Path]:
    """`.tmp-*` files of atomic writes a killed process never renamed into place."""
    store = ctx.store
    dirs = [store.root, store.images_dir, store.links_dir]
    with contextlib.suppress(FileNotFoundError):
        dirs += [Path(e.path) for e in os.scandir(store.containers_dir) if e.is_dir()]
    found = []
    for d in dirs:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            for e in os.scandir(d):
                if e.name.startswith(".tmp-") and e.is_file(follow_symlinks=False):
                    pid = tmp_owner(e.name)
                    if pid != os.getpid() and not owner_alive(pid, _made(Path(e.path))):
                        found.append(Path(e.path))
    return found


def orphan_layers(ctx: Context) -> list[Path]:
    """Layer folders that no image and no container uses: what a command killed between
    renaming a layer into place and writing its image leaves. Every writer holds the store
    lock from the one to the other, so under the lock an orphan is certain. Empty while a
    record cannot be read (it might use any layer), quarantined image configs included:
    they are kept for a person to repair, and so are the layers they may name."""
    store = ctx.store
    try:
        names = sorted(e.name for e in os.scandir(store.layers_dir) if e.is_dir())
    except FileNotFoundError:
        return []
    used: set[str] = set()
    quarantined = store.root / "quarantine" / "images"
    configs = [store.image_path(i) for i in store.image_ids()]
    with contextlib.suppress(FileNotFoundError):
        configs += sorted(quarantined.iterdir())
    for path in configs:
        try:
            chain = None
            for diff_id in read_json(path)["rootfs"]["diff_ids"]:
                chain = chain_id(chain, diff_id)
                used.add(chain.removeprefix("sha256:"))
        except FileNotFoundError:
            continue
        except (ValueError, KeyError, TypeError, AttributeError):
            return []
    real_layers = os.path.realpath(store.layers_dir)
    for cid in store.container_ids():
        try:
            lower = store.read_container(cid)["GraphDriver"]["Data"].get("LowerDir") or ""
        except FileNotFoundError:
            continue
        except (Corrupted, KeyError, TypeError, AttributeError):
            return []
        for diff in lower.split(":"):
            layer_dir = os.path.dirname(os.path.realpath(diff))
            if os.path.dirname(layer_dir) == real_layers:
                used.add(os.path.basename(layer_dir))
    return [store.layers_dir / name for name in names if name not in used]


def heal(ctx: Context) -> list[Problem]:
    """What every mutating command cures first: scratch work and temp files of killed
    commands, unions a killed `start` left mounted, a killed build's containers, layers
    a killed commit, load or import left without their image."""
    problems = []
    for layer in orphan_layers(ctx):
        ctx.store.remove_layer(layer)
        problems.append(Problem(str(layer), "layer no image uses (a killed command's)", True))
    for entry in stale_tmp(ctx, unowned=False):
        _discard_scratch(entry)
        problems.append(Problem(str(entry), "scratch work of a killed command", True))
    for path in stale_temp_files(ctx):
        path.unlink(missing_ok=True)
        problems.append(Problem(str(path), "temp file of an interrupted write", True))
    for path in stale_transfers(ctx):
        path.unlink(missing_ok=True)
        problems.append(Problem(str(path), "the record of a killed pull or push", True))
    for cid in ctx.store.container_ids():
        cdir = ctx.store.container_dir(cid)
        if os.path.ismount(cdir / "merged"):
            with contextlib.suppress(FileNotFoundError):
                if not ctx.settled(cid).running and recovery.release_stale_mount(ctx, cid):
                    problems.append(
                        Problem(str(cdir / "merged"), "union left mounted by a killed start", True)
                    )
        if _build_owner_gone(cdir):
            with contextlib.suppress(LayerlabError, FileNotFoundError):
                lifecycle.rm(ctx, cid, force=True, volumes=True)
                problems.append(Problem(str(cdir), "container of a killed build", True))
    return problems


def stale_transfers(ctx: Context) -> list[Path]:
    """`transfers/<pid>-<n>.json` whose pid is gone: a killed pull's or push's record."""
    found: list[Path] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(transfers_dir(ctx.store.root)):
            pid = entry.name.split("-", 1)[0]
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            if not owner_alive(int(pid), _made(Path(entry.path))):
                found.append(Path(entry.path))
    return found


def _build_owner_gone(cdir: Path) -> bool:
    """A build step's container whose build process is gone (killed before removing it)."""
    owner = cdir / BUILD_OWNER
    try:
        pid = int(owner.read_text().split()[0])
    except FileNotFoundError:
        return False
    except (OSError, ValueError, IndexError):
        return True
    return pid != os.getpid() and not owner_alive(pid, _made(owner))


def check(ctx: Context, repair: bool = False) -> list[Problem]:
    """Every inconsistency and leftover of the store, one `Problem` each; with `repair`,
    each cured (the `repaired` flag says so)."""
    store = ctx.store
    problems: list[Problem] = []

    def found(path: Path | str, reason: str, cure: object = None) -> None:
        problem = Problem(str(path), reason)
        if repair and callable(cure):
            try:
                done = cure()  # a Path: where the entry was quarantined; a str: what was done
                problem.cure = f"moved to {done}" if isinstance(done, Path) else done or ""
                problem.repaired = True
            except (OSError, LayerlabError) as exc:
                problem.reason += f" (repair failed: {exc})"
        problems.append(problem)

    with contextlib.ExitStack() as stack:
        if repair:
            store.on_first_lock = None  # the check does the healing itself, and says so
            stack.enter_context(store.lock())
        for entry in stale_tmp(ctx, unowned=True):
            owner = tmp_owner(entry.name)
            why = f"owner pid {owner} is gone" if owner else "no owner recorded"
            kind = "half-made container" if entry.name.startswith("container-") else "stale"
            found(entry, f"{kind} scratch work of a killed command ({why})",
                  lambda e=entry: _discard_scratch(e))  # fmt: skip
        for path in stale_temp_files(ctx):
            found(path, "temp file of an interrupted write", lambda p=path: p.unlink())
        for path in stale_transfers(ctx):
            found(path, "the record of a killed pull or push", lambda p=path: p.unlink())
        live: set[str] = set()
        ids = store.container_ids()
        for cid in ids:
            _check_container(ctx, cid, found, live)
        _check_mounts(ctx, set(ids), live, found)
        _check_runtime(ctx, set(ids), live, found)
        for what, why, cure in network_recovery.leftovers(store.root, live):  # links, leases, netns
            found(what, why, cure)
        _check_images(ctx, found)
        _check_layers(ctx, found)
        _check_tags(ctx, found)
        _check_store_defaults(ctx, found)
        _check_links(ctx, found)
        for layer in orphan_layers(ctx):
            found(layer, "layer that no image or container uses (left by a killed command)",
                  lambda p=layer: ctx.store.remove_layer(p))  # fmt: skip
    return problems


def _check_container(ctx: Context, cid: str, found: Found, live: set[str]) -> None:
    store = ctx.store
    cdir = store.container_dir(cid)
    try:
        data = store.read_container(cid)
    except FileNotFoundError:
        return
    except Corrupted as exc:

        def cure() -> None:
            ctx.runtime.release(cid, cdir)
            _unmount_all(cdir)
            ctx.store.quarantine(cdir, "containers")

        found(cdir / "config.json", f"corrupted container record ({exc.reason})", cure)
        return
    state = data["State"]
    if _build_owner_gone(cdir):
        found(cdir, "container of a killed build",
              lambda: lifecycle.rm(ctx, cid, force=True, volumes=True))  # fmt: skip
        return
    if state.get("Running"):
        if not recovery.shim_alive(store, cid):
            found(cdir, "says running but its shim is dead (a ghost)",
                  lambda: ctx.settled(cid))  # fmt: skip
            return
        live.add(cid)
        return
    if recovery.starting(store, cid):
        live.add(cid)  # being started right now
        return
    if os.path.ismount(cdir / "merged"):
        found(cdir / "merged", f"{state.get('Status')} container whose union is still mounted",
              lambda: ctx.runtime.release(cid, cdir))  # fmt: skip


def _check_mounts(ctx: Context, ids: set[str], live: set[str], found: Found) -> None:
    containers = os.path.realpath(ctx.store.containers_dir) + "/"
    for point in mounts_under(ctx.store.root):
        if not point.startswith(containers):
            continue
        cid = point[len(containers) :].split("/")[0]
        if cid not in ids:
            found(point, "mount of a container that no longer exists",
                  lambda p=point: libc.umount(p, libc.MNT_DETACH))  # fmt: skip


def _check_runtime(ctx: Context, ids: set[str], live: set[str], found: Found) -> None:
    state_root = ctx.runtime.state_root
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(os.scandir(state_root), key=lambda e: e.name):
            if entry.is_dir() and entry.name not in live:
                found(entry.path, "runtime state of a container that is not running",
                      lambda c=entry.name: ctx.runtime.delete(c))  # fmt: skip
    for group in cgroups.layerlab_groups():  # shared by every store: this store's only
        if group.name in ids and group.name not in live:
            found(group, "cgroup of a container that is not running",
                  lambda g=group: _remove_cgroup(g))  # fmt: skip


def _remove_cgroup(group: Path) -> None:
    with contextlib.suppress(OSError):
        for pid in (group / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
    for _ in range(100):
        try:
            os.rmdir(group)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    os.rmdir(group)


def _check_images(ctx: Context, found: Found) -> None:
    store = ctx.store
    for image_id in store.image_ids():
        path = store.image_path(image_id)
        try:
            config = read_json(path)
            if not isinstance(config["rootfs"]["diff_ids"], list):
                raise TypeError("rootfs.diff_ids is not a list")
        except FileNotFoundError:
            continue
        except (ValueError, KeyError, TypeError) as exc:
            found(path, f"corrupted image config ({type(exc).__name__}: {exc})",
                  lambda p=path: store.quarantine(p, "images"))  # fmt: skip
    repos = store.repositories_path
    try:
        read_tag_index(repos)
    except FileNotFoundError:
        pass
    except ValueError as exc:
        found(repos, f"corrupted tag index ({exc})",
              lambda: store.quarantine(repos, "repositories"))  # fmt: skip


def _check_tags(ctx: Context, found: Found) -> None:
    """Tags naming an image that is not in the store (its config gone or quarantined)."""
    store = ctx.store
    try:
        tags = read_tag_index(store.repositories_path)
    except (FileNotFoundError, ValueError):
        return  # no index, or one `_check_images` reported
    for tag, image_id in sorted(tags.items()):
        if not store.image_path(image_id).exists():
            found(store.repositories_path, f"tag {tag} names image {image_id}, which is not"
                  " in the store", lambda t=tag, i=image_id: _drop_tag(store, t, i))  # fmt: skip


def _drop_tag(store: Store, tag: str, image_id: str) -> str:
    tags = store.read_repositories()
    if tags.get(tag) == image_id and not store.image_path(image_id).exists():
        del tags[tag]
        store.write_repositories(tags)
    return "tag removed"


class _Stacked(NamedTuple):
    """One layer as an image stacks it: what its `json` must say."""

    chain: str
    parent: str | None
    diff_id: str
    history: dict[str, Any]  # the image's history entry that made it


def _check_layers(ctx: Context, found: Found) -> None:
    """Each layer an image stacks: its `json` readable (else rebuilt from the image, the
    broken one quarantined), its folder there."""
    store = ctx.store
    seen: set[str] = set()
    for image_id in store.image_ids():
        try:
            layers = _stacked(read_json(store.image_path(image_id)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # gone, or a config `_check_images` reported
        for layer in layers:
            if layer.chain in seen:
                continue
            seen.add(layer.chain)
            path = store.layer_dir(layer.chain)
            try:
                imagelib.read_layer_meta(store, layer.chain)
                continue
            except Corrupted as exc:
                reason = f"corrupted layer metadata ({exc.reason})"
            except NotFound:
                if not path.is_dir():
                    found(path, f"missing layer of image {image_id}")
                    continue
                reason = "layer without its metadata (json)"
            found(path / "json", reason, partial(_rebuild_layer_meta, store, layer, image_id))


def _stacked(config: dict[str, Any]) -> list[_Stacked]:
    """An image's layers, bottom first, from its config."""
    made = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    layers: list[_Stacked] = []
    parent = None
    for i, diff_id in enumerate(config["rootfs"]["diff_ids"]):
        chain = chain_id(parent, diff_id)
        layers.append(_Stacked(chain, parent, diff_id, made[i] if i < len(made) else {}))
        parent = chain
    return layers


def _rebuild_layer_meta(store: Store, layer: _Stacked, image_id: str) -> str:
    """A layer's `json` again, from the image that stacks it (the broken one kept aside)."""
    from layerlab.layerfs.layers import dir_size

    path = store.layer_dir(layer.chain) / "json"
    size, _ = dir_size(path.parent / "diff")
    created, created_by = layer.history.get("created") or "", layer.history.get("created_by") or ""
    meta = imagelib.layer_meta(layer.chain, layer.parent, layer.diff_id, created, created_by, size)
    cure = f"rebuilt from image {image_id}"
    if path.exists():
        kept = store.quarantine(path, f"layers/{strip_digest(layer.chain)}")
        cure += f", the broken one moved to {kept}"
    write_json_atomic(path, meta)
    return cure


def _check_store_defaults(ctx: Context, found: Found) -> None:
    """`daemon.json`: a file `create`/`run` cannot use fails every one of them."""
    from layerlab.storage import limits

    path = ctx.store.root / limits.DAEMON_JSON
    try:
        limits.host_config(limits.LimitOptions(), limits.store_defaults(ctx.store.root))
    except Corrupted as exc:
        reason = exc.reason
    except LayerlabError as exc:
        reason = str(exc)
    else:
        return

    def cure() -> str:
        kept = ctx.store.quarantine(path, "daemon")
        return f"moved to {kept}: containers get no store defaults until it is mended and put back"

    found(path, f"unusable store defaults, every create and run fails ({reason})", cure)


def _check_links(ctx: Context, found: Found) -> None:
    """`l/`: each a short link to a layer that is there, by the name its chain id gives it
    (a missing one is made on the next mount)."""
    links = ctx.store.links_dir
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(os.scandir(links), key=lambda e: e.name):
            if entry.name.startswith(".tmp-"):
                continue  # `stale_temp_files`
            path = Path(entry.path)
            try:
                target = Path(os.path.normpath(links / os.readlink(path)))
            except OSError:
                target = path  # not a link
            if layer_link(target) != path or not target.is_dir():
                found(path, "short link to no layer", partial(_drop_link, ctx.store, path))


def _drop_link(store: Store, path: Path) -> Path | None:
    """A stray link goes; anything else found in `l/` is only moved aside."""
    if path.is_symlink():
        path.unlink()
        return None
    return store.quarantine(path, "links")
