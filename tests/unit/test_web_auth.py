"""web/auth.py: who may read and write on the management listener."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from racker.errors import Unauthorized
from racker.web.auth import COOKIE, Policy, is_loopback

TOKEN = "t0ken-for-tests"


def request(headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("127.5.0.1", True), ("::1", True), ("0.0.0.0", False),
    ("10.0.0.1", False), ("::", False), ("not-an-ip", False),
])
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_loopback_reads_are_open_writes_need_the_token() -> None:
    p = Policy(lambda: TOKEN, loopback=True)
    assert p.check(request(), write=False) is None
    with pytest.raises(Unauthorized, match="this action needs"):
        p.check(request(), write=True)
    assert p.check(request({"Authorization": f"Bearer {TOKEN}"}), write=True) == "bearer"
    with pytest.raises(Unauthorized, match="wrong"):  # a wrong token is refused even for reads
        p.check(request({"Authorization": "Bearer nope"}), write=False)
    with pytest.raises(Unauthorized):
        p.check(request({"Authorization": f"Basic {TOKEN}"}), write=False)


def test_off_loopback_everything_needs_the_token_and_no_token_means_no_access() -> None:
    p = Policy(lambda: TOKEN, loopback=False)
    with pytest.raises(Unauthorized, match="not on loopback"):
        p.check(request(), write=False)
    none = Policy(lambda: None, loopback=False)
    with pytest.raises(Unauthorized):
        none.check(request({"Authorization": "Bearer "}), write=False)


def test_sessions_and_csrf_derive_from_the_token() -> None:
    current = [TOKEN]
    p = Policy(lambda: current[0], loopback=False)
    session = p.login(TOKEN)
    assert TOKEN not in session
    cookie = request({"Cookie": f"{COOKIE}={session}"})
    assert p.check(cookie, write=False) == "cookie"
    csrf = p.csrf_value()
    p.check_form(cookie, csrf)
    with pytest.raises(Unauthorized, match="CSRF"):
        p.check_form(cookie, None)
    with pytest.raises(Unauthorized, match="wrong"):
        p.login("guess")
    current[0] = "rotated"  # a rotation ends every session
    with pytest.raises(Unauthorized):
        p.check(cookie, write=False)
