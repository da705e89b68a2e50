"""`Engine`: one method per Docker verb, each handing its work to the module of its group.

The terminal and the TUI are two faces on this one interface, and the only writer of
the store. Methods return typed records (`Container`, `Image`) or plain data, and raise
`LayerlabError` with a message worded as Docker words it. The faces read through it too
(`snapshot`, `resolve`, `layer_meta`, `bundle_spec`, `writable_layer`, `watch_store`),
never the disk. Long waits (`logs -f`, `wait`, an attached start) take a `cancel`
event: following logs just ends, the others raise `Cancelled` (130); the container
keeps running either way.

Where a verb's code is (this package's modules, each given the engine as a `Context`):
create.py `create`; start.py `start`; lifecycle.py `stop` `kill` `pause` `unpause`
`wait` `rm` `rename` `update`; inside.py `exec` `attach` `logs` `top` `diff` `cp`;
images.py `commit` `build` `history` `tag` `rmi` `save` `load` `import` `export`;
distribution.py `pull` `login` `logout` (docker_daemon/transfer.py `pull docker-daemon:`);
push.py `push` `search`;
inspect.py `inspect`; storage/volumes.py the `volume` verbs; network/verbs.py the
`network` verbs; sysinfo.py `info` `version` `system df`; prune.py the `prune` verbs;
fsck.py `system check`; layer_report.py `analyze` `compare`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from layerlab.engine import create, distribution, images, inside, inspect, lifecycle, push, start
from layerlab.engine.context import Context
from layerlab.errors import LayerlabError, NotFound
from layerlab.layerfs import unionfs
from layerlab.layerfs.unionfs import WritableLayer
from layerlab.network import verbs as network_verbs
from layerlab.report import ImageRemoval
from layerlab.runtime.launch import Stdio
from layerlab.storage import events as journal
from layerlab.storage import images as imagelib
from layerlab.storage import volumes as volumelib
from layerlab.storage.containers import Container, CreateOptions
from layerlab.storage.distribution import blobs_for, repo_digests
from layerlab.storage.limits import LimitOptions

if TYPE_CHECKING:
    import socket

    from layerlab.build.builder import BuildOptions
    from layerlab.docker_daemon.transfer import DaemonImage
    from layerlab.engine.images import HistoryRow
    from layerlab.engine.inside import LogEntry
    from layerlab.engine.layer_report import Analysis, Comparison
    from layerlab.network.view import NetworkView
    from layerlab.registry.catalog import Found
    from layerlab.registry.pull import Observer, Pulled, Say
    from layerlab.registry.push import PushResult
    from layerlab.registry.transfers import Transfer
    from layerlab.runtime import usage
    from layerlab.runtime.namespaces import Namespace
    from layerlab.runtime.procs import Proc
    from layerlab.storage.snapshot import Snapshot, Subject
    from layerlab.storage.watch import StoreWatch


class Engine(Context):
    """The engine of one store (`root`, else `LAYERLAB_ROOT` or /var/lib/layerlab).

    Its reading half is the `Context` every verb module is given (`container`,
    `containers`, `image`, `images`, `bundle_spec`, `container_sizes`, ...).
    """

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(root)
        self.store.on_first_lock = self._heal

    def _heal(self) -> None:
        """What a killed command left, cleaned before this one mutates: scratch work whose
        owner is gone, a container mounted by a `start` that never finished."""
        from layerlab.engine import fsck

        fsck.heal(self)

    # --- the faces' read API: they ask here, never the disk -----------------------------
    def image_ids(self) -> list[str]:
        """Every image's id, from the store's file names alone (no config is read)."""
        return self.store.image_ids()

    def events(
        self, since: float | None = None, until: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Docker's events (`events.Message`s) from the store's journal: those kept between
        `since` and `until`, then, unless `until` has passed, each as it comes."""
        return journal.window(self.store.root, since, until, cancel)

    def snapshot(self) -> Snapshot:
        """Every container (`ps -a`) and image row (`images -a`), read at one moment.

        Whatever another process removes during the read is left out, never an error.
        """
        from layerlab.storage.snapshot import Snapshot  # the TUI's: not loaded for a CLI command

        return Snapshot(tuple(self.containers(all=True)), tuple(self.images(all=True)))

    def transfers(self) -> list[Transfer]:
        """The pulls and pushes under way, oldest first (each gone the moment it ends)."""
        from layerlab.registry.transfers import read_transfers

        return read_transfers(self.store.root)

    def resolve(self, ref: str) -> Subject | None:
        """A container first, then an image, as `inspect` resolves; None when nothing matches.

        Never creates busybox (unlike `image`, which makes it on first use).
        """
        from layerlab.storage.snapshot import Subject  # the TUI's: not loaded for a CLI command

        try:
            return Subject("container", self.store.resolve_container(ref))
        except LayerlabError:
            pass
        image_id = self.find_image_id(ref)
        return Subject("image", image_id) if image_id else None

    def layer_meta(self, chain_id: str) -> dict[str, Any]:
        """A read-only layer's `json` (id, parent, diff_id, created, created_by, size).

        Raises NotFound if the layer is not (or no longer) in the store, `Corrupted` if its
        `json` is broken.
        """
        return imagelib.read_layer_meta(self.store, chain_id)

    def writable_layer(self, ref: str) -> WritableLayer:
        """The container's writable layer: its paths, whether its union is mounted, its
        changes and size. For reading; the engine alone mounts and unmounts it."""
        return self.writable(self.container(ref))

    def lower_dirs(self, container: Container) -> list[Path]:
        """The container's read-only layers, top first (the init layer, then the image's)."""
        return list(self.writable(container).lowers)

    def image_children(self, image_id: str) -> list[str]:
        return imagelib.image_children(self.store, image_id)

    def image_family(self, ref: str) -> set[str]:
        """The image `ref` names and every image built on it (`ps -f ancestor=`)."""
        return images.image_family(self, ref)

    def inspect(self, ref: str, size: bool = False, kind: str | None = None) -> dict[str, Any]:
        """`inspect [-s] [--type container|image]`: container first, as Docker looks."""
        return inspect.inspect(self, ref, size, kind)

    def image_inspect(self, image: imagelib.Image) -> dict[str, Any]:
        return inspect.image_inspect(self, image)

    def image_manifest(self, image: imagelib.Image) -> dict[str, Any]:
        """The manifest a registry would have for `image` (schema 2), each layer named three
        ways, and its `RepoDigests`; raises NotFound once the image is gone."""
        from layerlab.registry.as_registry import as_registry

        try:
            config_size = self.store.image_path(image.id).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"No such image: {image.id}") from None
        known = self.repo_digests(image.id)
        return as_registry(image, config_size, lambda d: blobs_for(self.store, d), known)

    def watch_store(self, on_change: Callable[[], None]) -> StoreWatch:
        """A watcher (not started) calling `on_change` when this store's index changes:
        the faces refresh from it, without knowing the store's layout."""
        from layerlab.storage.watch import StoreWatch  # watchdog only for a face that watches

        return StoreWatch(self.store.root, on_change)

    def watch_paths(self) -> set[Path]:
        """The folders a watcher should watch (non-recursively) to see the store's index change.

        See `Store.watch_dirs`; `Store.indexes(path)` says which events there matter.
        """
        return self.store.watch_dirs()

    def namespaces(self, ref: str) -> tuple[Namespace, ...]:
        """A running container's namespaces beside the host's (its pid 1's `/proc/PID/ns/*`
        inodes); () when it does not run."""
        from layerlab.runtime.namespaces import of_container

        return of_container(self.container(ref).state)

    def network_view(self, ref: str) -> NetworkView | None:
        """A running container's network as the faces draw it (its links, veth pairs,
        bridges and the others on them, published ports); None when it does not run."""
        from layerlab.network.view import read

        container = self.container(ref)
        return read(self.store.root, container.data, self.store.container_dir(container.id))

    def processes(self, pid: int) -> list[Proc]:
        """The process forest of the container whose process `pid` is (the TUI's tree)."""
        from layerlab.runtime import procs  # psutil: only for the faces that show processes

        return procs.processes(pid)

    # --- container lifecycle (create.py, start.py, lifecycle.py) -------------------------
    def create(self, image_ref: str, opts: CreateOptions) -> Container:
        """A writable layer on top of the image, plus metadata: no mount, no process."""
        return create.create(self, image_ref, opts)

    def start(self, ref: str) -> Container:
        """Mount the union, hand the bundle to a detached shim, return once it runs."""
        return start.start(self, ref)

    def start_attached(
        self,
        ref: str,
        stdio: Stdio = (None, None, None),
        cancel: threading.Event | None = None,
        detach_keys: bytes | None = None,
    ) -> int:
        """`start -a` / foreground `run`: stream output to `stdio`, return the exit code."""
        return start.start_attached(self, ref, stdio, cancel, detach_keys)

    def run(
        self, image_ref: str, opts: CreateOptions, stdio: Stdio = (None, None, None)
    ) -> tuple[Container, int | None]:
        """`create`, then `start`: the exit code too when attached (`opts.attach`)."""
        container = self.create(image_ref, opts)
        if opts.attach:
            return container, self.start_attached(container.id, stdio)
        return self.start(container.id), None

    def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> Container:
        """The stop signal, `timeout` seconds' grace (10), then SIGKILL - as `docker stop`."""
        return lifecycle.stop(self, ref, timeout, sig)

    def kill(self, ref: str, sig: str | int = "KILL") -> Container:
        return lifecycle.kill(self, ref, sig)

    def pause(self, ref: str) -> Container:
        """Freeze every process with the cgroup freezer: no signal is sent."""
        return lifecycle.pause(self, ref)

    def unpause(self, ref: str) -> Container:
        return lifecycle.unpause(self, ref)

    def wait(self, ref: str, cancel: threading.Event | None = None, run: str | None = None) -> int:
        """Block until the container's run (`run`: its `StartedAt`) ends, restarted or not,
        then its exit code - `docker wait`."""
        return lifecycle.wait(self, ref, cancel, run)

    def wait_exit(
        self, cid: str, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> bool:
        """Block until the container's shim has ended; False on timeout."""
        return lifecycle.wait_exit(self, cid, timeout, cancel)

    def rm(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        """Delete the container and its writable layer; `volumes`: its anonymous volumes."""
        return lifecycle.rm(self, ref, force, volumes)

    def rename(self, ref: str, new_name: str) -> Container:
        return lifecycle.rename(self, ref, new_name)

    def update(
        self, ref: str, changes: LimitOptions, policy: dict[str, Any] | None = None
    ) -> Container:
        """`docker update`: new limits in the record and, while it runs, in its cgroup; a
        new restart `policy`, which the shim reads at the process's next exit."""
        return lifecycle.update(self, ref, changes, policy)

    def keep_build_container(self, cid: str) -> None:
        """A failed build step's container stays, as Docker leaves it."""
        lifecycle.keep_build_container(self, cid)

    # --- inside a container (inside.py) --------------------------------------------------
    def exec(
        self,
        ref: str,
        command: list[str],
        *,
        detach: bool = False,
        interactive: bool = False,
        tty: bool = False,
        env: list[str] | None = None,
        workdir: str | None = None,
        stdio: Stdio = (None, None, None),
        user: str | None = None,
    ) -> int:
        """Run one more process in the container's namespaces and cgroup."""
        opts = inside.ExecOptions(detach, interactive, tty, env, workdir, user)
        return inside.exec_command(self, ref, command, opts, stdio)

    def attach(self, ref: str) -> Container:
        """Refuse an attach Docker refuses; journal the attach; the container."""
        return inside.attach(self, ref)

    def attach_output(self, ref: str) -> socket.socket | None:
        """A running `-t` container's output as it comes; None when there is none."""
        return inside.attach_output(self, ref)

    def attach_input(self, ref: str) -> BinaryIO | None:
        """A running container's stdin, to write to; None when it has none open."""
        return inside.attach_input(self, ref)

    def logs(
        self,
        ref: str,
        follow: bool = False,
        cancel: threading.Event | None = None,
        run: str | None = None,
    ) -> Iterator[LogEntry]:
        """The json-file log as entries; with `follow`, until the container stops (or the run
        `run` names ends)."""
        return inside.logs(self, ref, follow, cancel, run)

    def stats(self, ref: str) -> usage.Sample:
        """What the container uses now, from its cgroup (`docker stats`); zeros when stopped."""
        return inside.stats(self, ref)

    def top(self, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """`ps` on the host, filtered to the container's cgroup - as `docker top` does."""
        return inside.top(self, ref, ps_args)

    def diff(self, ref: str) -> list[unionfs.Change]:
        """What the writable layer added, changed and deleted - `docker diff`."""
        return inside.diff(self, ref)

    def copy_to(
        self, ref: str, src: str, dest: str, *, archive: bool = False,
        follow_link: bool = False, stdin: BinaryIO | None = None,
    ) -> Container:  # fmt: skip
        """`cp SRC|- CONTAINER:DEST`: the files land in the writable layer (or a volume)."""
        return inside.copy_to(
            self, ref, src, dest, archive=archive, follow_link=follow_link, stdin=stdin
        )

    def copy_from(
        self, ref: str, src: str, dest: str, *, follow_link: bool = False,
        stdout: BinaryIO | None = None,
    ) -> Container:  # fmt: skip
        """`cp CONTAINER:SRC DEST|-`: read through the union (the merged view)."""
        return inside.copy_from(self, ref, src, dest, follow_link=follow_link, stdout=stdout)

    # --- images (images.py) --------------------------------------------------------------
    def commit(
        self,
        ref: str,
        repo_tag: str | None = None,
        *,
        message: str = "",
        author: str = "",
        changes: list[str] | None = None,
        pause: bool = True,
        run_config: dict[str, Any] | None = None,
        created_by: str | None = None,
        empty_layer_if_unchanged: bool = False,
    ) -> str:
        """The writable layer becomes a read-only layer of a new image (`images.CommitOptions`
        says what the build's arguments do)."""
        opts = images.CommitOptions(
            message, author, changes, pause, run_config, created_by, empty_layer_if_unchanged
        )
        return images.commit(self, ref, repo_tag, opts)

    def build(self, context: Path, options: BuildOptions) -> str:
        """`docker build` with the legacy builder: each step run, modified, committed."""
        return images.build(self, context, options)

    def build_from_stdin(self, data: bytes, options: BuildOptions) -> str:
        """`docker build -`: `data` is a context tar, or else the Dockerfile itself."""
        return images.build_from_stdin(self, data, options)

    def history(self, ref: str) -> list[HistoryRow]:
        """An image's layers newest first, with the local image that stands for each."""
        return images.history(self, ref)

    def tag(self, source: str, target: str) -> None:
        images.tag(self, source, target)

    def rmi(self, ref: str, force: bool = False) -> ImageRemoval:
        """Docker's rmi: untag while other tags remain, delete with the last reference."""
        return images.rmi(self, ref, force)

    def save(self, refs: list[str], out: BinaryIO) -> None:
        """Images with their metadata, as one tar Docker and OCI tools both read."""
        images.save(self, refs, out)

    def load(self, src: BinaryIO | Path) -> list[str]:
        """Images from a `docker save` tarball or an OCI layout; every digest verified."""
        return images.load(self, src)

    def pull_from_daemon(self, name: str, host: str | None = None) -> tuple[DaemonImage, bool]:
        """`pull docker-daemon:NAME[:TAG]`: the image copied from the Docker daemon at `host`
        (else DOCKER_HOST), with its id and diff_ids; and whether the store had it already."""
        return images.pull_from_daemon(self, name, host)

    def analyze(self, ref: str) -> Analysis:
        """dive's analysis of an image: its wasted bytes, efficiency, inefficient files."""
        from layerlab.engine import layer_report

        return layer_report.analyze(self, ref)

    def compare(self, first: str, second: str) -> Comparison:
        """Two images or containers: the layers they share and, layer by layer, what differs
        between their merged views."""
        from layerlab.engine import layer_report

        return layer_report.compare(self, first, second)

    def import_image(
        self, src: BinaryIO, *, message: str = "", changes: list[str] | None = None,
        repo_tag: str | None = None,
    ) -> str:  # fmt: skip
        """One tar as a one-layer image (`docker import`)."""
        return images.import_image(self, src, message, changes or [], repo_tag)

    def export(self, ref: str, out: BinaryIO) -> None:
        """The merged view as one tar, no metadata: what the container sees as `/`."""
        images.export(self, ref, out)

    # --- registries (distribution.py) ------------------------------------------------------
    def pull(
        self, name: str, *, all_tags: bool = False, platform: str | None = None,
        say: Say | None = None, observe: Observer | None = None,
        cancel: threading.Event | None = None,
    ) -> Pulled:  # fmt: skip
        """An image from a registry, whole or not at all; `say` gets Docker's plain lines,
        `observe` the transfer's record each time it changes; `cancel` stops it."""
        return distribution.pull(self, name, all_tags, platform, say, observe, cancel)

    def push(
        self, name: str, *, all_tags: bool = False, say: Say | None = None,
        observe: Observer | None = None,
    ) -> PushResult:  # fmt: skip
        """An image's blobs and manifest into a registry, each blob only if it lacks it; `say`
        gets Docker's plain lines, `observe` each tag's transfer record as it changes."""
        return push.push(self, name, all_tags, say, observe)

    def search(self, term: str, limit: int = 25, filters: list[str] | None = None) -> list[Found]:
        """The repositories of a registry's catalog whose name contains `term`."""
        return push.search(self, term, limit, filters or [])

    def login(self, server: str | None, user: str, password: str) -> Path:
        """Credentials checked against the registry, then stored: the file they are in."""
        return distribution.login(self, server, user, password)

    def logout(self, server: str | None) -> tuple[str, bool]:
        """(Docker's name for the registry, whether credentials were stored and are gone)."""
        return distribution.logout(self, server)

    def repo_digests(self, image_id: str) -> list[str]:
        """`NAME@sha256:...` for each manifest digest a registry served the image under."""
        return repo_digests(self.store, image_id)

    # --- volumes: what bypasses the union (storage/volumes.py) ---------------------------
    def volume_create(
        self, name: str | None = None, labels: dict[str, str] | None = None
    ) -> volumelib.Volume:
        return volumelib.create(self.store, name, labels)

    def volumes(self) -> list[volumelib.Volume]:
        """Every volume, by name (`volume ls`); one removed meanwhile is left out."""
        return volumelib.listing(self.store)

    def volume(self, name: str) -> volumelib.Volume:
        return volumelib.read(self.store, name)

    def volumes_in_use(self) -> set[str]:
        """The names of the volumes a container mounts (`volume ls -f dangling=false`)."""
        return volumelib.in_use(self._records())

    def volume_rm(self, name: str, force: bool = False) -> None:
        """Remove a volume no container uses (Docker's `volume is in use` otherwise)."""
        volumelib.remove(self.store, name, self._records(), force)

    def volume_prune(
        self, may_go: Callable[[volumelib.Volume], bool] | None = None
    ) -> tuple[list[str], int]:
        """Remove every volume no container uses (that `may_go` lets go): (names, bytes)."""
        from layerlab.engine import prune

        return prune.prune_volumes(self, self._records(), may_go)

    # --- networks (network/verbs.py) -----------------------------------------------------
    def network_create(self, name: str, driver: str = "bridge", **options: Any) -> dict[str, Any]:
        """A user-defined network (`subnet`, `gateway`, `internal`, `labels`); its bridge
        is made by the first container that starts on it."""
        return network_verbs.create(self.store, name, driver, **options)

    def networks(self) -> list[dict[str, Any]]:
        """Every network (`network ls`), the predefined bridge, host and none included."""
        return network_verbs.ls(self.store)

    def network_inspect(self, ref: str) -> dict[str, Any]:
        return network_verbs.inspect(self.store, ref)

    def network_rm(self, ref: str) -> dict[str, Any]:
        return network_verbs.rm(self.store, ref)

    def network_prune(self) -> list[str]:
        """Remove every user-defined network no container uses: their names."""
        return network_verbs.prune(self.store)

    def network_connect(self, ref: str, container: str, aliases: list[str]) -> None:
        network_verbs.connect(self.store, ref, container, aliases)

    def network_disconnect(self, ref: str, container: str) -> None:
        network_verbs.disconnect(self.store, ref, container)

    # --- system ---------------------------------------------------------------------------
    def remove_store(self) -> None:
        """The end of a throwaway store (a lesson's sandbox): its containers removed, killing
        what runs, nothing left mounted under it, and the store deleted."""
        from layerlab.engine import prune

        prune.remove_store(self)

    def _records(self) -> list[dict[str, Any]]:
        """Every container's record: what a volume's users are read from."""
        return [c.data for c in self.containers(all=True)]
