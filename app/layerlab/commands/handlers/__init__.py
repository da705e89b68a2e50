"""One function per command: each runs through the engine, prints what Docker prints,
and returns a `Report` of the ids it touched.

One module per command group, as docker/cli's `cli/command/` is: `containers` (a
container's life), `ps`, `inside` (exec, attach, logs, top, stats, diff, cp), `images`,
`inspection`, `build`, `volumes`, `networks` (with `port`), `registry` (pull, login,
logout), `system`; `common` holds what they share. (`lesson` runs lessons in stores of
their own, not on an engine: the entry point runs it.)
`dispatch(engine, ns, io)` runs a namespace from `grammar.parse`; an error for
the user is raised as a `LayerlabError` (the face prints it as one line).
"""

from __future__ import annotations

# Each group registers its commands in HANDLERS as it is imported.
from layerlab.commands.handlers import (  # noqa: F401
    build,
    containers,
    images,
    inside,
    inspection,
    networks,
    ps,
    registry,
    system,
    volumes,
)
from layerlab.commands.handlers.common import GROUP_HANDLERS, HANDLERS, Handler, dispatch

__all__ = ["GROUP_HANDLERS", "HANDLERS", "Handler", "dispatch"]
