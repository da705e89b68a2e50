"""`layerlab serve`: the TUI in browsers, for a class (textual-serve).

Every browser session is a process of its own (`python -m layerlab.serve`)
with a store of its own: a throwaway `LAYERLAB_ROOT` (a lesson `Sandbox`),
whose containers and folder are removed when the session ends. The TUI runs
containers as root, so the server listens on 127.0.0.1 unless `--host` is
given, and then only with a token: every request must carry it (`?token=` on
the page; the page's cookie on what it loads after, the websocket included),
checked by an aiohttp middleware in front of textual-serve's routes.
"""

from __future__ import annotations

import hmac
import os
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from aiohttp import web
from aiohttp.typedefs import Middleware
from textual_serve.server import Server

from layerlab.errors import LayerlabError

LOCALHOST = "127.0.0.1"
COOKIE = "layerlab_token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_middleware(token: str) -> Middleware:
    """Refuse (403) a request without the token, in the query or the cookie the page got."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text="layerlab serve: this server needs its token (?token=…)\n")
        response = await handler(request)
        if request.path == "/" and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    return check


class LayerlabServer(Server):
    """textual-serve's server, with the token checked before any route runs."""

    def __init__(self, command: str, host: str, port: int, token: str | None) -> None:
        public = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
        if ":" in public:
            public = f"[{public}]"
        super().__init__(command, host=host, port=port, title="layerlab",
                         public_url=f"http://{public}:{port}")  # fmt: skip
        self.token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        if self.token is not None:
            app.middlewares.append(token_middleware(self.token))
        return app


def serve(host: str | None, port: int, token: str | None, out: TextIO) -> int:
    """Serve until Ctrl+C; `--host` without `--token` gets a generated token, printed."""
    if host is not None and host != LOCALHOST and token is None:
        token = secrets.token_urlsafe(16)
    bind = host or LOCALHOST
    if token is not None and not token.strip():
        raise LayerlabError("serve: the token may not be empty")
    command = shlex.join([sys.executable, "-m", "layerlab.serve"])
    server = LayerlabServer(command, bind, port, token)
    url = server.public_url + "/" + (f"?token={token}" if token else "")
    print(f"layerlab serve: open {url}", file=out, flush=True)
    print("each browser session gets a store of its own; the TUI runs containers as root",
          file=out, flush=True)  # fmt: skip
    server.serve()
    return 0


def session() -> int:
    """One browser session: the TUI on a throwaway store, removed when the session ends."""
    from layerlab.cli.handlers import dispatch
    from layerlab.lessons.runner import Sandbox, temp_parent
    from layerlab.tui.app import LayerlabApp

    with Sandbox(dispatch, temp_parent()) as sandbox:
        os.environ["LAYERLAB_ROOT"] = str(sandbox.root)  # what the session's commands see
        LayerlabApp(sandbox.root).run()
    return 0


if __name__ == "__main__":
    sys.exit(session())
