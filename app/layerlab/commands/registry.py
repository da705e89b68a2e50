"""The registry commands' words: `pull`, `push`, `search`, `login`, `logout`, with Docker
20.10's help lines and flags (grammar.py adds them to the top level)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

REGISTRY_COMMANDS: dict[str, str] = {
    "pull": "Pull an image or a repository from a registry",
    "push": "Push an image or a repository to a registry",
    "search": "Search a registry's catalog for images",
    "login": "Log in to a Docker registry",
    "logout": "Log out from a Docker registry",
}


def registry_parsers(add: Callable[..., argparse.ArgumentParser]) -> None:
    """`pull [OPTIONS] NAME[:TAG|@DIGEST]`, `push [OPTIONS] NAME[:TAG]`,
    `search [OPTIONS] TERM`, `login [OPTIONS] [SERVER]`, `logout [SERVER]`."""
    p = add("pull")
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="download all tagged images in the repository")  # fmt: skip
    p.add_argument("--disable-content-trust", action="store_true", default=True,
                   help="skip image verification")  # fmt: skip
    p.add_argument("--platform", metavar="string",
                   help="set platform if server is multi-platform capable")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p = add("push")
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="push all tagged images in the repository")  # fmt: skip
    p.add_argument("--disable-content-trust", action="store_true", default=True,
                   help="skip image signing")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG]")
    p = add("search")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="filter",
                   help="filter output based on conditions provided")  # fmt: skip
    p.add_argument("--format", metavar="string", help="pretty-print search using a Go template")
    p.add_argument("--limit", type=int, default=25, metavar="int",
                   help="max number of search results")  # fmt: skip
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("term", metavar="TERM")
    p = add("login", description="Log in to a Docker registry.\nIf no server is specified, "
            "the default is defined by the daemon.")  # fmt: skip
    p.add_argument("-p", "--password", metavar="string", help="password")
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")
    p.add_argument("-u", "--username", metavar="string", help="username")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p = add("logout", description="Log out from a Docker registry.\nIf no server is specified, "
            "the default is defined by the daemon.")  # fmt: skip
    p.add_argument("server", nargs="?", metavar="SERVER")
