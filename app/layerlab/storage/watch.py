"""watchdog observers: on a container's writable layer, and on the store's index.

The faces show what is on disk and in the kernel, so a change made by any
process - a container writing a file, the CLI in a second terminal - has to
reach them without polling. Both watchers call back from watchdog's threads;
the caller turns that into a message for its own thread.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from layerlab.storage.store import Store

# Opened/closed/attrib events say nothing about what a layer holds.
CONTENT_EVENTS = [
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
]
BATCH_SECONDS = 0.02

# watchdog warns when a directory made with its parent (`mkdir -p a/b`) is watched by both the
# parent's recursive scan and its own create event; the second watch is the same watch.
warnings.filterwarnings("ignore", "Callback with id", RuntimeWarning, r"watchdog\.")


def _paths(event: FileSystemEvent) -> list[str]:
    paths = [os.fsdecode(event.src_path)]
    if event.dest_path:
        paths.append(os.fsdecode(event.dest_path))
    return paths


class _Handler(FileSystemEventHandler):
    def __init__(self, on_event: Callable[[FileSystemEvent], None]) -> None:
        self.on_event = on_event

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.on_event(event)


class UpperWatch:
    """A recursive watch on one writable layer (overlay upperdir).

    Reports the paths that changed, relative to the layer (`etc/passwd`), in
    batches: a burst of writes becomes one callback a few ms later, so the
    receiver re-stats each changed path once instead of rescanning the layer.
    """

    def __init__(self, upper: Path, on_paths: Callable[[set[str]], None]) -> None:
        self.upper = upper
        self.on_paths = on_paths
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        # One batch reported at a time, in order: each timer is a thread of its own, and a
        # batch re-read after a later one (a file's creation after its folder's removal)
        # would otherwise leave the receiver showing what is gone.
        self._reporting = threading.Lock()
        self._timer: threading.Timer | None = None
        self._observer = Observer()
        self._observer.daemon = True

    def start(self) -> None:
        """Watch from now on; raises OSError if the layer is gone."""
        self._observer.schedule(
            _Handler(self._collect), str(self.upper), recursive=True, event_filter=CONTENT_EVENTS
        )
        self._observer.start()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._observer.stop()

    def _collect(self, event: FileSystemEvent) -> None:
        with self._lock:
            for path in _paths(event):
                rel = os.path.relpath(path, self.upper)
                if rel != "." and not rel.startswith(".."):
                    self._pending.add(rel)
            if self._timer is None and self._pending:
                self._timer = threading.Timer(BATCH_SECONDS, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush(self) -> None:
        with self._reporting:
            with self._lock:
                batch, self._pending, self._timer = self._pending, set(), None
            if batch:
                self.on_paths(batch)


class StoreWatch:
    """Watches on the store's index: containers (each `config.json`), images, tags.

    The store says which folders index it and which paths matter
    (`Store.watch_dirs`, `Store.reshapes_watch`, `Store.indexes`); this class
    only keeps watchdog's watches in step. Non-recursive on purpose: a recursive
    watch on `containers/` would descend into every writable layer and every
    mounted root filesystem. Watchdog's dispatch thread changes the watches, and
    `stop` (another thread) unschedules them all: a lock keeps the two apart, and
    once stopped there is nothing more to keep in step.
    """

    def __init__(self, root: Path, on_change: Callable[[], None]) -> None:
        self.root = root
        self.store = Store(root)
        self.on_change = on_change
        self._watches: dict[Path, ObservedWatch] = {}
        self._observer = Observer()
        self._observer.daemon = True
        self._lock = threading.Lock()  # taken before the observer's, never while holding it
        self._stopped = False

    def start(self) -> None:
        self._sync()
        self._observer.start()

    def stop(self) -> None:
        with self._lock:  # a `_sync` under way ends first; none after
            self._stopped = True
        self._observer.stop()

    def _sync(self) -> bool:
        """Watch exactly the folders there are now: a full scan, so nothing new is missed.

        A folder made inside one whose watch was just added (`mkdir -p root/transfers`) made
        its event before that watch began: the scan runs again until it finds no folder
        unwatched. True when a watch was added (what its folder holds was never reported).
        """
        with self._lock:
            if self._stopped:  # the observer unscheduled every watch: none to keep in step
                return False
            for path in set(self._watches) - self.store.watch_dirs():
                self._observer.unschedule(self._watches.pop(path))
            tried: set[Path] = set()
            while new := self.store.watch_dirs() - set(self._watches) - tried:
                tried |= new
                for path in new:
                    try:
                        self._watches[path] = self._observer.schedule(
                            _Handler(self._event), str(path), event_filter=CONTENT_EVENTS
                        )
                    except OSError:  # removed between the scan and the watch
                        continue
            return bool(tried)

    def _event(self, event: FileSystemEvent) -> None:
        paths = [Path(p) for p in _paths(event)]
        changed = any(self.store.indexes(p) for p in paths)
        if any(self.store.reshapes_watch(p) for p in paths):
            # the root, a top folder or a container folder came or went
            changed = self._sync() or changed
        if changed:
            self.on_change()
