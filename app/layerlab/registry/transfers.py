"""What a pull or a push is doing, written in the store for every face to draw.

A transfer keeps `transfers/<id>.json` while it runs: the manifest, the config and each layer
blob with its compressed digest, its `diff_id`, its chain id, how far it has travelled and
Docker's word for its state. The file is rewritten at most ten times a second (a bar moving
on screen, not a write per chunk) and removed when the transfer ends, however it ends; a
reader expects it to vanish at any moment. The CLI's progress lines and the TUI's picture are
two readings of the same record, as `ps` and the TUI read the same container records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerlab.storage.store import TRANSFERS, write_json_atomic

_MIN_INTERVAL = 0.1


@dataclass
class Blob:
    """One blob of a transfer, in Docker's words (`status`: Waiting, Downloading, Verifying
    Checksum, Download complete, Extracting, Pull complete, Already exists, Pushing, Pushed,
    Layer already exists, Mounted from REPO)."""

    kind: str  # "config" | "layer"
    digest: str  # as the registry names it: the compressed digest of a layer
    size: int
    done: int = 0
    status: str = "Waiting"
    media_type: str = ""
    diff_id: str = ""  # the digest of the uncompressed tar (layers)
    chain_id: str = ""  # the store's name of the layer stack up to this one (layers)


@dataclass
class Transfer:
    """A pull or a push: what it moves and how far it has got."""

    id: str
    verb: str  # "pull" | "push"
    reference: str  # as the user typed it, normalized (`localhost:5000/busybox:latest`)
    manifest_digest: str = ""
    media_type: str = ""  # the manifest's
    blobs: list[Blob] = field(default_factory=list)
    status: str = ""  # the transfer's last line (`Digest: sha256:...`, `Status: ...`)
    started: float = field(default_factory=time.time)


def transfers_dir(root: Path) -> Path:
    return root / TRANSFERS


class TransferLog:
    """The writer: one per transfer, safe to call from the download threads."""

    def __init__(self, root: Path, transfer: Transfer) -> None:
        self.transfer = transfer
        self._path = transfers_dir(root) / f"{transfer.id}.json"
        self._lock = threading.Lock()
        self._written = 0.0
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._write()

    def blob(self, digest: str) -> Blob:
        return next(b for b in self.transfer.blobs if b.digest == digest)

    def update(self, digest: str | None = None, force: bool = False, **changes: Any) -> None:
        """Change the transfer (`digest` None) or one of its blobs; written now if `force` or
        a state word changed (not merely said again), else at most every 0.1 s."""
        with self._lock:
            target: Any = self.transfer if digest is None else self.blob(digest)
            moved = {k for k, v in changes.items() if k != "done" and getattr(target, k) != v}
            for key, value in changes.items():
                setattr(target, key, value)
            if force or moved or time.monotonic() - self._written >= _MIN_INTERVAL:
                self._write()

    def close(self) -> None:
        """The transfer ended (done, failed or interrupted): its record goes."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def _write(self) -> None:
        write_json_atomic(self._path, dataclasses.asdict(self.transfer), durable=False)
        self._written = time.monotonic()


def read_transfers(root: Path) -> list[Transfer]:
    """The transfers under way, oldest first; a record that vanishes or is half-read is
    skipped (its writer has just finished)."""
    found: list[Transfer] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(transfers_dir(root)):
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            try:
                data = json.loads(Path(entry.path).read_text())
                blobs = [Blob(**b) for b in data.pop("blobs")]
                found.append(Transfer(**data, blobs=blobs))
            except (OSError, ValueError, TypeError, KeyError):
                continue
    return sorted(found, key=lambda t: t.started)
