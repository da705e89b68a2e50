"""The store as the panels read it: watched, and read once a burst of changes settles.

One command writes several files of the store's index, and another terminal may
write at any moment: each change only (re)starts a short settle timer, and the
read that follows runs in a worker of the app (group "store", the newest read
replacing one under way) and comes back as `StoreLoaded`. A read that failed (a
record removed mid-read) is tried again a few times; after that, the next change
brings the next read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.timer import Timer
from textual.worker import get_current_worker

from layerlab.tui.messages import StoreChanged, StoreLoaded
from layerlab.tui.reconcile import StoreFollower

if TYPE_CHECKING:
    from textual.app import App

    from layerlab.tui.source import Source

STORE_SETTLE_SECONDS = 0.1
STORE_RETRIES = 3  # a store read that failed is tried again this often before waiting for news


class StoreReader:
    """The watch on the store of `source()` (while `watching()`), and the reads it brings."""

    def __init__(
        self, app: App[Any], source: Callable[[], Source], watching: Callable[[], bool]
    ) -> None:
        self.app = app
        self.source = source
        self.follower = StoreFollower(lambda: source() if watching() else None, self._changed)
        self._timer: Timer | None = None
        self.first_read_due = True  # the store is read once the first frame is painted
        self.failures = 0  # reads failed in a row

    def watch(self) -> None:
        """Watch the store of the source in use (in a worker: watchdog starts threads)."""
        self.app.run_worker(
            self.follower.reconcile,
            name="start_store_watch",
            group="watch",
            thread=True,
            exit_on_error=False,
        )

    def _changed(self) -> None:  # on watchdog's thread
        self.app.post_message(StoreChanged())

    def settle(self) -> None:
        """Let a burst of writes settle (one command writes several files), then read once."""
        if self._timer is None:
            self._timer = self.app.set_timer(STORE_SETTLE_SECONDS, self._settled)

    def _settled(self) -> None:
        self._timer = None
        self.read()

    @property
    def pending(self) -> bool:
        """A change was seen (or the app just started) and its read has not started yet."""
        return self._timer is not None or self.first_read_due

    def read(self) -> None:
        self.first_read_due = False
        self.app.run_worker(
            self._read,
            name="load_store",
            group="store",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _read(self) -> None:
        source = self.source()
        snapshot, transfers = source.snapshot(), source.transfers()
        if not get_current_worker().is_cancelled:
            self.app.post_message(StoreLoaded(snapshot=snapshot, transfers=transfers))

    def failed(self) -> None:
        """A read failed: read again once the writes settle (they usually have), a few times."""
        if self.failures < STORE_RETRIES:
            self.failures += 1
            self.app.post_message(StoreChanged())
