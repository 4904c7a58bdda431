"""Secrets out of URLs: user info (also with `/` or `@` in the password) and query values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core.redact import redact_url
from racker.core.releases import redact_url as selfupdate_redact_url

CASES = [
    ("https://pypi.org/simple/", "https://pypi.org/simple/"),
    ("https://host:8443/simple/", "https://host:8443/simple/"),
    ("https://user:s3cret@host/simple/", "https://***@host/simple/"),
    ("https://token@host/simple/", "https://***@host/simple/"),
    # A password with '@' or '/' (pasted without percent-encoding).
    ("https://user:p@ss@host/simple/", "https://***@host/simple/"),
    ("https://user:pa/ss@host/simple/", "https://***@host/simple/"),
    ("https://user:a/b@c@host:8443/simple/", "https://***@host:8443/simple/"),
    ("https://user:p@ss/word@host/simple/", "https://***@host/simple/"),
    ("https://user:p%40ss@[::1]:8080/simple/", "https://***@[::1]:8080/simple/"),
    # Tokens in the query string.
    ("https://host/simple/?token=abc123", "https://host/simple/?token=***"),
    ("https://host/simple/?a=1&access_token=abc&empty=",
     "https://host/simple/?a=***&access_token=***&empty="),
    ("https://host/simple/?abc123#frag", "https://host/simple/?***#frag"),
    ("https://u:p@host/s/?sig=x", "https://***@host/s/?sig=***"),
    # Lines that mention URLs.
    ("Looking in https://u:p@a/x and http://b/y", "Looking in https://***@a/x and http://b/y"),
    ("Client error '401' for url 'https://u:p/w@h/simple/racker/'",
     "Client error '401' for url 'https://***@h/simple/racker/'"),
    ("https://user:1234#@host/simple/", "https://***@host/simple/"),
    ("https://tok/en+=@host/simple/", "https://***@host/simple/"),
    ("git+https://github.com/x/y@main", "git+https://***@main"),  # too much hidden: safe side
    ("no url here: user:pass@host", "no url here: user:pass@host"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected
    assert selfupdate_redact_url(text) == expected  # the name the package index code uses


# Printable ASCII as pasted from a password manager, without the quotes and brackets that end a
# URL in a message.
_SECRET = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                exclude_characters="'\"<>"),
                  min_size=4, max_size=20).filter(lambda s: "://" not in s)


@given(_SECRET)
def test_no_password_survives(password: str) -> None:
    text = f"https://user:{password}@index.example.org/simple/"
    out = redact_url(text)
    assert out == "https://***@index.example.org/simple/", out
