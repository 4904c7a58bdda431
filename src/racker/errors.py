"""The one error tree of racker.

Every failure an operator can act on is a `RackerError`: a message, the thing at fault
(a file with line and column, a node, a flag, a BMC) and a hint saying what to do. The CLI turns
it into an exit code in one place; the boot server turns it into an HTTP status in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Where:
    """The place at fault: a file position, a node, a flag, an environment variable or any
    other named thing."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    node: str | None = None
    flag: str | None = None
    variable: str | None = None
    """An environment variable."""

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            pos = self.file
            if self.line is not None:
                pos += f":{self.line}"
                if self.column is not None:
                    pos += f":{self.column}"
            parts.append(pos)
        if self.node is not None:
            parts.append(f"node {self.node}")
        if self.flag is not None:
            parts.append(f"flag {self.flag}")
        if self.variable is not None:
            parts.append(f"variable {self.variable}")
        return ", ".join(parts)


class RackerError(Exception):
    """An error with a message for the operator, the place at fault and a hint."""

    exit_code = 1

    def __init__(self, message: str, *, where: Where | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where and str(self.where) else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InputError(RackerError):
    """Bad input: a file, a flag or an answer that racker cannot use."""

    exit_code = 2


class BmcError(RackerError):
    """A BMC could not be reached or refused a command."""

    transient = False
    """The same command may well work when tried again (a timeout on a lossy link)."""


class ServiceError(RackerError):
    """A service racker runs (dnsmasq, the boot server) failed."""


class ProvisionError(RackerError):
    """Provisioning of one or more nodes failed."""


class NotFound(RackerError):
    """No such node, file or resource (a request named something racker does not know)."""


class Forbidden(RackerError):
    """The request came from an address that may not have this resource."""


class Unauthorized(RackerError):
    """The request needs racker's API token and did not carry the right one."""


class TooLarge(RackerError):
    """A request body past the limit (answered 413 before the rest is read)."""


class TooBusy(RackerError):
    """The client already runs as many downloads as it may."""


class StateWriteError(RackerError):
    """The event store could not be written (full or read-only filesystem); nothing of the
    failed write was kept."""


HTTP_STATUS: tuple[tuple[type[RackerError], int], ...] = (
    (InputError, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (TooLarge, 413),
    (TooBusy, 429),
    (BmcError, 502),
    (StateWriteError, 503),
    (RackerError, 500),
)
"""Racker's errors → HTTP statuses, most specific first: the one table the boot server and the
management listener both answer with."""


def http_status(error: RackerError) -> int:
    """The HTTP status of `error` (from HTTP_STATUS)."""
    return next(code for cls, code in HTTP_STATUS if isinstance(error, cls))
