"""Following `docker events`: a thread of its own reads the daemon's stream and calls back on
each event (the faces turn that into a message for their own thread, and read again). When the
stream ends the daemon went (or restarts): it calls back once the daemon no longer answers (the
read that follows says so) and again once it answers anew, and follows its new stream. Stopping
closes the stream, which ends the thread's wait.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from layerlab.docker_daemon.connect import api_client, cannot_connect
from layerlab.errors import LayerlabError

STOP_SECONDS = 10  # a hang guard on joining the thread: closing the stream ends its read
RETRY_SECONDS = 1.0  # how often a daemon gone is asked again


class EventsWatch:
    """`docker events` on the daemon at `host`, calling `on_change()` per event (on its thread)."""

    def __init__(self, host: str, on_change: Callable[[], None]) -> None:
        self.host = host
        self.on_change = on_change
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # a stream is made or closed under it, never both at once
        self._api: Any = None
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect and follow (the first connection is made here: a dead daemon raises now)."""
        self._connect()
        self._thread = threading.Thread(target=self._follow, name="docker-events", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        """A new client and its events stream, in place of the last (unless stopped)."""
        api = api_client(self.host)
        try:
            stream = api.events(decode=True)
        except Exception as exc:  # the SDK's and requests' many ways of not answering
            api.close()
            raise cannot_connect(self.host) from exc
        with self._lock:
            old, self._api, self._stream = self._api, api, stream
            if self._stopped.is_set():
                stream.close()
        if old is not None:
            old.close()

    def _follow(self) -> None:
        while not self._stopped.is_set():
            # Whatever ends the read: the stream closed under it (stop), or the daemon gone.
            with contextlib.suppress(Exception):
                for event in self._stream:
                    if self._stopped.is_set():
                        return
                    if changes_records(event):
                        self.on_change()
            self._reconnect()

    def _reconnect(self) -> None:
        """Ask each second until the daemon answers again (or the watch stops); the first
        question it does not answer, and the answer, each bring a read."""
        told = False
        while not self._stopped.wait(RETRY_SECONDS):
            try:
                self._connect()
            except LayerlabError:
                if not told:
                    self.on_change()
                    told = True
                continue
            self.on_change()
            return

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._stream is not None:
                with contextlib.suppress(Exception):
                    self._stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_SECONDS)
        if self._api is not None:
            self._api.close()


def changes_records(event: dict[str, Any]) -> bool:
    """Whether an event may change what the faces read: not a process run in a container
    (`exec_create`, `exec_start`, `exec_die`: every health check is one), which changes none."""
    return not str(event.get("Action") or event.get("status") or "").startswith("exec_")
