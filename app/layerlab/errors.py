"""The one error type the faces catch: a clear one-line message and Docker's exit code."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Docker's exit codes for its own failures (the container's code is reported otherwise).
FAILED = 1  # any command's error: no such container, a conflict, a missing argument
NOT_STARTED = 125  # `run` failing before the container starts; a flag the CLI refuses
# The commands whose errors mean "the container did not start" (Docker's 125). `create`'s
# daemon errors are 1 (docker/cli's runCreate); only its flags' are 125 (its handler says).
CREATING_COMMANDS = frozenset({"run"})


class LayerlabError(Exception):
    """An error for the user: printed as one line, never as a traceback.

    Its exit code is Docker's: the one given (a container's 126/127, a usage
    error's 125, ...), else what the command says an error means (`for_command`):
    125 for `run`, whose container did not start, and 1 for all others.
    """

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.given_code = exit_code
        self.exit_code = FAILED if exit_code is None else exit_code

    def for_command(self, command: str | None) -> LayerlabError:
        """This error as `command` reports it: its own code, else Docker's for the command."""
        if self.given_code is None:
            self.exit_code = NOT_STARTED if command in CREATING_COMMANDS else FAILED
        return self


class Corrupted(LayerlabError):
    """A store file that exists but cannot be read as what it should be (bad JSON, a
    missing field): it affects only its own entry; `system check --repair` quarantines it."""

    def __init__(self, path: Path, reason: str, message: str | None = None) -> None:
        told = message or f"{path}: corrupted ({reason})"
        super().__init__(f"{told}; run `layerlab system check --repair`")
        self.path = path
        self.reason = reason


class Detached(Exception):
    """An attached terminal let go (the detach keys were typed); the container runs on."""


class ClientError(LayerlabError):
    """An error Docker's client itself prints, bare (no "Error:"): "the input device is not
    a TTY"."""


def printed(exc: LayerlabError) -> str:
    """An error as the CLI prints it: a client's own words bare, any other after "Error: "."""
    return str(exc) if isinstance(exc, ClientError) else f"Error: {exc}"


def go_strerror(exc: OSError) -> str:
    """An OS error's reason as Go (and so Docker) words it: "no such file or directory"."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


def os_error(exc: OSError, op: str = "open") -> LayerlabError:
    """An OS failure on a file as Docker reports it: `open /x/y.tar: no such file or directory`."""
    return LayerlabError(f"{op} {exc.filename}: {go_strerror(exc)}")


NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def no_space(exc: BaseException, where: object) -> LayerlabError | None:
    """A full disk (or quota) as Docker's daemon reports it, `write PATH: no space left on
    device` (PATH: the file being written, else `where`); None for any other failure."""
    if not isinstance(exc, OSError) or exc.errno not in NO_SPACE:
        return None
    return LayerlabError(f"write {exc.filename or where}: {go_strerror(exc)}")


class StartFailed(LayerlabError):
    """The runtime could not start the container's process. `run` exits with the code
    Docker gives it (127 not found, 126 otherwise); `start` exits 1, as Docker's does."""

    def for_command(self, command: str | None) -> LayerlabError:
        if command not in CREATING_COMMANDS:
            self.exit_code = FAILED
        return self


class ExecFailed(LayerlabError):
    """`exec` of a command the runtime cannot start: Docker prints its message on stdout
    ("OCI runtime exec failed: ...") and exits 126, whatever the reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 126)


class NotFound(LayerlabError):
    """A container, image or layer that the store does not hold."""


class InvalidReference(LayerlabError):
    """A name that does not parse as an image reference (Docker's `invalid reference
    format`): `inspect` without `--type` takes it as no such object, as Docker's does."""


class Conflict(LayerlabError):
    """The request contradicts the current state (e.g. removing a running container)."""


class BuildError(LayerlabError):
    """A build that cannot go on: one line, and Docker's exit code (1, or the RUN's own)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)


class Cancelled(LayerlabError):
    """A long wait (`logs -f`, `wait`, an attached start) ended by its caller, as Ctrl+C would.

    The container is untouched and keeps running, like a detached docker client's.
    """

    def __init__(self, message: str = "cancelled", exit_code: int = 130) -> None:
        super().__init__(message, exit_code)


class IllegalTransition(Conflict):
    """A container state change the state table does not allow (e.g. pause an exited one)."""
