"""The `ipmi` helper's serial console when racker records the node's console: it says so and
takes the session over (racker does not take it back while the operator is attached)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from racker.adapters.bmc.locate import Found, LocatedBmc, Source
from racker.adapters.fs.consolelog import clear_held, holder, mark_held
from racker.app.ipmi_helper import Context, run_node
from racker.cli.ipmi import ask_yes_no
from racker.core import ipmitool as h
from racker.model import Credentials, Node

NODE = Node("52:54:00:00:00:01", "52:54:00:00:01:01", None, "", "", 3)


class FakeLocator:
    """The BMC is in the leases at once."""

    pxe_interface = "eth1"

    def lookup_once(self, mac: str, **_kw: object) -> Found:
        return Found("10.0.0.9", Source.LEASES)

    def locate_bmc(self, mac: str, retry_sec: float, **_kw: object) -> LocatedBmc:
        return LocatedBmc("10.0.0.9", Source.LEASES, "10.0.0.9")


class Recorded:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.runs: list[list[str]] = []

    def echo(self, line: str) -> None:
        self.lines.append(line)

    def run(self, argv: list[str], stdin_text: str | None = None) -> int:
        self.runs.append(argv)
        return 0

    def quiet(self, argv: list[str]) -> None:
        self.runs.append(argv)


def sol(console_dir: Path, confirm: Callable[[str], bool] | None = None, *,
        code: int = 0) -> Recorded:
    ctx = Context(settings=h.Settings(), credentials=Credentials("admin", "pw"),
                  locator=FakeLocator(), planned={}, hosts=(),  # type: ignore[arg-type]
                  console_dir=console_dir, confirm=confirm)
    sink = Recorded()
    assert run_node(NODE, h.Request(NODE.primary_mac, h.SOL, h.Kind.SOL), ctx, sink) == code
    return sink


def test_the_helper_says_when_racker_records_the_console(tmp_path: Path) -> None:
    mark_held(tmp_path, NODE.primary_mac)
    assert holder(tmp_path, NODE.primary_mac) == os.getpid()
    sink = sol(tmp_path)
    assert sink.lines[0].startswith(f"racker (pid {os.getpid()}) is recording this node's "
                                    "console over Serial over LAN; taking the session over.")
    assert sink.runs[0][-2:] == ["sol", "deactivate"] and sink.runs[1][-2:] == ["sol",
                                                                                 "activate"]
    clear_held(tmp_path, NODE.primary_mac)
    assert holder(tmp_path, NODE.primary_mac) is None
    assert not any("racker (pid" in line for line in sol(tmp_path).lines)


def test_a_dead_recorder_is_not_named(tmp_path: Path) -> None:
    (tmp_path / "52-54-00-00-00-01.held").write_text("999999999\n")  # no such process
    assert holder(tmp_path, NODE.primary_mac) is None
    assert not any("racker (pid" in line for line in sol(tmp_path).lines)


def test_at_a_terminal_the_operator_is_asked_before_racker_loses_the_console(
        tmp_path: Path) -> None:
    mark_held(tmp_path, NODE.primary_mac)
    asked: list[str] = []

    def no(question: str) -> bool:
        asked.append(question)
        return False

    declined = sol(tmp_path, no, code=1)
    assert asked and asked[0].startswith(f"racker (pid {os.getpid()}) is recording")
    assert asked[0].endswith("[y/N] ")
    assert declined.runs == []  # neither deactivated nor activated: racker keeps recording
    assert declined.lines == [f"Left racker's recording alone; 'racker node console-log "
                              f"{NODE.primary_mac} -f' follows it."]
    taken = sol(tmp_path, lambda _q: True)
    assert [r[-2:] for r in taken.runs] == [["sol", "deactivate"], ["sol", "activate"]]
    assert "taking the session over" in taken.lines[0]
    clear_held(tmp_path, NODE.primary_mac)
    asked.clear()
    sol(tmp_path, no)  # nobody records: nothing to ask
    assert asked == []


@pytest.mark.parametrize(("typed", "yes"), [("y\n", True), ("YES\n", True), ("\n", False),
                                            ("n\n", False), ("", False)])
def test_ask_yes_no(typed: str, yes: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    assert ask_yes_no("? ") is yes
