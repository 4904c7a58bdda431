from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core.macs import hyphenated, parse_mac


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"),
        ("aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:ff"),
        ("  00:11:22:33:44:55 ", "00:11:22:33:44:55"),
        ("aa:bb-cc:dd:ee:ff", None),
        ("aa:bb:cc:dd:ee", None),
        ("aa:bb:cc:dd:ee:fg", None),
        ("", None),
        ("rack", None),
    ],
)
def test_parse_mac(text: str, expected: str | None) -> None:
    assert parse_mac(text) == expected


def test_hyphenated() -> None:
    assert hyphenated("aa:bb:cc:dd:ee:ff") == "aa-bb-cc-dd-ee-ff"


@given(st.text())
def test_parse_mac_never_raises(text: str) -> None:
    result = parse_mac(text)
    assert result is None or len(result) == 17
