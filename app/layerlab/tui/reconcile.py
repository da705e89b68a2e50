"""Following the store and a writable layer as they change: no Textual here.

The TUI keeps two watches: one on the store's index (any process may change it)
and one on the writable layer the files panel shows live. Each converges rather
than obeys: a request records what is wanted, and `reconcile()` (off the UI
thread but at exit: stopping an observer joins its threads) makes the running
watch that one, so two requests finishing out of order still leave the latest in
force. What a change means for the panels is decided here too: `store_news` says
what changed between two listings, `subject_changed` whether the subject the
panels follow must be read again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from layerlab.layerfs import analysis
from layerlab.layerfs.unionfs import Change
from layerlab.presentation.humanize import plural
from layerlab.storage.snapshot import Snapshot, Subject

if TYPE_CHECKING:
    from layerlab.storage.watch import UpperWatch
    from layerlab.tui.source import Source, Watch


class UpperFollower:
    """The watch on one writable layer: each change is re-read and handed to `report`
    (on watchdog's thread) as {path: its change now, None once it is no change}."""

    def __init__(self, report: Callable[[Path, dict[str, Change | None]], None]) -> None:
        self.report = report
        self.wanted: tuple[Path, tuple[Path, ...]] | None = None  # (upper, its lowers, top first)
        self._watch: UpperWatch | None = None
        self._lock = threading.Lock()

    @property
    def watching(self) -> Path | None:
        """The writable layer watched now."""
        watch = self._watch
        return watch.upper if watch is not None else None

    def reconcile(self) -> None:
        """Make the watch the one last wanted: stop the one before, start the new one."""
        with self._lock:
            wanted, current = self.wanted, self._watch
            if current is not None and wanted is not None and current.upper == wanted[0]:
                return
            if current is not None:
                current.stop()
                self._watch = None
            if wanted is None:
                return
            from layerlab.storage.watch import UpperWatch  # watchdog: only when a layer is shown

            upper, lowers = wanted

            def changed(paths: set[str]) -> None:  # on watchdog's thread: re-read, then report
                self.report(upper, analysis.changes_at(upper, lowers, paths))

            watch = UpperWatch(upper, changed)
            try:
                watch.start()
            except OSError:  # the container went away meanwhile
                return
            self._watch = watch


class StoreFollower:
    """The watch on the store of the source `wanted()` names (None: no watch); `changed` is
    called (on the watch's thread) when the store's index changes (a daemon's: an event)."""

    def __init__(self, wanted: Callable[[], Source | None], changed: Callable[[], None]) -> None:
        self.wanted = wanted
        self.changed = changed
        self._watch: tuple[Source, Watch] | None = None
        self._lock = threading.Lock()

    @property
    def watching(self) -> Source | None:
        """The source whose store is watched now."""
        watch = self._watch
        return watch[0] if watch is not None else None

    def reconcile(self) -> None:
        """Watch the wanted source's store; a new watch reports once at its start."""
        with self._lock:
            wanted, current = self.wanted(), self._watch
            if current is not None and current[0] is wanted:
                return
            if current is not None:
                current[1].stop()
                self._watch = None
            if wanted is None:
                return
            watch = wanted.watch_store(self.changed)
            watch.start()
            self._watch = (wanted, watch)
        # Read once more now it watches: a change made before (a lesson's setup making
        # busybox while the watch started) sends no event, and would never be listed.
        self.changed()


def store_news(old: Snapshot, new: Snapshot) -> list[tuple[str, str]]:
    """What changed from one listing to the next, as event lines: (text, kind)."""
    news: list[tuple[str, str]] = []
    before = {c.id: c for c in old.containers}
    for c in new.containers:
        was = before.pop(c.id, None)
        if was is None:
            news.append((f"container {c.name}: created, a writable layer on {c.image_ref}", ""))
        elif was.status != c.status:
            news.append((f"container {c.name}: {was.status} → {c.status}", ""))
    for c in before.values():
        news.append((f"container {c.name}: removed with its writable layer", "removed"))
    old_images = {i.id: i for _, i in old.images}
    new_images = {i.id: i for _, i in new.images}
    for image_id, image in new_images.items():
        if image_id not in old_images:
            layers = plural(len(image.layers), "read-only layer")
            news.append((f"image {new.image_name(image_id)}: added, {layers}", ""))
    for image_id in old_images.keys() - new_images.keys():
        news.append((f"image {old.image_name(image_id)}: removed", "removed"))
    return news


def subject_changed(previous: Snapshot | None, snapshot: Snapshot, subject: Subject) -> bool:
    """Whether the followed subject must be read again: its container's record changed (or
    was not known before), or its image is gone."""
    if subject.kind == "container":
        old = previous.container(subject.id) if previous else None
        new = snapshot.container(subject.id)
        return new is None or old is None or old.data != new.data
    return snapshot.image(subject.id) is None
