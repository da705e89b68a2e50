"""The `network` group's words: its commands with Docker's help lines, and each one's flags
(grammar.py adds them under `network`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# Adds one command of a group (its name and aliases) and gives its parser.
SubAdd = Callable[..., argparse.ArgumentParser]

# `network COMMAND`, with Docker's help lines.
NETWORK_COMMANDS: dict[str, str] = {
    "connect": "Connect a container to a network",
    "create": "Create a network",
    "disconnect": "Disconnect a container from a network",
    "inspect": "Display detailed information on one or more networks",
    "ls": "List networks",
    "prune": "Remove all unused networks",
    "rm": "Remove one or more networks",
}


def network_parsers(add: SubAdd) -> None:
    """`network connect|create|disconnect|inspect|ls|prune|rm` (Docker's aliases too)."""
    n = add("connect")
    n.add_argument("--alias", action="append", default=[], help="add network-scoped alias")
    n.add_argument("network")
    n.add_argument("container")
    n = add("create")
    n.add_argument("-d", "--driver", default="bridge", help="driver to manage the network")
    n.add_argument("--subnet", help="subnet in CIDR format")
    n.add_argument("--gateway", help="IPv4 gateway for the subnet")
    n.add_argument("--internal", action="store_true", help="restrict external access")
    n.add_argument("--label", action="append", default=[], help="set metadata on a network")
    n.add_argument("name", metavar="NETWORK")
    n = add("disconnect")
    n.add_argument("-f", "--force", action="store_true", help="force the disconnection")
    n.add_argument("network")
    n.add_argument("container")
    n = add("inspect")
    n.add_argument("-f", "--format", help="format output using a Go template")
    n.add_argument("names", nargs="+", metavar="NETWORK")
    n = add("ls", ("list",))
    n.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")
    n.add_argument("--no-trunc", action="store_true", help="do not truncate the output")
    n = add("prune")
    n.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    n = add("rm", ("remove",))
    n.add_argument("names", nargs="+", metavar="NETWORK")
