"""One command grammar, Docker's, shared by the shell and the TUI's command bar.

`parse(argv)` turns words into a namespace; `dispatch(engine, ns, io)` runs it
and writes what Docker would print. Errors are one line and an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn, TextIO

from layerlab import __version__
from layerlab.containers import Container, CreateOptions
from layerlab.engine import Engine, Stdio
from layerlab.errors import LayerlabError
from layerlab.gotemplate import TemplateError, render
from layerlab.humanize import ago, human_size, parse_rfc3339
from layerlab.reference import display_id
from layerlab.table import format_table


class UsageError(LayerlabError):
    """A malformed command line: Docker exits 125 for these too."""


@dataclass
class IO:
    out: TextIO
    err: TextIO
    interactive: bool = True  # False in the TUI: `-it` needs the real terminal


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


Handler = Callable[[Engine, argparse.Namespace, IO], int]
COMMANDS: dict[str, tuple[Handler, str]] = {}


def command(name: str, help: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = (fn, help)
        return fn

    return register


# --- the grammar -------------------------------------------------------------
def _container_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def build_parser() -> Parser:
    parser = Parser(prog="layerlab", description="A small, real container engine.")
    parser.add_argument("--root", help="store root (default /var/lib/layerlab, or $LAYERLAB_ROOT)")
    parser.add_argument("--version", action="version", version=f"layerlab {__version__}")
    sub = parser.add_subparsers(dest="cmd", parser_class=Parser, metavar="COMMAND")

    def add(name: str, **kw: object) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=COMMANDS[name][1], add_help=False, **kw)  # type: ignore[arg-type]
        p.add_argument("--help", action="help", help="show this help")
        return p

    _container_flags(add("create"))
    p = add("run")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    _container_flags(p)
    p = add("start")
    p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="attach STDIN")
    p.add_argument("containers", nargs="+")
    p = add("ps")
    p.add_argument("-a", "--all", action="store_true", help="show all containers")
    p.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p = add("stop")
    p.add_argument("-t", "--time", type=int, help="seconds to wait before killing (10)")
    p.add_argument("-s", "--signal", help="signal to send (the image's, else SIGTERM)")
    p.add_argument("containers", nargs="+")
    p = add("kill")
    p.add_argument("-s", "--signal", default="KILL", help="signal to send (KILL)")
    p.add_argument("containers", nargs="+")
    for name in ("pause", "unpause", "wait"):
        add(name).add_argument("containers", nargs="+")
    p = add("rm")
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("-v", "--volumes", action="store_true", help="accepted; no volumes yet")
    p.add_argument("containers", nargs="+")
    p = add("exec")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p = add("logs")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("container")
    p = add("top")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
    p = add("rename")
    p.add_argument("container")
    p.add_argument("new_name")
    add("diff").add_argument("container")
    p = add("save")
    p.add_argument("-o", "--output", help="write to a file instead of STDOUT")
    p.add_argument("images", nargs="+")
    p = add("load")
    p.add_argument("-i", "--input", help="read from a tar archive file instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p = add("import")
    p.add_argument("-m", "--message", default="", help="commit message for the image")
    p.add_argument("-c", "--change", action="append", default=[], help="apply an instruction")
    p.add_argument("file", help="a tar archive, or - for STDIN")
    p.add_argument("repository", nargs="?")
    p = add("export")
    p.add_argument("-o", "--output", help="write to a file instead of STDOUT")
    p.add_argument("container")
    p = add("commit")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("-a", "--author", default="", help="author")
    p.add_argument("-c", "--change", action="append", default=[], help="apply an instruction")
    p.add_argument("-p", "--pause", default=True, action=argparse.BooleanOptionalAction,
                   help="pause the container while committing (default)")  # fmt: skip
    p.add_argument("container")
    p.add_argument("repository", nargs="?")
    p = add("images")
    p.add_argument("-a", "--all", action="store_true", help="show intermediate images too")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p = add("history")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("image")
    p = add("tag")
    p.add_argument("source")
    p.add_argument("target")
    p = add("rmi")
    p.add_argument("-f", "--force", action="store_true", help="force removal")
    p.add_argument("images", nargs="+")
    p = add("inspect")
    p.add_argument("-f", "--format", help="format output using a Go template")
    p.add_argument("names", nargs="+")
    add("tui")
    p = add("build")
    p.add_argument("-t", "--tag", action="append", default=[], help="name[:tag] for the image")
    p.add_argument("-f", "--file", help="the Dockerfile (default CONTEXT/Dockerfile; - = stdin)")
    p.add_argument("--no-cache", action="store_true", help="don't use the build cache")
    p.add_argument("--build-arg", action="append", default=[], help="set a build-time ARG: K=V")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.add_argument("--rm", "--rm=true", "--rm=false", dest="rm", action=_RmFlag, nargs=0,
                   default=True, help="remove intermediate containers (default true)")  # fmt: skip
    p.add_argument("--force-rm", action="store_true", help="always remove intermediate containers")
    p.add_argument("--target", help="build up to this stage")
    p.add_argument("context", help="the build context: a directory")
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    words = list(argv)
    if words and words[0] == "docker":  # the article's commands, typed as printed
        words = words[1:]
    return build_parser().parse_args(words)


# --- commands ------------------------------------------------------------------
def _create_options(ns: argparse.Namespace, attach: bool) -> CreateOptions:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    return CreateOptions(
        command=command,
        name=ns.name,
        env=ns.env,
        workdir=ns.workdir,
        hostname=ns.hostname,
        entrypoint=ns.entrypoint,
        tty=ns.tty,
        interactive=ns.interactive,
        auto_remove=ns.rm,
        attach=attach,
    )


@command("create", "Create a new container: a writable layer on an image")
def cmd_create(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    container = engine.create(ns.image, _create_options(ns, attach=False))
    print(container.id, file=io.out)
    return 0


@command("run", "Create and start a container (create + start)")
def cmd_run(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    attach = not ns.detach
    if attach and ns.tty and ns.interactive:
        _require_terminal(io)
    opts = _create_options(ns, attach=attach)
    if not attach:
        container, _ = engine.run(ns.image, opts)
        print(container.id, file=io.out)
        return 0
    container = engine.create(ns.image, opts)
    with _attached(engine, container.id, io, raw=ns.tty and ns.interactive), _stdio(io) as stdio:
        return engine.start_attached(container.id, stdio)


@command("start", "Start one or more stopped containers")
def cmd_start(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    if ns.attach or ns.interactive:
        if len(ns.containers) > 1:
            raise LayerlabError("you cannot start and attach multiple containers at once")
        container = engine.container(ns.containers[0])
        cfg = container.data["Config"]
        raw = bool(cfg.get("Tty") and cfg.get("OpenStdin") and ns.interactive)
        if raw:
            _require_terminal(io)
        with _attached(engine, container.id, io, raw=raw), _stdio(io) as stdio:
            return engine.start_attached(container.id, stdio)
    return _each(ns.containers, io, lambda ref: engine.start(ref))


@command("ps", "List containers")
def cmd_ps(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    containers = engine.containers(all=ns.all)
    if ns.quiet:
        for c in containers:
            print(c.id if ns.no_trunc else c.short_id, file=io.out)
        return 0
    io.out.write(format_table(PS_HEADERS, ps_rows(containers, no_trunc=ns.no_trunc)))
    return 0


PS_HEADERS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


def ps_rows(containers: Sequence[Container], no_trunc: bool = False) -> list[list[str]]:
    """Docker's `ps` cells; the TUI shows the same rows."""
    rows = []
    for c in containers:
        cmd = c.command
        if not no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        rows.append(
            [
                c.id if no_trunc else c.short_id,
                c.image_ref,
                json.dumps(cmd, ensure_ascii=False),  # Go's strconv.Quote, as Docker prints it
                ago(c.created),
                c.status_text(),
                "",
                c.name,
            ]
        )
    return rows


@command("stop", "Stop running containers: the stop signal, then SIGKILL after a grace time")
def cmd_stop(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    return _each(ns.containers, io, lambda ref: engine.stop(ref, ns.time, ns.signal))


@command("kill", "Kill running containers (SIGKILL by default)")
def cmd_kill(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    return _each(ns.containers, io, lambda ref: engine.kill(ref, ns.signal))


@command("pause", "Freeze all processes of containers (the cgroup freezer)")
def cmd_pause(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    return _each(ns.containers, io, engine.pause)


@command("unpause", "Thaw all processes of paused containers")
def cmd_unpause(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    return _each(ns.containers, io, engine.unpause)


@command("wait", "Block until containers stop, then print their exit codes")
def cmd_wait(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    failed = 0
    for ref in ns.containers:
        try:
            print(engine.wait(ref), file=io.out)
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            failed = exc.exit_code
    return failed


@command("rm", "Remove containers and their writable layers")
def cmd_rm(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    return _each(ns.containers, io, lambda ref: engine.rm(ref, force=ns.force))


@command("exec", "Run a command in a running container")
def cmd_exec(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if ns.tty and not ns.detach:
        _require_terminal(io)
    with _stdio(io) as stdio:
        return engine.exec(
            ns.container,
            command,
            detach=ns.detach,
            interactive=ns.interactive,
            tty=ns.tty,
            env=ns.env,
            workdir=ns.workdir,
            stdio=stdio,
        )


@command("logs", "Fetch the logs of a container")
def cmd_logs(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    for entry in engine.logs(ns.container, follow=ns.follow):
        stream = io.err if entry.stream == "stderr" else io.out
        stream.write(f"{entry.time} {entry.text}" if ns.timestamps else entry.text)
        stream.flush()
    return 0


@command("top", "Display the running processes of a container")
def cmd_top(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    headers, rows = engine.top(ns.container, ns.ps_args)
    io.out.write(format_table(headers, rows))
    return 0


@command("rename", "Rename a container")
def cmd_rename(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    engine.rename(ns.container, ns.new_name)
    return 0


@command("diff", "Show the changes in a container's writable layer (A added, C changed, D deleted)")
def cmd_diff(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    io.out.write("".join(f"{change}\n" for change in engine.diff(ns.container)))
    return 0


@command("save", "Save images to a tar archive (docker-archive and OCI layout in one)")
def cmd_save(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    with _binary_output(ns.output, io) as out:
        engine.save(ns.images, out)
    return 0


@command("load", "Load images from a tar archive or an OCI layout")
def cmd_load(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    if ns.input:
        lines = engine.load(Path(ns.input))
    elif not io.interactive or sys.stdin.isatty():
        raise LayerlabError("requested load from stdin, but stdin is empty")
    else:
        lines = engine.load(sys.stdin.buffer)
    if not ns.quiet:
        for line in lines:
            print(line, file=io.out)
    return 0


@command("import", "Import a tar archive as a one-layer image")
def cmd_import(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    if ns.file == "-":
        if not io.interactive:
            raise LayerlabError("import from STDIN needs a shell; give a file instead")
        image_id = engine.import_image(
            sys.stdin.buffer, message=ns.message, changes=ns.change, repo_tag=ns.repository
        )
    else:
        try:
            with open(ns.file, "rb") as f:
                image_id = engine.import_image(
                    f, message=ns.message, changes=ns.change, repo_tag=ns.repository
                )
        except FileNotFoundError:
            raise LayerlabError(f"open {ns.file}: no such file or directory") from None
    print(image_id, file=io.out)
    return 0


@command("export", "Export a container's merged filesystem as a tar archive (no metadata)")
def cmd_export(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    with _binary_output(ns.output, io) as out:
        engine.export(ns.container, out)
    return 0


@contextlib.contextmanager
def _binary_output(path: str | None, io: IO) -> Iterator[BinaryIO]:
    """`-o FILE`, else STDOUT - never a terminal, as Docker refuses too."""
    if path:
        with open(path, "wb") as f:
            yield f
        return
    if not io.interactive or io.out.isatty():
        raise LayerlabError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    io.out.flush()
    yield io.out.buffer


@command("commit", "Turn a container's writable layer into a new image's read-only layer")
def cmd_commit(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    image_id = engine.commit(
        ns.container,
        ns.repository,
        message=ns.message,
        author=ns.author,
        changes=ns.change,
        pause=ns.pause,
    )
    print(image_id, file=io.out)
    return 0


@command("images", "List images (-a: with intermediate images)")
def cmd_images(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    rows = engine.images(all=ns.all)
    if ns.quiet:
        seen: list[str] = []
        for _, image in rows:
            short = display_id(image.id, ns.no_trunc)
            if short not in seen:
                seen.append(short)
                print(short, file=io.out)
        return 0
    table = []
    for ref, image in rows:
        repo, _, tag = ref.rpartition(":")
        table.append(
            [repo, tag, display_id(image.id, ns.no_trunc), ago(image.created),
             human_size(image.size, precision=3)]
        )  # fmt: skip
    io.out.write(format_table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], table))
    return 0


@command("history", "Show the layers of an image, newest first")
def cmd_history(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    rows = engine.history(ns.image)
    if ns.quiet:
        for row in rows:
            print(display_id(row.image_id, ns.no_trunc), file=io.out)
        return 0
    table = []
    for row in rows:
        created_by = row.created_by
        if not ns.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        image_id = (
            row.image_id if row.image_id == "<missing>" else display_id(row.image_id, ns.no_trunc)
        )
        created = ago(parse_rfc3339(row.created)) if row.created else "N/A"
        size = human_size(row.size, precision=3)
        table.append([image_id, created, created_by, size, row.comment])
    io.out.write(format_table(["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], table))
    return 0


@command("tag", "Create a tag TARGET that refers to SOURCE")
def cmd_tag(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    engine.tag(ns.source, ns.target)
    return 0


@command("rmi", "Remove images (and the layers no other image uses)")
def cmd_rmi(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    code = 0
    for ref in ns.images:
        try:
            for line in engine.rmi(ref, force=ns.force):
                print(line, file=io.out)
        except LayerlabError as exc:
            if len(ns.images) == 1:
                raise
            print(f"Error: {exc}", file=io.err)
            code = 1
    return code


@command("tui", "Open the terminal UI (what a bare `layerlab` does on a terminal)")
def cmd_tui(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    from layerlab.tui.app import run_tui  # Textual only for the TUI: CLI start-up is benchmarked

    return run_tui(engine)


@command("inspect", "Show the metadata of containers or images")
def cmd_inspect(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    found, code = [], 0
    for ref in ns.names:
        try:
            found.append(engine.inspect(ref))
        except LayerlabError as exc:
            print(f"Error: {exc}", file=io.err)
            code = 1
    if ns.format is not None:
        try:
            for item in found:
                print(render(ns.format, item), file=io.out)
        except TemplateError as exc:
            raise LayerlabError(f"template parsing error: {exc}") from None
    elif found or not code:
        print(json.dumps(found, indent=4), file=io.out)
    return code


class _RmFlag(argparse.Action):
    """Docker's boolean `--rm`: `--rm`, `--rm=true`, `--rm=false` (never the next word)."""

    def __call__(
        self,
        parser: object,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, option_string != "--rm=false")


@command("build", "Build an image from a Dockerfile: each step run, modified and committed")
def cmd_build(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    from layerlab.build import BuildOptions  # on use: dockerfile-parse loads for builds only

    text = sys.stdin.buffer.read() if ns.file == "-" else None
    with _stdio(io) as stdio:
        options = BuildOptions(
            tags=ns.tag,
            dockerfile=None if text is not None else ns.file,
            dockerfile_text=text,
            no_cache=ns.no_cache,
            build_args=ns.build_arg,
            quiet=ns.quiet,
            remove=ns.rm,
            force_remove=ns.force_rm,
            target=ns.target,
            out=io.out,
            err=io.err,
            run_output=stdio[1],
        )
        try:
            image_id = engine.build(Path(ns.context), options)
        except LayerlabError as exc:  # Docker prints a failed build's message bare
            io.out.flush()
            print(exc, file=io.err)
            return exc.exit_code
    if ns.quiet:
        print(image_id, file=io.out)
    return 0


# --- helpers -------------------------------------------------------------------
def _each(refs: Sequence[str], io: IO, action: Callable[[str], object]) -> int:
    """Docker's multi-container commands: echo each name done, one error line per failure."""
    code = 0
    for ref in refs:
        try:
            action(ref)
            print(ref, file=io.out)
        except LayerlabError as exc:
            if len(refs) == 1:
                raise
            print(f"Error: {exc}", file=io.err)
            code = 1
    return code


def _require_terminal(io: IO) -> None:
    if not io.interactive or not sys.stdin.isatty():
        raise LayerlabError("the input device is not a TTY", exit_code=1)


@contextlib.contextmanager
def _stdio(io: IO) -> Iterator[Stdio]:
    """File descriptors for a container's attached stdio.

    A real terminal or file is handed over as is; a stream without one (the
    TUI's output log) gets a pipe whose far end is copied into it.
    """
    if io.interactive:
        yield (None, None, None)
        return
    pumps: list[threading.Thread] = []
    fds: list[int] = []
    for stream in (io.out, io.err):
        read_fd, write_fd = os.pipe()
        fds.append(write_fd)
        pump = threading.Thread(target=_copy_into, args=(read_fd, stream), daemon=True)
        pump.start()
        pumps.append(pump)
    try:
        yield (subprocess.DEVNULL, fds[0], fds[1])
    finally:
        for fd in fds:
            os.close(fd)
        for pump in pumps:
            pump.join()


def _copy_into(read_fd: int, stream: TextIO) -> None:
    with os.fdopen(read_fd, "rb") as source:
        for chunk in iter(lambda: source.read1(65536), b""):
            stream.write(chunk.decode(errors="replace"))


@contextlib.contextmanager
def _attached(engine: Engine, container_id: str, io: IO, raw: bool) -> Iterator[None]:
    """While attached: a raw terminal for `-it`, else Ctrl-C forwarded as Docker's sig-proxy."""
    if not io.interactive:  # the TUI: no terminal of ours, no signals to proxy
        yield
        return
    if raw:
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        try:
            yield
        finally:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        return

    def proxy(signum: int, _frame: object) -> None:
        with contextlib.suppress(LayerlabError):
            engine.kill(container_id, signum)

    previous = {s: signal.signal(s, proxy) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def dispatch(engine: Engine, ns: argparse.Namespace, io: IO) -> int:
    handler, _ = COMMANDS[ns.cmd]
    return handler(engine, ns, io)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    io = IO(sys.stdout, sys.stderr)
    try:
        ns = parse(words)
        if ns.cmd is None:
            if not sys.stdout.isatty():
                build_parser().print_help(io.out)
                return 0
            ns.cmd = "tui"  # a bare `layerlab` on a terminal opens the TUI
        if os.geteuid() != 0:
            raise LayerlabError("layerlab must run as root: it mounts overlayfs and starts runc")
        engine = Engine(Path(ns.root) if ns.root else None)
        return dispatch(engine, ns, io)
    except LayerlabError as exc:
        print(f"Error: {exc}", file=io.err)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug or an OS failure: still one line, unless debugging
        if os.environ.get("LAYERLAB_DEBUG"):
            raise
        print(f"Error: {type(exc).__name__}: {exc} (LAYERLAB_DEBUG=1 shows where)", file=io.err)
        return 125
