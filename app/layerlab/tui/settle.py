"""Wait until the app has settled: what tests, the screenshot script and the benchmark share.

Every poll re-reads the app's state (never a list of workers kept from
before: a worker cancelled before it first ran never reaches a finished
state), and the state must hold on consecutive polls so the messages the last
workers posted have been handled too. The store's listing reaches the app only
through its watcher, so "settled" may also ask that the listing the app shows
is the store's (`current`): the watcher's event and read have landed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.pilot import Pilot
from textual.worker import WorkerState

if TYPE_CHECKING:
    from layerlab.storage.snapshot import Snapshot
    from layerlab.tui.app import LayerlabApp

# Worker groups whose results change the panels; "procs" polls forever, so it is left out.
BUSY_GROUPS = ("command", "store", "subject", "files", "provenance", "watch", "size", "stats")
ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)


def busy_workers(app: LayerlabApp, groups: Iterable[str] = BUSY_GROUPS) -> list[str]:
    """The app's workers in `groups` that may still post a result (cancelled ones cannot)."""
    wanted = set(groups)
    return [
        f"{w.group}:{w.name} ({w.state.name})"
        for w in app.workers
        if w.group in wanted and w.state in ACTIVE and not w.is_cancelled
    ]


async def settled(
    target: Pilot[Any] | LayerlabApp,
    *,
    commands: int | None = None,
    until: Callable[[], bool] | None = None,
    groups: Iterable[str] = BUSY_GROUPS,
    store: bool = True,
    queue: bool = True,
    current: bool = False,
    timeout: float = 60.0,
    poll: float = 0.02,
    quiet: int = 2,
) -> None:
    """Wait until the app is settled, re-reading its state on every poll.

    Settled means: at least `commands` commands have finished
    (`app.commands_done`), no line is queued or running (unless `queue` is
    False), no worker of `groups` is pending or running, no store read is
    waiting to start (unless `store` is False), with `current` the app's
    snapshot lists what the source's does (a store read per poll: for tests
    and screenshots, not benchmarks), and `until()` (if given) is true - on
    `quiet` polls in a row. Raises AssertionError
    saying what was still outstanding after `timeout` seconds.
    """
    app: LayerlabApp = target.app if isinstance(target, Pilot) else target  # type: ignore[assignment]
    groups = tuple(groups)
    deadline = time.monotonic() + timeout
    calm = 0
    while True:
        pending = _outstanding(app, commands, until, groups, store, queue)
        if current and not pending and not shows_the_store(app):
            pending.append("the app's listing is not the store's yet (the watcher's read)")
        calm = 0 if pending else calm + 1
        if calm >= quiet:
            return
        if time.monotonic() > deadline:
            outstanding = "; ".join(pending)
            raise AssertionError(f"the app did not settle within {timeout:g}s: {outstanding}")
        await asyncio.sleep(poll)


def _listing(snapshot: Snapshot) -> tuple[object, ...]:
    containers = tuple((c.id, c.name, c.status) for c in snapshot.containers)
    return containers, tuple((ref, image.id) for ref, image in snapshot.images)


def shows_the_store(app: LayerlabApp) -> bool:
    """The containers (with their states) and images the app lists are the store's now."""
    shown = app.snapshot
    return shown is not None and _listing(shown) == _listing(app.source.snapshot())


def _outstanding(
    app: LayerlabApp,
    commands: int | None,
    until: Callable[[], bool] | None,
    groups: tuple[str, ...],
    store: bool,
    queue: bool = True,
) -> list[str]:
    pending: list[str] = []
    if commands is not None and app.commands_done < commands:
        pending.append(f"{app.commands_done} of {commands} commands done")
    if queue and not app.queue.idle:
        pending.append(f"commands still queued or running: {app.queue.status() or 'starting'}")
    busy = busy_workers(app, groups)
    if busy:
        pending.append("workers busy: " + ", ".join(busy))
    if store and app.store_read_pending:
        pending.append("a store read is waiting to start")
    if until is not None and not until():
        name = getattr(until, "__name__", "condition")
        pending.append(f"{name} is still false")
    return pending
