"""Which PXE boots' consoles the long-running racker records, from the event log alone: started
by `racker pxe-boot` or a dashboard action, ended by the node's report (after a grace), by the
bound, or by the engine taking the node over."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from racker.core.events import Event, EventKind
from racker.core.pxewatch import (
    BY_PXE_BOOT,
    GRACE,
    KINDS,
    Watched,
    console_answered,
    due,
    engine_takes_over,
    fold,
    starts,
)

A, B = "52:54:00:00:00:0a", "52:54:00:00:00:0b"


def ev(kind: EventKind, ts: float, mac: str = A, stage: str | None = None,
       detail: Mapping[str, Any] | None = None, id_: int = 1) -> Event:
    return Event(id_, ts, mac, kind, stage, detail or {})


def pxe(ts: float, mac: str = A, **detail: str) -> Event:
    return ev(EventKind.STAGE, ts, mac, "pxe", detail)


@pytest.mark.parametrize(("event", "start", "engine"), [
    (pxe(1, by=BY_PXE_BOOT), True, False),
    (pxe(1, action="pxe-boot"), True, False),  # the dashboard's PXE boot
    (pxe(1, action="reprovision"), True, False),
    (pxe(1, action="reprovision", result="ok"), False, False),  # its outcome, not a new boot
    (pxe(1, action="power-cycle"), False, False),
    (pxe(1, discovery="yes"), False, False),  # discovery's catalog: not a rack node yet
    (pxe(1), False, True),  # the engine's own stage pxe
    (ev(EventKind.STAGE, 1, stage="install"), False, False),
    (ev(EventKind.BOOTED, 1), False, False),
])
def test_what_starts_a_recording_and_what_is_the_engine(event: Event, start: bool,
                                                        engine: bool) -> None:
    assert starts(event) is start
    assert engine_takes_over(event) is engine


def test_a_pxe_boot_is_recorded_until_booted_and_the_grace() -> None:
    w = fold({}, [pxe(100, by=BY_PXE_BOOT)], bound=3000)
    assert w == {A: Watched(A, 3100)}
    assert due(w, 100) == ({A}, set())
    w = fold(w, [ev(EventKind.REQUEST, 130), ev(EventKind.INSTALLED, 200),
                 ev(EventKind.BOOTED, 400)], bound=3000)
    assert w == {A: Watched(A, 400 + GRACE, over=True)}
    assert due(w, 400 + GRACE - 0.1) == ({A}, set())
    assert due(w, 400 + GRACE) == (set(), {A})
    # a second report of the same boot does not push the end further
    assert fold(w, [ev(EventKind.BOOTED, 405)], bound=3000) == w


@pytest.mark.parametrize("end", [EventKind.INSTALL_FAILED, EventKind.ERROR,
                                 EventKind.EXCLUDED])
def test_a_failure_ends_it_too(end: EventKind) -> None:
    w = fold({}, [pxe(100, action="pxe-boot"), ev(end, 150)], bound=3000, grace=5)
    assert due(w, 154.9) == ({A}, set()) and due(w, 155) == (set(), {A})


def test_the_bound_ends_a_boot_that_never_reports() -> None:
    w = fold({}, [pxe(100, by=BY_PXE_BOOT), ev(EventKind.INSTALLED, 200)], bound=70)
    assert due(w, 169.9) == ({A}, set()) and due(w, 170) == (set(), {A})


def test_a_new_pxe_boot_restarts_it_the_engine_takes_it_over() -> None:
    w = fold({}, [pxe(100, by=BY_PXE_BOOT), ev(EventKind.BOOTED, 200),
                  pxe(205, by=BY_PXE_BOOT)], bound=70)
    assert w == {A: Watched(A, 275)}  # booted, then PXE booted again: recorded anew
    w = fold(w, [pxe(210, B, by=BY_PXE_BOOT), pxe(220)], bound=70)
    assert set(w) == {B}  # the engine records A's console itself now
    # other nodes' events and events of nodes not watched change nothing
    assert fold(w, [ev(EventKind.BOOTED, 230), ev(EventKind.STAGE, 231, stage="dhcp")],
                bound=70) == w


def test_a_failure_before_any_pxe_boot_starts_nothing() -> None:
    assert fold({}, [ev(EventKind.ERROR, 1), ev(EventKind.BOOTED, 2), pxe(3)], bound=9) == {}


def test_the_recorder_answered_after_the_window_opened() -> None:
    events = [ev(EventKind.CONSOLE, 1, id_=4, detail={"state": "capturing"}),
              ev(EventKind.CONSOLE, 1, B, id_=9, detail={"state": "capturing"})]
    assert not console_answered(events, A, after_id=5)  # an earlier recording's
    assert not console_answered(events, A, after_id=4)
    assert console_answered(events, A, after_id=3)
    assert console_answered(events, B, after_id=5)
    assert not console_answered([ev(EventKind.REQUEST, 1, id_=8)], A, after_id=5)


def test_fold_reads_only_the_kinds_a_follower_fetches() -> None:
    """A follower fetches only KINDS from the store: fold must come to the same over them as
    over every event."""
    mixed = [pxe(1, by=BY_PXE_BOOT), ev(EventKind.REQUEST, 2, detail={"path": "/ipxe"}),
             ev(EventKind.LEASE, 3), pxe(4, B, action="pxe-boot"), ev(EventKind.INSTALLED, 5),
             ev(EventKind.CONSOLE, 6, B), ev(EventKind.BOOTED, 7),
             ev(EventKind.INSTALL_FAILED, 8, B), pxe(9), ev(EventKind.RUN, 10, ""),
             pxe(11, B, by=BY_PXE_BOOT), ev(EventKind.ERROR, 12, B), ev(EventKind.EXCLUDED, 13)]
    for n in range(len(mixed) + 1):
        assert fold({}, [e for e in mixed[:n] if e.kind in KINDS], bound=60) == \
            fold({}, mixed[:n], bound=60)
