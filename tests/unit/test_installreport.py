"""The installer's failure report: the journal's tail bounded and escaped, the line a stage
failure names."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core.installreport import (
    JOURNAL_BYTES,
    JOURNAL_LINES,
    exit_status_of,
    failure_reason,
    journal_of,
)


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(("body", "lines"), [
    ({"journal_b64": b64("a\nb\n\n")}, ["a", "b"]),
    ({"journal_b64": b64("a\r\nb")}, ["a", "b"]),
    ({"journal": "plain\ntext"}, ["plain", "text"]),
    ({"journal_b64": "not base64!"}, []),
    ({"journal_b64": 42}, []),
    ({}, []),
    ({"journal_b64": b64(b"\xff\xfebad utf-8")}, ["\ufffd\ufffdbad utf-8"]),
    ({"journal_b64": b64("\x1b]0;title\x07 \u202e")}, ["\\x1b]0;title\\x07 \\u202e"]),
    ({"journal_b64": b64("a\nb")[:-2]}, ["a"]),  # cut short: what decodes is kept
])
def test_journal_of(body: dict[str, object], lines: list[str]) -> None:
    assert journal_of(body) == lines


def test_journal_is_bounded_to_its_tail() -> None:
    many = "".join(f"line {i}\n" for i in range(1000))
    got = journal_of({"journal_b64": b64(many)})
    assert len(got) == JOURNAL_LINES and got[-1] == "line 999"
    huge = "x" * 100_000 + "\nthe end\n"
    got = journal_of({"journal_b64": b64(huge)})
    assert got[-1] == "the end" and sum(len(x) + 1 for x in got) <= JOURNAL_BYTES


@given(st.text(max_size=3000))
def test_journal_lines_are_always_single_printable_lines(text: str) -> None:
    for line in journal_of({"journal_b64": b64(text)}):
        assert line.isprintable() and "\n" not in line


@pytest.mark.parametrize(("body", "status"), [
    ({"exit_status": 1}, 1), ({"exit_status": 0}, 0), ({"exit_status": 256}, None),
    ({"exit_status": "1"}, None), ({"exit_status": True}, None), ({}, None),
])
def test_exit_status_of(body: dict[str, object], status: int | None) -> None:
    assert exit_status_of(body) == status


@pytest.mark.parametrize(("journal", "status", "reason"), [
    (["2026-12-04T03:00:00+0000 h racker-installer[9]: writing",
      "2026-12-04T03:00:01+0000 h racker-installer[9]: Error: no disk found",
      "2026-12-04T03:00:01+0000 h racker-installer[9]: cleaning up",
      "2026-12-04T03:00:01+0000 h systemd[1]: installer.service: Failed with result "
      "'exit-code'."], 1, "the installer failed (exit status 1): Error: no disk found"),
    (["just one line"], None, "the installer failed: just one line"),
    ([], 3, "the installer failed (exit status 3); it sent no journal"),
    (["h systemd[1]: installer.service: Failed with result 'exit-code'."], None,
     "the installer failed: installer.service: Failed with result 'exit-code'."),
])
def test_failure_reason(journal: list[str], status: int | None, reason: str) -> None:
    assert failure_reason(journal, status) == reason
