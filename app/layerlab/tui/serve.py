"""`layerlab serve`: the TUI in browsers, for a class (textual-serve).

Every browser session is a process of its own (`python -m layerlab.server.serve`)
with a store of its own: a throwaway `LAYERLAB_ROOT` (a lesson `Sandbox`),
whose containers and folder are removed when the session ends; its command
history and lesson progress live in that folder too (its own `XDG_STATE_HOME`),
so no student's ↑ recalls another's or the teacher's commands. The TUI runs
containers as root, and on a shared machine any local user can reach even
127.0.0.1, so every request must carry the token, on every address (`?token=`
on the page; the page's cookie on what it loads after, the websocket included),
checked by an aiohttp middleware in front of textual-serve's routes. The token
is shown once, in the URL printed on the server's terminal; its log hides it.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Middleware
from rich.logging import RichHandler
from textual_serve.server import Server

from layerlab.errors import LayerlabError

LOCALHOST = "127.0.0.1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_middleware(token: str, cookie: str) -> Middleware:
    """Refuse (403) a request without the token, in the query or the cookie the page got."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(cookie) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text="layerlab serve: this server needs its token (?token=…)\n")
        response = await handler(request)
        if request.path == "/" and not response.prepared:
            response.set_cookie(cookie, token, httponly=True, samesite="Strict")
        return response

    return check


class Redact(logging.Filter):
    """Hides a secret in every log line (aiohttp's access log shows each `?token=`)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "…"), ()
        return True


class LayerlabServer(Server):
    """textual-serve's server, with the token checked before any route runs."""

    def __init__(self, command: str, host: str, port: int, token: str) -> None:
        public = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
        if ":" in public:
            public = f"[{public}]"
        super().__init__(command, host=host, port=port, title="layerlab",
                         public_url=f"http://{public}:{port}")  # fmt: skip
        self.token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # A cookie is sent to every port of its host: one per port, so two servers keep theirs.
        app.middlewares.append(token_middleware(self.token, f"layerlab_token_{self.port}"))
        return app

    def initialize_logging(self) -> None:
        """textual-serve's log, the token hidden (also from tracebacks' local variables)."""
        super().initialize_logging()
        for handler in logging.getLogger().handlers:
            handler.addFilter(Redact(self.token))
            if isinstance(handler, RichHandler):
                handler.tracebacks_show_locals = False


def serve(host: str | None, port: int, token: str | None, out: TextIO) -> int:
    """Serve until Ctrl+C; without `--token`, a generated token, printed in the URL only."""
    if token is None:
        token = secrets.token_urlsafe(16)
    if not token.strip():
        raise LayerlabError("serve: the token may not be empty")
    command = shlex.join([sys.executable, "-m", "layerlab.tui.serve"])
    server = LayerlabServer(command, host or LOCALHOST, port, token)
    url = f"{server.public_url}/?{urlencode({'token': token})}"
    print(f"layerlab serve: open {url}", file=out, flush=True)
    print("each browser session gets a store of its own; the TUI runs containers as root",
          file=out, flush=True)  # fmt: skip
    server.serve()
    return 0


def session() -> int:
    """One browser session: the TUI on a throwaway store and state (history, progress),
    removed when the session ends."""
    from layerlab.commands.handlers import dispatch
    from layerlab.lessons.runner import Sandbox, temp_parent
    from layerlab.tui.app import LayerlabApp

    with Sandbox(dispatch, temp_parent()) as sandbox:
        os.environ["LAYERLAB_ROOT"] = str(sandbox.root)  # what the session's commands see
        os.environ["XDG_STATE_HOME"] = str(sandbox.dir / "state")  # history.py, progress.py
        LayerlabApp(sandbox.root).run()
    return 0


if __name__ == "__main__":
    sys.exit(session())
