"""Following `docker events`: a thread of its own reads the daemon's stream and calls back on
each event (the faces turn that into a message for their own thread, and read again). Stopping
closes the stream, which ends the thread's wait.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from layerlab.docker_daemon.connect import api_client

STOP_SECONDS = 10  # a hang guard on joining the thread: closing the stream ends its read


class EventsWatch:
    """`docker events` on the daemon at `host`, calling `on_change()` per event (on its thread)."""

    def __init__(self, host: str, on_change: Callable[[], None]) -> None:
        self.host = host
        self.on_change = on_change
        self._stopped = threading.Event()
        self._api: Any = None
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect and follow (the connection is made here, so a dead daemon raises now)."""
        self._api = api_client(self.host)
        self._stream = self._api.events(decode=True)
        self._thread = threading.Thread(target=self._follow, name="docker-events", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        # Whatever ends the read: the stream closed under it (stop), or the daemon gone.
        with contextlib.suppress(Exception):
            for _ in self._stream:
                if self._stopped.is_set():
                    return
                self.on_change()

    def stop(self) -> None:
        self._stopped.set()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_SECONDS)
        if self._api is not None:
            self._api.close()
