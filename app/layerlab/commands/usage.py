"""Docker's help and usage words, drawn from the argparse definitions of each command.

One formatter for every command: `Usage:  layerlab run [OPTIONS] IMAGE [COMMAND] [ARG...]`,
the description, the aliases, the options table and the command lists, laid out as
docker/cli v20.10 lays them out (cli/cobra.go's usageTemplate and helpTemplate,
cli/required.go's argument counts, and pflag's FlagUsagesWrapped, vendored in
vendor/github.com/spf13/pflag/flag.go). Imported only when help or a usage error is
shown, so no command's start-up pays for it.
"""

from __future__ import annotations

import argparse
import os

# cobra's minNamePadding: the command column is at least this wide.
_MIN_NAME_PADDING = 11


def use_line(parser: argparse.ArgumentParser) -> str:
    """cobra's UseLine: `layerlab rm [OPTIONS] CONTAINER [CONTAINER...]` (a parser's own
    `usage`, when it has one, is its whole line)."""
    if parser.usage:
        return parser.usage
    words = [parser.prog]
    if _options(parser):
        words.append("[OPTIONS]")
    words += [_argument_words(a) for a in arguments(parser)]
    return " ".join(words)


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The positional arguments (a subcommand's name is not one)."""
    return [
        a for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]  # fmt: skip


def _argument_words(action: argparse.Action) -> str:
    """IMAGE, [REPOSITORY[:TAG]], CONTAINER [CONTAINER...]; a REMAINDER's metavar verbatim."""
    if action.nargs == argparse.REMAINDER:
        return str(action.metavar or "[ARG...]")
    name = str(action.metavar or action.dest.upper())
    if action.metavar is None and action.nargs in ("+", "*") and name.endswith("S"):
        name = name[:-1]  # containers -> CONTAINER
    if action.nargs == "?":
        return f"[{name}]"
    if action.nargs == "+":
        return f"{name} [{name}...]"
    if action.nargs == "*":
        return f"[{name}...]"
    return name


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The flags the table lists: not the help flag (hidden in Docker), not the hidden forms."""
    return [
        a for a in parser._actions
        if a.option_strings and a.help != argparse.SUPPRESS
        and not isinstance(a, argparse._HelpAction)
    ]  # fmt: skip


def _flag_type(action: argparse.Action) -> str:
    """pflag's value type name: "" for a boolean, list, int, float, string."""
    if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
        return ""
    if isinstance(action, argparse._AppendAction):
        return "list"
    return {int: "int", float: "float"}.get(action.type, "string")  # type: ignore[call-overload]


def _flag_default(action: argparse.Action, kind: str) -> str:
    """pflag's ` (default …)` for a default that is not its type's zero value."""
    default = action.default
    if kind == "" and default is True:
        return " (default true)"
    if kind in ("int", "float") and default not in (None, 0):
        return f" (default {default:g})"
    if kind == "string" and isinstance(default, str) and default:
        return f' (default "{default}")'
    return ""


def flag_usages(parser: argparse.ArgumentParser, cols: int) -> str:
    """pflag's FlagUsagesWrapped: flags sorted by name, usage aligned one column after the
    longest flag, wrapped to `cols`."""
    rows = []
    for action in _options(parser):
        long = next((s for s in action.option_strings if s.startswith("--")), None)
        short = next((s for s in action.option_strings if len(s) == 2 and s[1] != "-"), None)
        name = (long or short or "").lstrip("-")
        flag = f"  {short}, {long}" if short and long else f"      {long}" if long else f"  {short}"
        kind = _flag_type(action)
        text = str(action.help or "")
        text = text[:1].upper() + text[1:] + _flag_default(action, kind)
        rows.append((name, flag + (f" {kind}" if kind else ""), text))
    rows.sort()
    width = max((len(flag) + 1 for _, flag, _ in rows), default=0)
    return "".join(
        f"{flag} {' ' * (width - len(flag))} {_wrap(width + 2, cols, text)}\n"
        for _, flag, text in rows
    )


def _wrap_n(i: int, slop: int, s: str) -> tuple[str, str]:
    if i + slop > len(s):
        return s, ""
    w = max(s.rfind(" ", 0, i), s.rfind("\t", 0, i), s.rfind("\n", 0, i))
    if w <= 0:
        return s, ""
    nl = s.rfind("\n", 0, i)
    if 0 < nl < w:
        return s[:nl], s[nl + 1 :]
    return s[:w], s[w + 1 :]


def _wrap(i: int, w: int, s: str) -> str:
    """pflag's wrap: `s` in lines of at most `w` columns, all but the first indented by `i`."""
    room, lead = w - i, ""
    if room < 24:  # no room beside the flags: a block on the next line
        i, room, lead = 16, w - 16, "\n" + " " * 16
    if room < 24:
        return s.replace("\n", lead)
    line, s = _wrap_n(room - 5, 5, s)
    out = lead + line.replace("\n", "\n" + " " * i)
    while s:
        line, s = _wrap_n(room - 5, 5, s)
        out += "\n" + " " * i + line.replace("\n", "\n" + " " * i)
    return out


def _columns() -> int:
    """Docker's help width: its standard input's terminal, else 80, less one."""
    try:
        return (os.get_terminal_size(0).columns or 80) - 1
    except OSError:
        return 79


def _command_list(title: str, commands: dict[str, str], pad: int) -> str:
    lines = "".join(f"\n  {name.ljust(pad)} {line}" for name, line in sorted(commands.items()))
    return f"\n\n{title}:{lines}" if commands else ""


def command_help(parser: argparse.ArgumentParser) -> str:
    """What `COMMAND --help` prints: cobra's help template over this parser."""
    subcommands = _subcommands(parser)
    if subcommands:
        flags = " [OPTIONS]" if _options(parser) else ""
        text = f"\nUsage:  {parser.prog}{flags} COMMAND\n\n{(parser.description or '').strip()}"
    else:
        text = f"\nUsage:  {use_line(parser)}\n\n{(parser.description or '').strip()}"
    aliases = getattr(parser, "aliases", ())
    if aliases:
        text += f"\n\nAliases:\n  {', '.join(aliases)}"
    if _options(parser):
        text += f"\n\nOptions:\n{flag_usages(parser, _columns()).rstrip()}"
    management = {n: line for n, (line, grouped) in subcommands.items() if grouped}
    plain = {n: line for n, (line, grouped) in subcommands.items() if not grouped}
    pad = max([_MIN_NAME_PADDING, *map(len, subcommands)])
    text += _command_list("Management Commands", management, pad)
    text += _command_list("Commands", plain, pad)
    if subcommands:
        text += f"\n\nRun '{parser.prog} COMMAND --help' for more information on a command."
    return text + "\n"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, bool]]:
    """Each listed subcommand's help line, and whether it has subcommands of its own: a
    parser's `commands` (a group's), else its argparse subparsers."""
    given: dict[str, str] | None = getattr(parser, "commands", None)
    if given is not None:
        return {name: (line, False) for name, line in given.items()}
    found: dict[str, tuple[str, bool]] = {}
    for sub in parser._actions:
        if isinstance(sub, argparse._SubParsersAction):
            for choice in sub._choices_actions:
                child = sub.choices[choice.dest]
                found[choice.dest] = (str(choice.help or ""), bool(_subcommands(child)))
    return found


def arity_error(parser: argparse.ArgumentParser, arity: str) -> str:
    """cli/required.go's message: `"layerlab exec" requires at least 2 arguments.`, where to
    look, the usage line and the description; a group's is its whole usage."""
    if _subcommands(parser):
        return "\n" + command_help(parser).strip("\n")
    short = (parser.description or "").strip()
    return (
        f"\"{parser.prog}\" {arity}.\nSee '{parser.prog} --help'.\n\n"
        f"Usage:  {use_line(parser)}\n\n{short}"
    )
