"""The install window and the report gate: what a claim on the rack network achieves."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.core.events import Event, EventKind
from racker.core.nodetrust import WINDOW_KINDS, ReportGate, in_install_window


def ev(kind: EventKind, stage: str | None = None, ts: float = 100.0) -> Event:
    return Event(1, ts, "m", kind, stage)


@pytest.mark.parametrize(("last", "now", "open_"), [
    (None, 100.0, False),
    (ev(EventKind.STAGE, "pxe"), 100.0, True),
    (ev(EventKind.STAGE, "pxe"), 100.0 + 2400, True),
    (ev(EventKind.STAGE, "pxe"), 100.0 + 2401, False),  # racker stopped without closing it
    (ev(EventKind.STAGE, "pxe"), 50.0, False),  # from the future: a clock gone back
    (ev(EventKind.STAGE, "install"), 100.0, False),
    (ev(EventKind.INSTALLED), 100.0, False),
    (ev(EventKind.ERROR, "install"), 100.0, False),
    (ev(EventKind.PROVISIONED), 100.0, False),
])
def test_window(last: Event | None, now: float, open_: bool) -> None:
    assert in_install_window(last, now) is open_


def test_store_finds_the_newest_window_event(tmp_path: Path) -> None:
    with Store(tmp_path / "db") as s:
        assert s.last_of("m", WINDOW_KINDS, stage="pxe") is None
        s.add("m", EventKind.STAGE, stage="pxe")
        s.add("m", EventKind.STAGE, stage="dhcp")  # another stage: not a window event
        s.add("m", EventKind.REQUEST)
        s.add("other", EventKind.INSTALLED)
        last = s.last_of("m", WINDOW_KINDS, stage="pxe")
        assert last is not None and (last.kind, last.stage) == (EventKind.STAGE, "pxe")
        s.add("m", EventKind.INSTALLED)
        last = s.last_of("m", WINDOW_KINDS, stage="pxe")
        assert last is not None and last.kind is EventKind.INSTALLED
        any_stage = s.last_of("m", {EventKind.STAGE})
        assert any_stage is not None and any_stage.stage == "dhcp"


def test_gate_per_node_and_kind_and_interval() -> None:
    now = [0.0]
    gate = ReportGate(lambda: now[0], interval=30.0)
    assert not gate.repeat("a", EventKind.BOOTED)
    gate.acted("a", EventKind.BOOTED)
    assert gate.repeat("a", EventKind.BOOTED)
    assert not gate.repeat("a", EventKind.INSTALLED) and not gate.repeat("b", EventKind.BOOTED)
    now[0] = 30.0
    assert not gate.repeat("a", EventKind.BOOTED)
    gate.acted("a", EventKind.BOOTED)
    gate.forget("a", EventKind.BOOTED)
    assert not gate.repeat("a", EventKind.BOOTED)


def test_gate_memory_is_bounded() -> None:
    gate = ReportGate(lambda: 0.0)
    for i in range(70000):
        gate.acted(f"m{i}", EventKind.BOOTED)
    assert len(gate._last) <= 65537


def test_gate_epochs() -> None:
    gate = ReportGate(lambda: 0.0)
    gate.acted("a", EventKind.INSTALLED, epoch=7)
    assert gate.repeat("a", EventKind.INSTALLED, epoch=7)
    assert not gate.repeat("a", EventKind.INSTALLED, epoch=9)  # a new install window
