"""Secrets out of URLs before they reach a message or a log: user info and query values (pure).

The text may be a URL or a line that mentions URLs (pip's output, an HTTP client's error).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(:[0-9]*)?")
_END_OF_HOST = re.compile(r"[/?#]")


def _userinfo_end(rest: str) -> int:
    """The index of the `@` that ends the user info of `rest` (a URL after `://`), or -1.

    NOTE: passwords and tokens are often pasted without percent-encoding, so `/`, `@`, `?`, `#`
    and digits-only passwords (`user:1234@`) may be part of them: the user info ends at the last
    `@` that a host name follows. A path with `@` (`git+https://host/x/y@main`) is masked too:
    hiding too much is the safe side.
    """
    for at in reversed([m.start() for m in re.finditer("@", rest)]):
        after = _END_OF_HOST.split(rest[at + 1:], maxsplit=1)[0]
        if _HOST.fullmatch(after):
            return at
    return -1


def _redact_query(query: str) -> str:
    """Every value of a query string masked (`a=1&b` → `a=***&***`): any may be a token."""
    out = []
    for part in query.split("&"):
        key, eq, value = part.partition("=")
        if eq:
            out.append(f"{key}={MASK}" if value else part)
        else:
            out.append(MASK if part else part)
    return "&".join(out)


def redact_one(url: str) -> str:
    """`url` with its user info and query values replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = _userinfo_end(rest)
    if at >= 0:
        rest = f"{MASK}@{rest[at + 1:]}"
    url = f"{scheme}://{rest}"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 literal: keep nothing after the path
        return url.split("?", 1)[0] + (f"?{MASK}" if "?" in url else "")
    if not parts.query:
        return url
    return parts._replace(query=_redact_query(parts.query)).geturl()


def redact_url(text: str) -> str:
    """`text` (a URL or a line mentioning URLs) without user names, passwords or query values."""
    return _URL.sub(lambda m: redact_one(m.group(0)), text)
