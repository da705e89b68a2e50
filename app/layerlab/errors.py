"""The one error type the faces catch: a clear one-line message and Docker's exit code."""

from __future__ import annotations


class LayerlabError(Exception):
    """An error for the user: printed as one line, never as a traceback.

    Docker exits 125 when the engine itself fails (no such container, bad flag
    value, a conflict); the container's own exit code is reported otherwise.
    """

    def __init__(self, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NotFound(LayerlabError):
    """A container, image or layer that the store does not hold."""


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
