"""Console bytes into clean lines with times; the telling line; --since."""

from __future__ import annotations

import calendar
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core.consolelines import (
    MAX_LINE,
    LineSplitter,
    clean,
    format_line,
    is_stop_line,
    parse_line,
    parse_since,
    telling_line,
)


@pytest.mark.parametrize(("chunks", "lines"), [
    ([b"one\r\ntwo\n"], ["one", "two"]),
    ([b"par", b"tial\nrest"], ["partial"]),
    ([b"\x1b[2J\x1b[1;1H\x1b[0;32mBdsDxe\x1b[0m ok\r\n"], ["BdsDxe ok"]),
    ([b"Loading...\rLoading... done\n"], ["Loading...", "Loading... done"]),
    ([b"\x1b]0;title\x07shell$ \x00\x07\n"], ["shell$ "]),
    ([b"\n\n\r\n"], []),
    ([b"caf\xc3", b"\xa9\n"], ["café"]),  # a UTF-8 character cut between two packets
    ([b"back\\slash\n"], ["back\\\\slash"]),
])
def test_splitter(chunks: list[bytes], lines: list[str]) -> None:
    s = LineSplitter()
    got = [line for c in chunks for line in s.feed(c)]
    assert got == lines


def test_a_line_without_newline_is_cut_and_the_rest_flushed() -> None:
    s = LineSplitter()
    got = s.feed(b"x" * (MAX_LINE * 2 + 10))
    assert got == ["x" * MAX_LINE] * 2
    assert s.flush() == ["x" * 10] and s.flush() == []


@given(st.binary(max_size=2000))
def test_lines_are_always_printable(data: bytes) -> None:
    s = LineSplitter()
    for line in [*s.feed(data), *s.flush()]:
        assert line.isprintable()


def test_clean_keeps_text_escapes_the_rest() -> None:
    assert clean("\tok \u202e") == "    ok \\u202e"


def test_format_and_parse_round_trip() -> None:
    ts = calendar.timegm((2026, 12, 4, 3, 38, 32, 0, 0, 0)) + 0.345
    line = format_line(ts, "hello world")
    assert line == "2026-12-04T03:38:32.345Z hello world"
    parsed = parse_line(line)
    assert parsed is not None and abs(parsed[0] - ts) < 0.001 and parsed[1] == "hello world"
    assert parse_line("garbage") is None and parse_line("2026-13-40T99:00:00.000Z x") is None


IGN = "[    4.18] ignition[702]: CRITICAL : Ignition failed: bad config"


@pytest.mark.parametrize(("lines", "telling"), [
    ([IGN, "[FAILED] Failed to start ignition-fetch.service - Ignition (fetch).",
      "Press Enter for maintenance"], IGN),
    (["[FAILED] Failed to start x.service.", "login:"], "[FAILED] Failed to start x.service."),
    (["testos: ignition[702]: CRITICAL : Ignition failed: bad", "testos: halted: emergency "
      "shell: Ignition has failed", "Error: later"], "testos: ignition[702]: CRITICAL : "
     "Ignition failed: bad"),
    (["You are in emergency mode.", "[FAILED] Failed to start a."], "You are in emergency mode."),
    (["all fine", "login:"], "login:"),
    (["[racker] serial console not captured: error", "host line"], "host line"),
    ([], None),
])
def test_telling_line(lines: list[str], telling: str | None) -> None:
    assert telling_line(lines) == telling


def test_parse_since() -> None:
    run = parse_since("20261204-033832")
    assert run == time.mktime((2026, 12, 4, 3, 38, 32, 0, 0, -1))
    assert parse_since("2026-12-04 03:38") == time.mktime((2026, 12, 4, 3, 38, 0, 0, 0, -1))
    assert parse_since("2026-12-04") is not None
    assert parse_since("yesterday") is None and parse_since("20261304-000000") is None


@pytest.mark.parametrize(("line", "stop"), [
    ("You are in emergency mode. After logging in, type \"journalctl -xb\"", True),
    ("[  OK  ] Reached target emergency.target - Emergency Mode.", True),
    ("Generating \"/run/initramfs/rdsosreport.txt\" ... Entering emergency shell", True),
    ("[    6.1] Kernel panic - not syncing: VFS: Unable to mount root fs", True),
    ("[    4.18] ignition[702]: CRITICAL : Ignition failed: bad config", False),  # stops after
    ("[racker] serial console captured (Serial over LAN)", False),
    ("[  OK  ] Reached target multi-user.target", False),
])
def test_stop_lines(line: str, stop: bool) -> None:
    assert is_stop_line(line) is stop
