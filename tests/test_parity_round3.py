"""Docker 20.10 parity, round three: help and usage words, `build`'s output and failed steps,
and the smaller differences a Docker user notices. The expected strings are Docker's, taken
from docker/cli v20.10's source (cited by file), with `docker` read as `layerlab`."""

from __future__ import annotations

import pytest

from layerlab.cli.grammar import UsageError, parse
from layerlab.cli.usage import _wrap
from layerlab.main import main

from .conftest import CLI


def _help(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """What `layerlab WORDS` prints as help, and that it exits 0 (cobra's help does)."""
    with pytest.raises(SystemExit) as done:
        main(list(words))
    assert done.value.code in (0, None)
    return capsys.readouterr().out


def _usage_error(*words: str) -> UsageError:
    with pytest.raises(UsageError) as raised:
        parse(list(words))
    return raised.value


@pytest.mark.unit
def test_an_unknown_command_in_docker_20_10s_words() -> None:
    # cmd/docker/docker.go: "docker: '%s' is not a docker command.\nSee 'docker --help'", exit 1
    for word in ("frob", "pull", "search"):
        error = _usage_error(word)
        assert str(error) == f"layerlab: '{word}' is not a layerlab command.\nSee 'layerlab --help'"
        assert error.exit_code == 1


@pytest.mark.unit
def test_a_missing_argument_in_docker_20_10s_words() -> None:
    # cli/required.go RequiresMinArgs: "%q requires at least %d %s.\nSee '%s --help'.\n\n
    # Usage:  %s\n\n%s"; exec's Use and Short from cli/command/container/exec.go
    for words in (["exec", "c"], ["exec"]):
        error = _usage_error(*words)
        assert str(error) == (
            '"layerlab exec" requires at least 2 arguments.\n'
            "See 'layerlab exec --help'.\n\n"
            "Usage:  layerlab exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
            "Run a command in a running container"
        )
        assert error.exit_code == 1
    # cli/required.go ExactArgs, with rename's Use and Short (cli/command/container/rename.go)
    assert str(_usage_error("rename", "a")) == (
        '"layerlab rename" requires exactly 2 arguments.\n'
        "See 'layerlab rename --help'.\n\n"
        "Usage:  layerlab rename CONTAINER NEW_NAME\n\n"
        "Rename a container"
    )
    # cli/cobra.go FlagErrorFunc: "%s\nSee '%s --help'.", exit 125
    flag = _usage_error("ps", "--bogus")
    assert (str(flag), flag.exit_code) == ("unknown flag: --bogus\nSee 'layerlab ps --help'.", 125)
    assert parse(["exec", "c", "ls", "-la"]).command == ["ls", "-la"]


@pytest.mark.unit
def test_command_help_is_cobras(capsys: pytest.CaptureFixture[str]) -> None:
    # cli/cobra.go helpTemplate ("\n" + usage) and usageTemplate; pause has no flags
    # (cli/command/container/pause.go), so no Options table.
    assert _help(capsys, "pause", "--help") == (
        "\nUsage:  layerlab pause CONTAINER [CONTAINER...]\n\n"
        "Pause all processes within one or more containers\n"
    )
    # rm's flags as cli/command/container/rm.go defines them (--link, networking, aside),
    # laid out by pflag's FlagUsagesWrapped; `-h` is help where a command has no `-h`.
    rm = (
        "\nUsage:  layerlab rm [OPTIONS] CONTAINER [CONTAINER...]\n\n"
        "Remove one or more containers\n\n"
        "Options:\n"
        "  -f, --force     Force the removal of a running container (uses SIGKILL)\n"
        "  -v, --volumes   Remove anonymous volumes associated with the container\n"
    )
    assert _help(capsys, "rm", "--help") == rm
    assert _help(capsys, "rm", "-h") == rm
    run = _help(capsys, "run", "--help")
    assert run.startswith(
        "\nUsage:  layerlab run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
        "Run a command in a new container\n\nOptions:\n"
    )
    assert "\n  -d, --detach               Run in the background\n" in run
    assert "\n  -h, --hostname string      Container host name\n" in run
    assert "\n  -m, --memory string        Memory limit" in run
    assert parse(["run", "-h", "box", "busybox"]).hostname == "box"  # not help here
    # A command's aliases: usageTemplate's "Aliases:\n  {{.NameAndAliases}}"
    assert "\n\nAliases:\n  ls, list\n\nOptions:\n" in _help(capsys, "volume", "ls", "--help")


@pytest.mark.system
def test_help_command_and_a_bare_group_print_dockers_help(cli: CLI) -> None:
    assert cli("help", "rm").out == cli("rm", "--help").out
    assert cli("help").out == cli("--help").out
    group = cli("container", "frob")  # cli/required.go NoArgs on a group: its usage, exit 1
    assert group.code == 1 and group.err.startswith("\nUsage:  layerlab container COMMAND\n")


@pytest.mark.unit
def test_top_level_help_lists_commands_as_docker(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "--help")
    assert text.startswith("\nUsage:  layerlab [OPTIONS] COMMAND\n\n")
    assert "\n\nManagement Commands:\n  container   Manage containers\n  image " in text
    assert "\n\nCommands:\n  attach      Attach local standard input" in text
    assert "\n  ps          List containers\n" in text
    assert "container prune" not in text and "\n  help " not in text
    assert text.endswith("\n\nRun 'layerlab COMMAND --help' for more information on a command.\n")


@pytest.mark.unit
def test_flag_help_wraps_as_pflag_does() -> None:
    """pflag's wrap (vendor/github.com/spf13/pflag/flag.go): lines of 79 columns less the
    indent, five columns of slop against an orphan word."""
    text = "Show n last created containers (includes all states) (default -1)"
    assert _wrap(24, 79, text) == (
        "Show n last created containers (includes all\n" + " " * 24 + "states) (default -1)"
    )
    assert _wrap(24, 79, "short") == "short"
