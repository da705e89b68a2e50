"""What workers and watchers tell the app and its panels: one dataclass per message.

A message a worker posts remembers that worker: once a newer worker of the
same exclusive group has replaced it (cancelled it), the result is stale and
the app drops it (`stale`). Bursts merge: consecutive store changes, process
reads and writable-layer re-reads of the same layer become one message
(`can_replace`). `while_running` drops a result that arrives as the app shuts down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import NoActiveWorker, Worker, get_current_worker

from layerlab.layerfs.analysis import Provenance
from layerlab.layerfs.contents import Contents
from layerlab.layerfs.unionfs import Change
from layerlab.storage.snapshot import Snapshot, Subject
from layerlab.tui.explain import Outcome
from layerlab.tui.listing import Listing
from layerlab.tui.model import LayerRow, SubjectView

if TYPE_CHECKING:
    from layerlab.registry.transfers import Transfer
    from layerlab.runtime.procs import Proc  # psutil: not before the first frame

P = TypeVar("P", bound=MessagePump)
M = TypeVar("M", bound=Message)


def while_running(handler: Callable[[P, M], None]) -> Callable[[P, M], None]:
    """A read's result, dropped once the app shuts down: its panels are being removed, and a
    message queued before the shutdown must not find them half gone."""

    @wraps(handler)
    def handle(receiver: P, message: M) -> None:
        if receiver.app.is_running:
            handler(receiver, message)

    return handle


@dataclass
class WorkerResult(Message):
    """A result read in a worker; stale once a newer worker of its group was started."""

    worker: Worker[Any] | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.worker = get_current_worker()
        except NoActiveWorker:  # posted from the UI thread or a watcher's thread
            self.worker = None

    @property
    def stale(self) -> bool:
        return self.worker is not None and self.worker.is_cancelled


@dataclass
class StoreChanged(Message):
    """Something in the store's index changed on disk (any process may have done it)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


@dataclass
class StoreLoaded(WorkerResult):
    """The store's containers and images, and the pulls and pushes under way, read once the
    writes had settled."""

    snapshot: Snapshot = field(kw_only=True)
    transfers: list[Transfer] = field(kw_only=True, default_factory=list)


@dataclass
class SubjectLoaded(WorkerResult):
    """The subject read at one moment; `view` None: it is gone."""

    subject: Subject = field(kw_only=True)
    view: SubjectView | None = field(kw_only=True)


@dataclass
class FilesLoaded(WorkerResult):
    """A layer's entries (or the union view from it down) for the files panel."""

    row: LayerRow = field(kw_only=True)
    union: bool = field(kw_only=True)
    listing: Listing = field(kw_only=True)
    started: float = field(kw_only=True, default=0.0)  # time.monotonic() when the read began


@dataclass
class UpperChanged(Message):
    """Paths of the watched writable layer, re-read after watchdog saw them change.

    Consecutive re-reads of the same layer merge into one, the newer read winning.
    """

    upper: Path
    updates: dict[str, Change | None]

    def can_replace(self, message: Message) -> bool:
        if isinstance(message, UpperChanged) and message.upper == self.upper:
            message.updates = {**self.updates, **message.updates}
            return True
        return False


@dataclass
class ProcsLoaded(WorkerResult):
    """The processes in the cgroup of the container whose init has host pid `pid`."""

    pid: int = field(kw_only=True)
    procs: list[Proc] = field(kw_only=True)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProcsLoaded)


@dataclass
class ProvenanceLoaded(WorkerResult):
    """Where the selected path of the merged view comes from."""

    provenance: Provenance = field(kw_only=True)


@dataclass
class LayerCounted(WorkerResult):
    """A layer's entries and hidden bytes, counted after its subject was shown."""

    key: str = field(kw_only=True)
    path: Path = field(kw_only=True)
    counts: tuple[int, int] = field(kw_only=True)


@dataclass
class FileRead(WorkerResult):
    """A file's contents as the layer shown holds it, and the copy below it."""

    contents: Contents = field(kw_only=True)


@dataclass
class CommandDone(WorkerResult):
    """A command finished (or failed), with what its report says it touched."""

    outcome: Outcome = field(kw_only=True)


@dataclass
class CliDone(WorkerResult):
    """A line run by the docker CLI on the daemon shown (`tui --docker`) ended with `code`."""

    line: str = field(kw_only=True)
    code: int = field(kw_only=True)


@dataclass
class SizeRead(WorkerResult):
    """The writable layer at `upper` measured again after writes: (bytes, entries)."""

    upper: Path = field(kw_only=True)
    size: int = field(kw_only=True)
