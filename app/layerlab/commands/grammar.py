"""Docker's command grammar, shared by the shell and the TUI's command bar.

`parse(argv)` turns words into a namespace; nothing here runs a command, so the
command bar can import it without the engine (`handlers.dispatch` runs them).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

from layerlab import __version__
from layerlab.commands.network import NETWORK_COMMANDS, SubAdd, network_parsers
from layerlab.commands.ports import PORT_HELP, port_parser, publish_flags
from layerlab.commands.registry import REGISTRY_COMMANDS, registry_parsers
from layerlab.errors import FAILED, NOT_STARTED, ClientError

DETACH_KEYS_HELP = "key sequence to detach a terminal (ctrl-p,ctrl-q)"
RESTART_HELP = "restart policy to apply when a container exits"


class UsageError(ClientError):
    """A malformed command line, in Docker's words and with its code: 125 for a flag it
    cannot parse (`docker ps --bogus`), 1 for missing arguments or an unknown command."""


# argparse's words for what Docker's cobra reports as an argument count or unknown command.
_ARGUMENT_ERRORS = ("the following arguments are required", "argument COMMAND: invalid choice")


class _Formatter(argparse.HelpFormatter):
    """argparse's, with the terminal's width read here: argparse imports shutil for it on
    every parser built, and that import (bz2, lzma) would cost each command milliseconds."""

    def __init__(self, prog: str, max_help_position: int = 24, width: int | None = None) -> None:
        super().__init__(prog, max_help_position=max_help_position, width=width or _columns() - 2)


def _columns() -> int:
    """shutil.get_terminal_size's columns: $COLUMNS, else the terminal's, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class Parser(argparse.ArgumentParser):
    """argparse's, speaking Docker's (cobra's) help, usage and errors (`layerlab.commands.usage`).

    `aliases` are the names the command answers to, for the help; a group that maps its
    commands to others (`container ls`) lists them in `commands` (name: help line)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        self.aliases: list[str] = kwargs.pop("names", [])
        self.commands: dict[str, str] | None = None
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        from layerlab.commands.usage import command_help

        return command_help(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Leftover words are this (sub)command's error, so it names itself and its arity."""
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras

    def error(self, message: str) -> NoReturn:
        """Docker 20.10's words: cli/required.go for an argument count (exit 1),
        cmd/docker/docker.go for an unknown command (1), cli/cobra.go's FlagErrorFunc
        for a flag (125)."""
        from layerlab.commands import usage

        if message.startswith(_ARGUMENT_ERRORS[1]):
            if self.prog != "layerlab":  # `container frob`: the group's usage
                raise UsageError(usage.arity_error(self, ""), FAILED)
            word = message.split("invalid choice: ")[1].split("'")[1]
            raise UsageError(
                f"layerlab: '{word}' is not a layerlab command.\nSee 'layerlab --help'", FAILED
            )
        too_many = message.startswith("unrecognized arguments: ") and not any(
            w.startswith("-") and w != "-" for w in message.split()[2:]
        )
        if too_many or (message.startswith(_ARGUMENT_ERRORS[0]) and self._arguments()):
            raise UsageError(usage.arity_error(self, self._arity()), FAILED)
        if message.startswith("unrecognized arguments: "):
            words = message.removeprefix("unrecognized arguments: ").split()
            flag = next(w for w in words if w.startswith("-") and w != "-")
            if flag.startswith("--"):
                message = f"unknown flag: {flag.split('=')[0]}"
            else:
                message = f"unknown shorthand flag: {flag[1]!r} in {flag}"
        elif message.endswith(": expected one argument"):  # pflag: "flag needs an argument"
            flag = message.removeprefix("argument ").split(":")[0].split("/")[-1]
            message = f"flag needs an argument: {flag}"
        raise UsageError(f"{message}\nSee '{self.prog} --help'.", NOT_STARTED)

    def _arguments(self) -> list[argparse.Action]:
        from layerlab.commands.usage import arguments

        return arguments(self)

    def _arity(self) -> str:
        """How many arguments it takes, in cobra's words ("requires at least 1 argument")."""
        least, most = 0, 0
        for action in self._arguments():
            n = action.nargs
            required = n is None or n == "+" or isinstance(action, _CommandWords)
            least += 1 if required else n if isinstance(n, int) else 0
            most = (
                -1
                if most < 0 or n in ("*", "+", argparse.REMAINDER)
                else most + (n if isinstance(n, int) else 1)
            )

        def args(n: int) -> str:
            return f"{n} argument" + ("" if n == 1 else "s")

        if most == 0:
            return "accepts no arguments"
        if least == most:
            return f"requires exactly {args(least)}"
        if most < 0:
            return f"requires at least {args(least)}"
        if least == 0:
            return f"requires at most {args(most)}"
        return f"requires at least {least} and at most {args(most)}"


# Every command, with the help line `layerlab --help` shows (Docker 20.10's `Short` for
# Docker's commands, from docker/cli cli/command/*/*.go); `handlers` has one function each.
COMMANDS: dict[str, str] = {
    "create": "Create a new container",
    "run": "Run a command in a new container",
    "start": "Start one or more stopped containers",
    "ps": "List containers",
    "stop": "Stop one or more running containers",
    "kill": "Kill one or more running containers",
    "pause": "Pause all processes within one or more containers",
    "unpause": "Unpause all processes within one or more containers",
    "wait": "Block until one or more containers stop, then print their exit codes",
    "rm": "Remove one or more containers",
    "exec": "Run a command in a running container",
    "logs": "Fetch the logs of a container",
    "top": "Display the running processes of a container",
    "stats": "Display a live stream of container(s) resource usage statistics",
    "port": PORT_HELP,
    "rename": "Rename a container",
    "diff": "Inspect changes to files or directories on a container's filesystem",
    "save": "Save one or more images to a tar archive (streamed to STDOUT by default)",
    "load": "Load an image from a tar archive or STDIN",
    "import": "Import the contents from a tarball to create a filesystem image",
    "export": "Export a container's filesystem as a tar archive",
    "commit": "Create a new image from a container's changes",
    "images": "List images",
    "history": "Show the history of an image",
    "tag": "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    "rmi": "Remove one or more images",
    "tui": "Open the terminal UI (what a bare `layerlab` does on a terminal)",
    "lesson": "Guided lessons: ls, check [DIR], run NAME|--all --auto, try NAME STEP COMMAND..., "
    "open NAME, record NAME",
    "demo": "Play a lesson in the TUI by itself, typing each command (a classroom projector)",
    "serve": "Serve the TUI to browsers, each session with a store of its own",
    "inspect": "Return low-level information on Docker objects",
    "build": "Build an image from a Dockerfile",
    "cp": "Copy files/folders between a container and the local filesystem",
    "volume": "Manage volumes",
    "network": "Manage networks",
    "restart": "Restart one or more containers",
    "update": "Update configuration of one or more containers",
    "events": "Get real time events from the server",
    "attach": "Attach local standard input, output, and error streams to a running container",
    "version": "Show the layerlab version information",
    "info": "Display system-wide information",
    "help": "Show this help",
    "container": "Manage containers",
    "image": "Manage images",
    "system": "Manage layerlab",
    **REGISTRY_COMMANDS,
}

# Commands the entry point runs itself, with no handler: the faces of their own (the TUI,
# served or not), and `lesson`, the course in stores of its own.
ENTRY_COMMANDS = {"tui", "demo", "serve", "lesson"}
ROOT_NOTE = (
    "The TUI runs containers as root (runc, overlay mounts): whoever uses it can do what "
    "root can do with a container."
)

# `volume COMMAND`, with Docker's help lines.
VOLUME_COMMANDS: dict[str, str] = {
    "create": "Create a volume",
    "inspect": "Display detailed information on one or more volumes",
    "ls": "List volumes",
    "prune": "Remove unused local volumes",
    "rm": "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
}

# Commands that exist only inside a group (`container prune`): parsed as one word, never
# listed at the top level, as Docker lists only the groups.
GROUP_COMMANDS: dict[str, str] = {
    "container prune": "Remove all stopped containers",
    "image prune": "Remove unused images",
    "system df": "Show layerlab disk usage",
    "system prune": "Remove unused data",
    "system check": "Check the store for what crashes left; --repair cures it",
}

# `container X` / `image X` / `system X`: the top-level command (and words) each maps to.
# fmt: off
GROUPS: dict[str, dict[str, list[str]]] = {
    "container": {
        **{name: [name] for name in (
            "attach", "commit", "cp", "create", "diff", "exec", "export", "kill", "logs",
            "pause", "port", "rename", "restart", "rm", "run", "start", "stats", "stop",
            "top", "unpause", "update", "wait",
        )},
        "ls": ["ps"], "ps": ["ps"], "list": ["ps"],
        "inspect": ["inspect", "--type", "container"],
        "prune": ["container prune"],
    },
    "image": {
        **{name: [name] for name in (
            "build", "history", "import", "load", "pull", "push", "save", "tag",
        )},
        "ls": ["images"], "list": ["images"], "rm": ["rmi"], "remove": ["rmi"],
        "inspect": ["inspect", "--type", "image"],
        "prune": ["image prune"],
    },
    "system": {
        "df": ["system df"], "info": ["info"], "prune": ["system prune"],
        "check": ["system check"], "events": ["events"],
    },
}
# fmt: on


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


# Go's strconv.ParseBool: the values Docker's boolean flags take as `--flag=VALUE`.
GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


class _GoBoolValue(argparse.Action):
    """`--pause=false`, `-p=0`: a boolean flag given a value, as Docker's flags take one."""

    def __call__(
        self,
        parser: object,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, GO_BOOLS[(option_string or "").partition("=")[2]])


def _go_bool_forms(p: argparse.ArgumentParser, dest: str, *names: str) -> None:
    """Accept `NAME=VALUE` for each spelling of a boolean flag (hidden from the help)."""
    forms = [f"{name}={value}" for name in names for value in GO_BOOLS]
    p.add_argument(*forms, dest=dest, action=_GoBoolValue, nargs=0, help=argparse.SUPPRESS)


def _bool_flag(p: argparse.ArgumentParser, *names: str, dest: str, help: str) -> None:
    """A Docker boolean flag whose default is true: `-H`, `-H=false`, `--human=false`."""
    p.add_argument(*names, dest=dest, action="store_const", const=True, default=True, help=help)
    _go_bool_forms(p, dest, *names)


def _container_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--restart", default="no", help=RESTART_HELP)
    _mount_flags(p)
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of env vars")
    p.add_argument("-l", "--label", action="append", default=[], help="set meta data: KEY=VALUE")
    p.add_argument("--label-file", action="append", default=[], help="read in a file of labels")
    p.add_argument("--stop-signal", help="signal to stop the container")
    p.add_argument("--read-only", action="store_true", help="mount the root read-only")
    p.add_argument("--init", action="store_true", help="run an init inside (tini, pid 1)")
    p.add_argument("--cidfile", help="write the container ID to the file")
    _limit_flags(p)
    publish_flags(p)
    p.add_argument("--ulimit", action="append", default=[], help="ulimit options: nofile=S[:H]")
    p.add_argument("--log-opt", action="append", default=[], dest="log_opts",
                   help="log options: max-size=10m, max-file=3 (default 10m x 3)")  # fmt: skip
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--privileged", action="store_true",
                   help="all capabilities, no seccomp, the host's devices")  # fmt: skip
    p.add_argument("--security-opt", action="append", default=[],
                   help="seccomp=unconfined|PROFILE.json, no-new-privileges[=false]")  # fmt: skip
    p.add_argument("-a", "--attach", action="append", default=[], dest="attach_streams",
                   help="attach to STDIN, STDOUT or STDERR")  # fmt: skip
    p.add_argument("--network", "--net", default="bridge",
                   help="bridge|none|host|container:NAME|NETWORK")  # fmt: skip
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[COMMAND] [ARG...]")


def _limit_flags(p: argparse.ArgumentParser) -> None:
    """The cgroup limits `create`, `run` and `update` take (layerlab.storage.limits reads them)."""
    p.add_argument("-m", "--memory", help="memory limit (e.g. 32m, 1g)")
    p.add_argument("--memory-swap", help="memory plus swap limit; -1: unlimited swap")
    p.add_argument("--pids-limit", type=int, help="tune the container's pids limit (-1: none)")
    p.add_argument("--cpus", help="number of CPUs (e.g. 1.5)")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")


def _mount_flags(p: argparse.ArgumentParser) -> None:
    """What bypasses the union: volumes, bind mounts, tmpfs."""
    p.add_argument(
        "-v",
        "--volume",
        action="append",
        default=[],
        dest="volumes",
        help="bind mount a volume: NAME:/CTR, /HOST:/CTR[:ro], or /CTR (anonymous)",
    )
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        dest="mounts",
        help="attach a filesystem mount: type=bind|volume|tmpfs,source=,target=",
    )
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs directory")


def _subcommands(p: argparse.ArgumentParser, dest: str, lines: dict[str, str]) -> SubAdd:
    """A group's commands (`volume`, `network`): each added with Docker's help line and
    its aliases (`ls` and `list`)."""
    sub = p.add_subparsers(dest=dest, parser_class=Parser, metavar="COMMAND")

    def add(name: str, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=lines[name], description=lines[name],
                           aliases=list(aliases), names=[name, *aliases] if aliases else [],
                           **_HELP_FLAGS)  # fmt: skip
        s.add_argument("-h", "--help", action="help", help="show this help")
        return s

    return add


def _volume_parsers(p: argparse.ArgumentParser) -> None:
    """`volume create|inspect|ls|prune|rm` (and `list`, `remove`, as Docker aliases them)."""
    add = _subcommands(p, "volume_cmd", VOLUME_COMMANDS)
    v = add("create")
    v.add_argument("-d", "--driver", default="local", help="specify volume driver name")
    v.add_argument("--label", action="append", default=[], help="set metadata for a volume")
    v.add_argument("-o", "--opt", action="append", default=[], help="driver specific options")
    v.add_argument("name", nargs="?", metavar="VOLUME")
    v.add_argument("--name", dest="name_flag", help=argparse.SUPPRESS)  # Docker's, deprecated
    v = add("inspect")
    v.add_argument("-f", "--format", help="format output using a Go template")
    v.add_argument("names", nargs="+", metavar="VOLUME")
    v = add("ls", ("list",))
    v.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    v.add_argument("-f", "--filter", action="append", default=[],
                   help="filter: dangling=true|false, driver=, label=K[=V], name=")  # fmt: skip
    v.add_argument("--format", help="format output using a Go template ('table ...', 'json')")
    v = add("prune")
    v.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    v.add_argument("--filter", action="append", default=[],
                   help="filter: label=K[=V], label!=K[=V]")  # fmt: skip
    v = add("rm", ("remove",))
    v.add_argument("-f", "--force", action="store_true", help="force the removal of volumes")
    v.add_argument("names", nargs="+", metavar="VOLUME")


# Docker's `-h` is `--help` where a command has no `-h` of its own (`run -h` is the hostname):
# a later `-h` takes it over.
_HELP_FLAGS: dict[str, Any] = {"add_help": False, "conflict_handler": "resolve"}


class _CommandWords(argparse.Action):
    """`COMMAND [ARG...]` that must be given (`exec`): the words after the container."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        if not values:
            parser.error("the following arguments are required: COMMAND")
        setattr(namespace, self.dest, values)


class _Unbuilt:
    """Stands in for the parser of a command that was not typed: whatever is asked of it
    (flags, subcommands) is dropped, so a command's start-up builds only its own flags."""

    def __getattr__(self, name: str) -> Callable[..., _Unbuilt]:
        return lambda *args, **kwargs: self


def build_parser(only: str | None = None) -> Parser:
    """The whole grammar; with `only` (a command's name), only that command's parser
    under the top level (argparse builds every flag of every command otherwise)."""
    parser = Parser(prog="layerlab", description="A small, real container engine.")
    parser.add_argument("-v", "--version", action="version", version=f"layerlab {__version__}",
                        help="print version information and quit")  # fmt: skip
    parser.add_argument("--root", help="store root (default /var/lib/layerlab, or $LAYERLAB_ROOT)")
    sub = parser.add_subparsers(dest="cmd", parser_class=Parser, metavar="COMMAND")

    def add(name: str, **kw: Any) -> argparse.ArgumentParser:
        if only is not None and only != name and only not in kw.get("aliases", ()):
            return cast(argparse.ArgumentParser, _Unbuilt())
        kw.setdefault("description", COMMANDS[name])
        names = [name, *kw.get("aliases", ())] if kw.get("aliases") else []
        p = sub.add_parser(name, help=COMMANDS[name], names=names, **_HELP_FLAGS, **kw)
        p.add_argument("-h", "--help", action="help", help="show this help")
        return p

    _container_commands(add)
    _image_commands(add)
    _face_commands(add)
    _file_commands(add)
    _volume_parsers(add("volume"))
    network_parsers(_subcommands(add("network"), "network_cmd", NETWORK_COMMANDS))
    registry_parsers(add)
    _more_commands(add, sub, only)
    return parser


def _container_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """A container's life and what runs in it: create ... diff (`add` in help's order)."""
    _container_flags(add("create"))
    p = add("run")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("--detach-keys", help=DETACH_KEYS_HELP)
    _container_flags(p)
    p = add("start")
    p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR")
    p.add_argument("-i", "--interactive", action="store_true", help="attach STDIN")
    p.add_argument("--detach-keys", help=DETACH_KEYS_HELP)
    p.add_argument("containers", nargs="+")
    p = add("ps")
    p.add_argument("-a", "--all", action="store_true", help="show all containers")
    p.add_argument("-q", "--quiet", action="store_true", help="only display IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-s", "--size", action="store_true",
                   help="display total file sizes: writable layer (virtual: + image)")  # fmt: skip
    p.add_argument("-f", "--filter", action="append", default=[], help="filter: KEY=VALUE")
    p.add_argument("--format", help="format output using a Go template ('table ...')")
    p.add_argument("-n", "--last", type=int, default=-1, help="show n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="show the latest container")
    p = add("stop")
    p.add_argument("-t", "--time", "--timeout", type=int, help="seconds to wait before killing")
    p.add_argument("-s", "--signal", help="signal to send (the image's, else SIGTERM)")
    p.add_argument("containers", nargs="+")
    p = add("kill")
    p.add_argument("-s", "--signal", default="KILL", help="signal to send to the container")
    p.add_argument("containers", nargs="+")
    for name in ("pause", "unpause", "wait"):
        add(name).add_argument("containers", nargs="+")
    p = add("rm")
    p.add_argument("-f", "--force", action="store_true",
                   help="force the removal of a running container (uses SIGKILL)")  # fmt: skip
    p.add_argument("-v", "--volumes", action="store_true",
                   help="remove anonymous volumes associated with the container")  # fmt: skip
    p.add_argument("containers", nargs="+")
    p = add("exec")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER, action=_CommandWords,
                   metavar="COMMAND [ARG...]")  # fmt: skip
    p = add("logs")
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument(
        "-n", "--tail", default="all", help="number of lines to show from the end of the logs"
    )
    p.add_argument("--since", help="show logs since a timestamp (RFC3339, unix) or 42m")
    p.add_argument("--until", help="show logs before a timestamp (RFC3339, unix) or 42m")
    p.add_argument("--details", action="store_true", help="show extra details provided to logs")
    p.add_argument("container")
    p = add("top")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")
    p = add("rename")
    p.add_argument("container")
    p.add_argument("new_name")
    add("diff").add_argument("container")


def _image_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Images and their archives: save ... inspect."""
    p = add("save")
    p.add_argument("-o", "--output", help="write to a file instead of STDOUT")
    p.add_argument("images", nargs="+")
    p = add("load")
    p.add_argument("-i", "--input", help="read from a tar archive file instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p = add("import")
    p.add_argument("-m", "--message", default="", help="commit message for the image")
    p.add_argument("-c", "--change", action="append", default=[], help="apply an instruction")
    p.add_argument("file", metavar="file|URL|-", help="a tar archive, or - for STDIN")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p = add("export")
    p.add_argument("-o", "--output", help="write to a file instead of STDOUT")
    p.add_argument("container")
    p = add("commit")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("-a", "--author", default="", help="author")
    p.add_argument("-c", "--change", action="append", default=[], help="apply an instruction")
    p.add_argument("-p", "--pause", default=True, action=argparse.BooleanOptionalAction,
                   help="pause the container during commit")  # fmt: skip
    _go_bool_forms(p, "pause", "-p", "--pause")  # Docker: --pause=false, -p=false
    p.add_argument("container")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p = add("images")
    p.add_argument("-a", "--all", action="store_true", help="show intermediate images too")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter: KEY=VALUE")
    p.add_argument("--format", help="format output using a Go template ('table ...')")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p = add("history")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", help="format output using a Go template ('table ...')")
    _bool_flag(
        p, "-H", "--human", dest="human", help="print sizes and dates in human readable format"
    )
    p.add_argument("image")
    p = add("tag")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p = add("rmi")
    p.add_argument("-f", "--force", action="store_true", help="force removal")
    p.add_argument("images", nargs="+")
    p = add("inspect")
    p.add_argument("-f", "--format", help="format output using a Go template")
    p.add_argument("--type", help="return JSON for the given type: container or image")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("names", nargs="+", metavar="NAME|ID")


def _face_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """The faces and the lessons: tui, lesson, demo, serve."""
    p = add("tui", description=ROOT_NOTE)
    p.add_argument("--lesson", metavar="NAME", help="open on this lesson (name or number)")
    p.add_argument(
        "--present", action="store_true", help="presentation mode for projectors (F8 toggles)"
    )
    _lesson_grammar(add("lesson", aliases=["lessons"]))
    p = add("demo", description=f"{COMMANDS['demo']}. Space pauses and resumes, → goes on to "
            f"the next step at once. {ROOT_NOTE}")  # fmt: skip
    p.add_argument("lesson", metavar="LESSON", help="a lesson by name or number")
    p.add_argument("--delay", type=float, default=3.0, metavar="S",
                   help="seconds to pause after each step (0: no pause)")  # fmt: skip
    p.add_argument("--present", action="store_true", help="in presentation mode (F8 toggles)")
    p.add_argument("--exit", action="store_true", help="quit when it is over: exit code 1 "
                   "if a step's checks did not pass")  # fmt: skip
    p = add(
        "serve",
        description=f"{COMMANDS['serve']} (textual-serve). {ROOT_NOTE} So every request "
        "must carry the token (?token=...), on 127.0.0.1 too: any local user can reach it. "
        "Without --token one is generated and printed in the URL.",
    )
    p.add_argument("--port", type=int, default=8000, help="the port")
    p.add_argument("--host", help="listen on this address, not 127.0.0.1")
    p.add_argument(
        "--token",
        help="require this token (?token=...) on every request "
        "(every local user sees it in ps: leave it out on a shared machine)",
    )


def _file_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Files from the host into an image (build) or a container and back (cp)."""
    p = add("build")
    p.add_argument("-t", "--tag", action="append", default=[], help="name[:tag] for the image")
    p.add_argument("-f", "--file", help="the Dockerfile (default CONTEXT/Dockerfile; - = stdin)")
    p.add_argument("--no-cache", action="store_true", help="don't use the build cache")
    p.add_argument("--build-arg", action="append", default=[], help="set a build-time ARG: K=V")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.add_argument("--rm", "--rm=true", "--rm=false", dest="rm", action=_RmFlag, nargs=0,
                   default=True,
                   help="remove intermediate containers after a successful build")  # fmt: skip
    p.add_argument("--force-rm", action="store_true", help="always remove intermediate containers")
    p.add_argument("--target", help="build up to this stage")
    p.add_argument(
        "context",
        metavar="PATH | URL | -",
        help="the build context: a directory, or - (a tar or Dockerfile on stdin)",
    )
    p = add("cp", usage="layerlab cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
                        "\tlayerlab cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH")  # fmt: skip
    p.add_argument("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid)")
    p.add_argument("-L", "--follow-link", action="store_true",
                   help="always follow symbol link in SRC_PATH")  # fmt: skip
    p.add_argument("source", metavar="SRC")
    p.add_argument("dest", metavar="DEST")


def _lesson_grammar(p: argparse.ArgumentParser) -> None:
    """`lesson ls | check [DIR] | run NAME... | --all --auto | try NAME STEP COMMAND...`."""
    p.set_defaults(cmd="lesson")  # typed as `lessons` too: one handler
    sub = p.add_subparsers(dest="lesson_cmd", parser_class=Parser, metavar="ACTION", required=True)
    ls = sub.add_parser("ls", help="list the lessons, one a line, name first")
    ls.add_argument("--dir", help="a folder of lesson files (default: the course)")
    check = sub.add_parser("check", help="validate lesson files: each problem as file:line")
    check.add_argument("dir", nargs="?", help="a folder of lesson files (default: the course)")
    run = sub.add_parser("run", help="run lessons unattended in throwaway stores (--auto)")
    run.add_argument("names", nargs="*", metavar="NAME", help="lessons by name or number")
    run.add_argument("--all", action="store_true", help="the whole course, in order")
    run.add_argument("--auto", action="store_true", help="type every command and check it")
    run.add_argument("--dir", help="a folder of lesson files (default: the course)")
    tr = sub.add_parser(
        "try",
        help="judge an answer to one step: its commands run in a throwaway store "
        "brought to the start of the step, every check shown",
    )
    tr.add_argument("names", nargs=1, metavar="NAME", help="a lesson by name or number")
    tr.add_argument("step", type=int, metavar="STEP", help="the step, from 1")
    tr.add_argument("lines", nargs="+", metavar="COMMAND", help="one command line each, quoted")
    tr.add_argument(
        "--skip", type=int, action="append", default=[], metavar="N",
        help="leave out step N's solution (an earlier step the learner skipped)",
    )  # fmt: skip
    tr.add_argument("--dir", help="a folder of lesson files (default: the course)")
    op = sub.add_parser("open", help="open the TUI on a lesson (its own store)")
    op.add_argument("names", nargs=1, metavar="NAME", help="a lesson by name or number")
    rec = sub.add_parser(
        "record",
        help="record a lesson: commands typed a line at a time, "
        "in a throwaway store; checks drawn from the state each step left",
    )
    rec.add_argument("names", nargs=1, metavar="NAME", help="the new lesson's name")
    rec.add_argument("-o", "--output", help="the lesson file to write (default ./NAME.yaml)")
    rec.add_argument("--title", help="the lesson's title")


def _more_commands(add: Callable[..., argparse.ArgumentParser], sub: Any, only: str | None) -> None:
    """restart, update, events, attach, version, info, help, the groups and the group-only
    commands."""
    p = add("restart")
    p.add_argument("-t", "--time", "--timeout", type=int, help="seconds to wait before killing")
    p.add_argument("-s", "--signal", help="signal to send to the container")
    p.add_argument("containers", nargs="+")
    p = add("update")
    _limit_flags(p)
    p.add_argument("--restart", help=RESTART_HELP)
    p.add_argument("containers", nargs="+")
    port_parser(add("port"))
    p = add("events")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="filter output based on conditions provided")  # fmt: skip
    p.add_argument("--format", help="format the output using the given Go template")
    p.add_argument("--since", help="show all events created since timestamp")
    p.add_argument("--until", help="stream events until this timestamp")
    p = add("attach")
    p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    _bool_flag(p, "--sig-proxy", dest="sig_proxy",
               help="proxy all received signals to the process")  # fmt: skip
    p.add_argument("--detach-keys", help=DETACH_KEYS_HELP)
    p.add_argument("container")
    p = add("stats")
    p.add_argument("-a", "--all", action="store_true",
                   help="show all containers (default shows just running)")  # fmt: skip
    p.add_argument("--format", help="pretty-print images using a Go template")
    p.add_argument("--no-stream", action="store_true",
                   help="disable streaming stats and only pull the first result")  # fmt: skip
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("containers", nargs="*")
    add("version").add_argument("-f", "--format", help="format output using a Go template")
    add("info").add_argument("-f", "--format", help="format output using a Go template")
    add("help").add_argument("topic", nargs="*", help="a command to show the help of")
    sub._choices_actions = [a for a in sub._choices_actions if a.dest != "help"]  # as Docker's
    for group, commands in GROUPS.items():
        p = add(group)
        p.add_argument("subcommand", nargs="?", choices=sorted(commands), metavar="COMMAND",
                       help=", ".join(sorted(commands)))  # fmt: skip
        cast(Parser, p).commands = _group_lines(commands)
    for name, line in GROUP_COMMANDS.items():
        if only is not None and only != name:
            continue
        p = sub.add_parser(name, prog=f"layerlab {name}", description=line, **_HELP_FLAGS)
        # Listed under its group only: argparse has no hidden subcommand, so it is unlisted.
        sub._choices_actions = [a for a in sub._choices_actions if a.dest != name]
        p.add_argument("-h", "--help", action="help", help="show this help")
        if name == "system check":
            p.add_argument("--repair", action="store_true", help="repair what is found")
            continue
        if name != "system df":
            p.add_argument("-f", "--force", action="store_true", help="do not prompt")
            p.add_argument("--filter", action="append", default=[], help="filter: KEY=VALUE")
        if name in ("image prune", "system prune"):
            p.add_argument("-a", "--all", action="store_true", help="all unused images")
        if name == "system df":
            p.add_argument("-v", "--verbose", action="store_true", help="show details")
            p.add_argument("--format", help="format output using a Go template")


def _group_lines(commands: dict[str, list[str]]) -> dict[str, str]:
    """A group's help list: each command it runs once, by its first name (`ls`, not `ps`)."""
    lines: dict[str, str] = {}
    seen: set[str] = set()
    for name, words in commands.items():
        line = COMMANDS.get(words[0]) or GROUP_COMMANDS.get(words[0])
        if line and words[0] not in seen:
            seen.add(words[0])
            lines[name] = line
    return lines


def _command_at(words: list[str]) -> int:
    """Where the command word is: after the one global option, `--root`."""
    i = 0
    while i < len(words) and words[i].startswith("--root"):
        i += 1 if "=" in words[i] else 2
    return i


def _ungroup(words: list[str]) -> list[str]:
    """`container ls -a` -> `ps -a`: a group's command is the top-level one, same parser."""
    i = _command_at(words)
    group, rest = words[i : i + 1], words[i + 1 :]
    if group and rest and group[0] in GROUPS and rest[0] in GROUPS[group[0]]:
        return words[:i] + GROUPS[group[0]][rest[0]] + rest[1:]
    return words


def parse(argv: Sequence[str]) -> argparse.Namespace:
    words = list(argv)
    if words and words[0] == "docker":  # the article's commands, typed as printed
        words = words[1:]
    words = _ungroup(words)
    typed = words[_command_at(words) :][:1]
    # A known command builds its own parser only; anything else (no command, `--help`, a
    # typo) the whole grammar, which lists every command and names the choices.
    known = typed and (typed[0] in COMMANDS or typed[0] in GROUP_COMMANDS or typed[0] == "lessons")
    only = typed[0] if known else None
    parser = _PREBUILT.pop(only, None) or build_parser(only)
    return parser.parse_args(words)


# Parsers built ahead of their command, by the fork server (whose children each parse once).
_PREBUILT: dict[str | None, Parser] = {}


def prebuild() -> None:
    """Build every command's parser now: a forked child finds its own already made."""
    for name in (*COMMANDS, "lessons", None):
        _PREBUILT[name] = build_parser(name)
