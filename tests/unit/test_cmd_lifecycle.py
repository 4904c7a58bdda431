"""Flags of `racker update / upgrade / get / install / uninstall` (Go-style and GNU)."""

from __future__ import annotations

import pytest

from racker.cli.cmd_lifecycle import parse
from racker.errors import InputError

SPEC = {"index": True, "venv": True, "pre": False, "y": False}


@pytest.mark.parametrize(("argv", "flags", "args"), [
    (["-index", "http://x/simple/"], {"index": "http://x/simple/"}, []),
    (["--index=http://x/simple/"], {"index": "http://x/simple/"}, []),
    (["-index=a=b"], {"index": "a=b"}, []),
    (["1.0.0", "-pre", "--y"], {"pre": True, "y": True}, ["1.0.0"]),
    (["--", "-pre"], {}, ["-pre"]),
    (["-venv", "/v", "0.3"], {"venv": "/v"}, ["0.3"]),
])
def test_parse(argv: list[str], flags: dict[str, object], args: list[str]) -> None:
    got = parse(argv, SPEC, "get")
    assert got.flags == flags
    assert got.args == args


@pytest.mark.parametrize(("argv", "text"), [
    (["-bogus"], "unknown flag '-bogus'"),
    (["-index"], "flag -index needs a value"),
    (["-pre=true"], "flag -pre takes no value"),
])
def test_parse_errors(argv: list[str], text: str) -> None:
    with pytest.raises(InputError, match=text):
        parse(argv, SPEC, "get")
