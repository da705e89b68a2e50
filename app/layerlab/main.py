"""The `layerlab` entry point: parse the words, then open the TUI or run one command.

A bare `layerlab` on a terminal, or `layerlab tui`, opens the TUI (imported
only then: CLI start-up is benchmarked); `lesson` runs the course, each lesson in a
store of its own; every other command goes to `commands.handlers.dispatch`, and its
`Report`'s code is the exit code. `entry` is the process's way in: `main`, then an
exit without the interpreter's teardown when nothing needs it.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from layerlab.commands.grammar import build_parser, parse
from layerlab.errors import (
    CREATING_COMMANDS,
    FAILED,
    NO_SPACE,
    NOT_STARTED,
    LayerlabError,
    go_strerror,
    printed,
)
from layerlab.storage.rootdir import default_root


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    ns = None
    try:
        ns = parse(words)
        if ns.cmd is None:
            if not sys.stdout.isatty():
                build_parser().print_help(sys.stdout)
                return 0
            ns.cmd = "tui"  # a bare `layerlab` on a terminal opens the TUI
        reads_only = ns.cmd == "lesson" and ns.lesson_cmd in ("ls", "check")  # no store, no runc
        if os.geteuid() != 0 and not reads_only:
            raise LayerlabError("layerlab must run as root: it mounts overlayfs and starts runc")
        root = Path(ns.root) if ns.root else default_root()
        _check_root(root)
        if ns.cmd == "serve":
            from layerlab.tui.serve import serve  # textual-serve only to serve

            return serve(ns.host, ns.port, ns.token, sys.stdout)
        opens_lesson = ns.cmd == "lesson" and ns.lesson_cmd == "open"
        if ns.cmd in ("tui", "demo") or opens_lesson:
            from layerlab.tui.app import run_tui  # Textual only; its engine after the first frame

            lesson = ns.lesson if ns.cmd != "lesson" else ns.names[0]
            demo = ns.delay if ns.cmd == "demo" else None
            present, leave = getattr(ns, "present", False), getattr(ns, "exit", False)
            docker = _docker_host(ns)
            return run_tui(root, lesson, demo, present=present, demo_exit=leave, docker=docker)
        from layerlab.commands.handlers import dispatch
        from layerlab.commands.stdio import IO

        stdin = sys.stdin.buffer if sys.stdin is not None else None
        io = IO(sys.stdout, sys.stderr, interactive=True, stdin=stdin)
        if ns.cmd == "lesson":  # the lessons' stores are their own: `root`'s engine is not used
            from layerlab.lessons.commands import main as lessons

            return lessons(ns, io, dispatch)
        from layerlab.engine import Engine

        return dispatch(Engine(root), ns, io).code
    except LayerlabError as exc:
        print(printed(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug or an OS failure: still one line, unless debugging
        if os.environ.get("LAYERLAB_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.filename:  # Go's words: "PATH: not a directory"
            print(f"Error: {exc.filename}: {go_strerror(exc)}", file=sys.stderr)
        elif isinstance(exc, OSError) and exc.errno in NO_SPACE:  # a full disk, where it may
            print(f"Error: {go_strerror(exc)}", file=sys.stderr)
        else:
            print(
                f"Error: {type(exc).__name__}: {exc} (LAYERLAB_DEBUG=1 shows where)",
                file=sys.stderr,
            )
        return NOT_STARTED if ns is not None and ns.cmd in CREATING_COMMANDS else FAILED


def entry() -> NoReturn:
    """The process's entry (`python -m layerlab`, the `layerlab` script): `main`, then out.

    Tearing the interpreter down (freeing every module) costs a command 15-30 ms, a
    tenth of a `run --rm`. When no thread is left (the TUI's are) and nothing waits
    to run at exit, all that teardown would still do is flush our output: so flush
    it, and leave.
    """
    code = main()
    if threading.active_count() > 1 or atexit._ncallbacks():
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a reader gone (`| head`), or closed: nothing to deliver
            pass
    os._exit(code)


def _docker_host(ns: argparse.Namespace) -> str | None:
    """`tui --docker [--host URL]`: the daemon to show ("": DOCKER_HOST or Docker's default);
    None for layerlab's own store."""
    if not getattr(ns, "docker", False):
        if getattr(ns, "host", None):
            raise LayerlabError('"--host" requires "--docker"')
        return None
    if ns.lesson:
        raise LayerlabError(
            '"--lesson" and "--docker" cannot be used together: lessons run in layerlab\'s stores'
        )
    return ns.host or ""


def _check_root(root: Path) -> None:
    """A store root that cannot be a directory, refused in Go's words (as dockerd would)."""
    existing = next(p for p in (root, *root.parents) if p.exists())
    if not existing.is_dir():
        raise LayerlabError(f"mkdir {root}: not a directory")
