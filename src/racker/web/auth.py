"""Who may do what on the management listener.

On a loopback listener, reads need no token; anywhere else every route needs it. Writes always
need it. The token comes as `Authorization: Bearer TOKEN` (scripts) or as the dashboard's
session cookie, set by the login form; the cookie holds a MAC of the token, not the token, and
form posts carry a CSRF value derived from it (the cookie alone, sent by a forged form from
another site, is not enough). A rotated token ends every session at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from racker.errors import Unauthorized

COOKIE = "racker_session"
HINT = ("send 'Authorization: Bearer TOKEN' or log in on the dashboard; 'racker api token' on "
        "the management node prints the token")


def is_loopback(address: str) -> bool:
    """Whether `address` is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Policy:
    """The listener's rule: `token()` reads the current token (None: none created yet)."""

    token: Callable[[], str | None]
    loopback: bool

    def session_value(self) -> str | None:
        """What the session cookie holds for the current token."""
        token = self.token()
        return _derive(token, "session") if token else None

    def csrf_value(self) -> str | None:
        """What a dashboard form must send back as `csrf`."""
        token = self.token()
        return _derive(token, "csrf") if token else None

    def credential(self, request: Request) -> tuple[str, str] | None:
        """The credential the request carries: ("bearer", token) or ("cookie", value)."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            return ("bearer", value.strip()) if scheme.lower() == "bearer" else ("bad", "")
        cookie = request.cookies.get(COOKIE)
        return ("cookie", cookie) if cookie else None

    def authenticated(self, request: Request) -> str | None:
        """How the request proved it has the token (`bearer`, `cookie`), None if it did not
        try; Unauthorized when it tried with a wrong one."""
        found = self.credential(request)
        if found is None:
            return None
        kind, value = found
        token = self.token()
        expected = token if kind == "bearer" else self.session_value()
        if token is None or expected is None or not hmac.compare_digest(value, expected):
            raise Unauthorized("the API token is wrong (or was rotated)", hint=HINT)
        return kind

    def check(self, request: Request, *, write: bool) -> str | None:
        """Unauthorized unless the request may go on; how it authenticated, if it did."""
        how = self.authenticated(request)
        if how is None and (write or not self.loopback):
            why = "this action" if write else "this listener (not on loopback)"
            raise Unauthorized(f"{why} needs racker's API token", hint=HINT)
        return how

    def check_form(self, request: Request, csrf: str | None) -> None:
        """A dashboard form post: the session plus the form's CSRF value."""
        how = self.check(request, write=True)
        expected = self.csrf_value()
        if how == "cookie" and (expected is None or csrf is None
                                or not hmac.compare_digest(csrf, expected)):
            raise Unauthorized("the form's CSRF value is missing or stale",
                               hint="reload the page and submit the form again")

    def login(self, given: str) -> str:
        """The session cookie's value for a correct token; Unauthorized otherwise."""
        token = self.token()
        if token is None or not hmac.compare_digest(given.strip(), token):
            raise Unauthorized("the API token is wrong (or was rotated)", hint=HINT)
        return _derive(token, "session")
