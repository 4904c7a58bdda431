from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from racker.adapters.fs.store import Store
from racker.core.events import EventKind


def test_events_round_trip_in_order(tmp_path: Path) -> None:
    ticks = iter(range(100, 200))
    with Store(tmp_path / "racker.db", clock=lambda: float(next(ticks))) as s:
        s.add("aa:bb:cc:dd:ee:01", EventKind.LEASE, detail={"ip": "172.24.213.2"})
        s.add("aa:bb:cc:dd:ee:02", EventKind.STAGE, stage="pxe")
        s.add("aa:bb:cc:dd:ee:01", EventKind.INSTALLED)
        one = s.events("aa:bb:cc:dd:ee:01")
        assert [(e.kind, e.ts) for e in one] == [(EventKind.LEASE, 100.0),
                                                 (EventKind.INSTALLED, 102.0)]
        assert one[0].detail == {"ip": "172.24.213.2"}
        assert [e.stage for e in s.events()] == [None, "pxe", None]
        assert s.macs() == ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"]
        assert len(s.events(since_id=one[0].id)) == 2


def test_events_of_some_kinds_only(tmp_path: Path) -> None:
    a, b = "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"
    with Store(tmp_path / "racker.db") as s:
        for mac in (a, b, a):
            s.add(mac, EventKind.REQUEST, detail={"path": "/ipxe"})
            s.add(mac, EventKind.STAGE, stage="pxe")
            s.add(mac, EventKind.BOOTED)
        wanted = {EventKind.STAGE, EventKind.BOOTED}
        every = s.events()
        assert s.events(kinds=wanted) == [e for e in every if e.kind in wanted]
        assert s.events(a, kinds=wanted) == [e for e in every if e.kind in wanted and e.mac == a]
        since = every[4].id
        assert s.events(since_id=since, kinds=[EventKind.BOOTED]) == [
            e for e in every if e.id > since and e.kind is EventKind.BOOTED]
        assert s.events(kinds=()) == []


def test_last_by_kind_takes_newest(tmp_path: Path) -> None:
    with Store(tmp_path / "racker.db") as s:
        s.add("m1", EventKind.BOOTED, ts=1.0)
        s.add("m1", EventKind.BOOTED, ts=5.0)
        s.add("m2", EventKind.INSTALLED, ts=2.0)
        last = s.last_by_kind(EventKind.BOOTED)
        assert list(last) == ["m1"] and last["m1"].ts == 5.0


def _writer(path: str, ready: multiprocessing.synchronize.Event) -> None:
    s = Store(Path(path))
    for i in range(100_000):
        s.add(f"m{i % 7}", EventKind.REQUEST, detail={"i": i})
        if i == 50:
            ready.set()


def test_store_survives_kill_9_of_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "racker.db"
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_writer, args=(str(db), ready))
    p.start()
    assert ready.wait(30)
    assert p.pid is not None
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    with Store(db) as s:
        events = s.events()
        assert len(events) > 50
        # every committed event is whole and the ids have no holes
        assert [e.id for e in events] == list(range(1, len(events) + 1))
        assert all(e.detail["i"] == e.id - 1 for e in events)
        s.add("m0", EventKind.BOOTED)


def test_trim_keeps_the_newest_of_one_kind(tmp_path: Path) -> None:
    with Store(tmp_path / "racker.db") as s:
        for i in range(10):
            s.add("m", EventKind.REQUEST, detail={"n": i})
            s.add("m", EventKind.LEASE, detail={"n": i})
        assert s.trim(EventKind.REQUEST, 3) == 7
        assert s.trim(EventKind.REQUEST, 3) == 0
        left = s.events("m")
        assert [e.detail["n"] for e in left if e.kind is EventKind.REQUEST] == [7, 8, 9]
        assert len([e for e in left if e.kind is EventKind.LEASE]) == 10  # other kinds stay
