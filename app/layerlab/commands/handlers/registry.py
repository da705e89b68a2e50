"""`pull`, `push`, `login`, `logout`: printed as Docker's client prints them.

`pull` and `push` draw their progress from the transfer's record (`commands/progress.py`);
a name with a transport prefix (`docker-daemon:NAME`) is pulled by that transport's handler
(`TRANSPORTS`), not from a registry.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import TextIO

from layerlab.commands.handlers.common import Handler, command, write_listing
from layerlab.commands.stdio import IO, no_stdin
from layerlab.engine import Engine
from layerlab.errors import LayerlabError
from layerlab.report import Report
from layerlab.storage.reference import normalize_ref

# Sources other than a registry, by the prefix of the name: the handler that pulls from it.
TRANSPORTS: dict[str, Handler] = {}
TRANSPORT_PREFIXES = ("docker-daemon:",)

UNENCRYPTED = (
    "WARNING! Your password will be stored unencrypted in {path}.\n"
    "Configure a credential helper to remove this warning. See\n"
    "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n"
)


@command("pull")
def cmd_pull(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    for prefix in TRANSPORT_PREFIXES:
        if ns.name.startswith(prefix):
            transport = TRANSPORTS.get(prefix)
            if transport is None:
                raise LayerlabError(f"unsupported transport {prefix!r} in this layerlab")
            return transport(engine, ns, io)
    from layerlab.commands.progress import PullPrinter

    printer = None if ns.quiet else PullPrinter(io.out, _terminal(io))
    pulled = engine.pull(
        ns.name, all_tags=ns.all_tags, platform=ns.platform,
        say=printer.say if printer else None, observe=printer.observe if printer else None,
    )  # fmt: skip
    if printer is not None:
        printer.say(pulled.status)
    print(pulled.reference, file=io.out)
    return Report(images=list(dict.fromkeys(pulled.image_ids)))


@command("push")
def cmd_push(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.commands.progress import PullPrinter

    printer = None if ns.quiet else PullPrinter(io.out, _terminal(io))
    pushed = engine.push(
        ns.name, all_tags=ns.all_tags,
        say=printer.say if printer else None, observe=printer.observe if printer else None,
    )  # fmt: skip
    if printer is None:
        print(pushed.reference, file=io.out)
    return Report(images=list(dict.fromkeys(tag.image_id for tag in pushed.tags)))


@command("search")
def cmd_search(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    from layerlab.presentation import listing

    found = engine.search(ns.term, ns.limit, ns.filter)
    rows = [
        {
            "Name": f.name,
            "Description": _described(f.description, not ns.no_trunc),
            "StarCount": str(f.star_count),
            "IsOfficial": "[OK]" if f.is_official else "",
            "IsAutomated": "[OK]" if f.is_automated else "",
        }
        for f in found
    ]
    return write_listing(io, lambda: listing.render_rows(
        ns.format, listing.SEARCH_DEFAULT, rows, listing.SEARCH_TITLES, listing.SEARCH_CONTEXT
    ))  # fmt: skip


def _described(text: str, trunc: bool) -> str:
    """docker/cli's searchContext.Description: one line, cut to 45 characters with `…`."""
    text = text.replace("\n", " ").replace("\r", " ")
    return text[:44] + "…" if trunc and len(text) > 45 else text


def puller(engine: Engine, io: IO) -> Callable[[str, TextIO], None]:
    """How `run`, `create` and `build`'s FROM pull an image the store lacks: the pull's lines
    on the stream given (`run`'s stderr, the build's output), as Docker's client prints them."""

    def pull(ref: str, out: TextIO) -> None:
        from layerlab.commands.progress import PullPrinter

        printer = PullPrinter(out, _terminal(io, out))
        tagged = ref if "@" in ref else normalize_ref(ref)  # no `Using default tag` line
        pulled = engine.pull(tagged, say=printer.say, observe=printer.observe)
        printer.say(pulled.status)

    return pull


def _terminal(io: IO, out: TextIO | None = None) -> bool:
    try:
        return io.interactive and (out or io.out).isatty()
    except (AttributeError, ValueError):
        return False


@command("login")
def cmd_login(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    user, password = ns.username or "", ns.password or ""
    if ns.password and ns.password_stdin:
        raise LayerlabError("--password and --password-stdin are mutually exclusive")
    if ns.password_stdin:
        if not user:
            raise LayerlabError("Must provide --username with --password-stdin")
        if io.stdin is None:
            raise no_stdin("login", "a password", "give it with -p")
        password = io.stdin.read().decode(errors="replace").rstrip("\r\n")
    if ns.password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
              file=io.err)  # fmt: skip
    if not user or not password:
        user, password = _prompt(io, user, password)
    path = engine.login(ns.server, user.strip(), password)
    io.err.write(UNENCRYPTED.format(path=path))
    print("Login Succeeded", file=io.out)
    return Report()


def _prompt(io: IO, user: str, password: str) -> tuple[str, str]:
    """Docker's interactive login: `Username: `, then `Password: ` without echo."""
    if io.stdin is None or not io.interactive or not io.stdin.isatty():
        raise LayerlabError("Cannot perform an interactive login from a non TTY device")
    if not user:
        io.out.write("Username: ")
        io.out.flush()
        user = io.stdin.readline().decode(errors="replace").strip()
    if not password:
        io.out.write("Password: ")
        io.out.flush()
        with _no_echo(io.stdin.fileno()):
            password = io.stdin.readline().decode(errors="replace").rstrip("\r\n")
        io.out.write("\n")
    return user, password


@contextlib.contextmanager
def _no_echo(fd: int) -> Iterator[None]:
    import termios  # a terminal's: not loaded for any other command

    saved = termios.tcgetattr(fd)
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@command("logout")
def cmd_logout(engine: Engine, ns: argparse.Namespace, io: IO) -> Report:
    name, removed = engine.logout(ns.server)
    if not removed:
        print(f"Not logged in to {name}", file=io.out)
        return Report()
    print(f"Removing login credentials for {name}", file=io.out)
    return Report()
