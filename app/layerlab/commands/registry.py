"""The registry commands' words: `pull`, `login`, `logout`, with Docker 20.10's help lines
and flags (grammar.py adds them to the top level)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

REGISTRY_COMMANDS: dict[str, str] = {
    "pull": "Pull an image or a repository from a registry",
    "login": "Log in to a Docker registry",
    "logout": "Log out from a Docker registry",
}


def registry_parsers(add: Callable[..., argparse.ArgumentParser]) -> None:
    """`pull [OPTIONS] NAME[:TAG|@DIGEST]`, `login [OPTIONS] [SERVER]`, `logout [SERVER]`."""
    p = add("pull")
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="download all tagged images in the repository")  # fmt: skip
    p.add_argument("--disable-content-trust", action="store_true", default=True,
                   help="skip image verification")  # fmt: skip
    p.add_argument("--platform", metavar="string",
                   help="set platform if server is multi-platform capable")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p = add("login", description="Log in to a Docker registry.\nIf no server is specified, "
            "the default is defined by the daemon.")  # fmt: skip
    p.add_argument("-p", "--password", metavar="string", help="password")
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    p.add_argument("-u", "--username", metavar="string", help="username")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p = add("logout", description="Log out from a Docker registry.\nIf no server is specified, "
            "the default is defined by the daemon.")  # fmt: skip
    p.add_argument("server", nargs="?", metavar="SERVER")
