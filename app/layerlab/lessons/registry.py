"""A lesson's own registry: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1.

A lesson that says `registry: true` gets one, started with its sandbox on a free loopback
port, its storage and access log in the sandbox's folder, and ended by its pid with the
lesson. Its commands name it `$REGISTRY` (`push $REGISTRY/app:1`), which the sandbox turns
into `127.0.0.1:PORT` before a command runs: loopback, so plain HTTP, as Docker allows.

The access log is the registry's own account of what travelled: a blob upload it completed
(`PUT .../blobs/uploads/...` answered 201) and a blob mounted from another repository
(`POST .../blobs/uploads/?mount=...` answered 201). The checks count those (`registry_checks`),
never the client's printed words.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from layerlab.errors import LayerlabError

BINARY = Path("/usr/bin/docker-registry")
PLACEHOLDER = "$REGISTRY"
START_GUARD = 30.0  # a hang guard for the registry's first answer, not a measure
STOP_GUARD = 10.0
# An upload completed: its last PUT, or one POST carrying the whole blob (`?digest=`).
UPLOADED = re.compile(
    r'"(?:PUT /v2/(\S+)/blobs/uploads/\S+'
    r'|POST /v2/(\S+)/blobs/uploads/\?(?!\S*mount=)\S*digest=\S+) HTTP/[\d.]+" 201 '
)
MOUNTED = re.compile(r'"POST /v2/(\S+)/blobs/uploads/\?\S*mount=\S+ HTTP/[\d.]+" 201 ')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LessonRegistry:
    """A running registry serving from `folder`; `host` is `127.0.0.1:PORT`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.log = folder / "access.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Run it and wait until `/v2/` answers; LayerlabError (one line) when it cannot."""
        if not BINARY.exists():
            raise LayerlabError(f"this lesson needs a registry: {BINARY} is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(self.folder / "storage")}},
            "http": {"addr": self.host, "secret": "layerlab-lesson"},
        }
        (self.folder / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(
                [str(BINARY), "serve", str(self.folder / "config.yml")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + START_GUARD
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LayerlabError(f"the lesson's registry did not start (see {self.log})")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"GET /v2/ HTTP/1.0\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.0 200")
        except OSError:
            return False

    def stop(self) -> None:
        """End it by its pid (SIGTERM, then SIGKILL after the guard) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_GUARD)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0

    def since(self, offset: int) -> str:
        """What the access log says after `offset` bytes."""
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def travelled(self, offset: int) -> tuple[list[str], list[str]]:
        """(repositories of each blob uploaded, of each blob mounted) since `offset`."""
        text = self.since(offset)
        uploads = [put or post for put, post in UPLOADED.findall(text)]
        return uploads, MOUNTED.findall(text)
