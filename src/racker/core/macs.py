"""MAC addresses: parsing and the forms racker writes (colon, hyphen)."""

from __future__ import annotations

import re

_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")


def parse_mac(text: str) -> str | None:
    """Return `text` as a lower-case colon MAC, or None when it is not a MAC.

    Colon or hyphen separators in any case are accepted, but not mixed.
    """
    t = text.strip()
    if not _MAC.fullmatch(t):
        return None
    return t.replace("-", ":").lower()


def is_mac(text: str) -> bool:
    """True when `text` parses as a MAC address."""
    return parse_mac(text) is not None


def hyphenated(mac: str) -> str:
    """The hyphen form iPXE's `${mac:hexhyp}` produces: `aa-bb-cc-dd-ee-ff`."""
    return mac.replace(":", "-")
