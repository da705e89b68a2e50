"""The image tools beyond Docker's CLI: `pull docker-daemon:`, `compare`, `analyze`."""

from __future__ import annotations

import argparse

from layerlab.commands.handlers.common import command
from layerlab.commands.stdio import IO
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.report import Report


@command("pull")
def cmd_pull(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.docker_daemon.transfer import TRANSPORT

    if ns.name.startswith(TRANSPORT):
        return pull_from_daemon(engine, ns, io)
    raise LayerlabError(f"{ns.name}: only {TRANSPORT}NAME[:TAG] can be pulled here")


def pull_from_daemon(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    """`pull docker-daemon:NAME[:TAG]`: Docker's last lines of a pull, for the daemon's copy."""
    image, had = engine.pull_from_daemon(ns.name, ns.host)
    status = "Image is up to date" if had else "Downloaded newer image"
    print(f"Status: {status} for {image.reference}", file=io.out)
    print(f"docker-daemon:{image.reference}", file=io.out)
    return Report(images=[image.id], created_images=[] if had else [image.id])
