"""The recording of PXE boots' consoles beside the services, against fake consoles and a real
store (the SOL sessions themselves: tests/e2e/test_pxe_boot_console_sim.py): started by
pxe-boot's event, ended by the node's report after the grace, caught up after a hand-over, one
recorder per rack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from racker.adapters.fs.consolelog import read_lines
from racker.adapters.fs.store import Store
from racker.app.consolecapture import ConsoleCapture
from racker.app.pxeboot import open_install_window
from racker.app.pxecapture import ENDED, PxeBootConsoles, recording_bound, recording_pxe_boots
from racker.core.events import EventKind
from racker.core.pxewatch import GRACE
from racker.engine.stages import Timeouts
from racker.errors import RackerError
from racker.model import ClusterPlan, PlannedNode
from tests.unit.test_engine import planned


class Consoles:
    """Each node's console prints one line per open, then stays open until closed."""

    def __init__(self) -> None:
        self.open_now: set[str] = set()

    async def open(self, node: PlannedNode, take_over: bool) -> AsyncIterator[bytes]:
        return self._stream(node)

    async def _stream(self, node: PlannedNode) -> AsyncIterator[bytes]:
        self.open_now.add(node.mac)
        try:
            yield f"{node.name} firmware\n".encode()
            await asyncio.Event().wait()
        finally:
            self.open_now.discard(node.mac)


async def settle(consoles: Consoles, want: set[str]) -> None:
    for _ in range(500):
        if consoles.open_now == want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"open {consoles.open_now}, expected {want}")


def test_bound_is_the_stages_from_power_on_to_the_first_boot() -> None:
    assert recording_bound(Timeouts()) == 120 + 300 + 180 + 1800 + 900
    assert recording_bound(Timeouts.scaled(0.02)) == 5 + 6 + 5 + 36 + 18


def test_a_pxe_boot_is_recorded_until_its_report_and_the_grace(tmp_path: Path) -> None:
    now = [1000.0]
    consoles = Consoles()
    a, b = planned(0), planned(1)

    async def main(store: Store) -> None:
        cap = ConsoleCapture(consoles.open, tmp_path / "console", store)
        rec = PxeBootConsoles({n.mac: n for n in (a, b)}, store, cap, 70.0,
                              clock=lambda: now[0])
        rec.catch_up()
        await rec.step()
        assert consoles.open_now == set()  # nothing booted yet
        open_install_window(store, a)
        store.add(b.mac, EventKind.STAGE, stage="pxe")  # the engine's: it records b itself
        await rec.step()
        await settle(consoles, {a.mac})
        store.add(a.mac, EventKind.BOOTED, ts=now[0] + 30)
        now[0] += 30 + GRACE - 0.5
        await rec.step()
        assert consoles.open_now == {a.mac}  # the grace: the login prompt is still recorded
        now[0] += 0.5
        await rec.step()
        await settle(consoles, set())
        await cap.stop()

    with Store(tmp_path / "racker.db", clock=lambda: now[0]) as store:
        asyncio.run(asyncio.wait_for(main(store), 30))
    texts = [t for _, t in read_lines(tmp_path / "console", planned(0).mac)]
    assert texts == ["[racker] serial console captured (Serial over LAN)", "node-0 firmware",
                     f"[racker] {ENDED}"]
    assert read_lines(tmp_path / "console", planned(1).mac) == []


def test_a_boot_started_before_the_recorder_is_caught_up_within_the_bound(
        tmp_path: Path) -> None:
    now = [1000.0]
    consoles = Consoles()
    a, b = planned(0), planned(1)

    async def main(store: Store) -> None:
        open_install_window(store, a)  # 60 s ago: still installing
        now[0] += 10
        open_install_window(store, b)
        store.add(b.mac, EventKind.INSTALL_FAILED)  # over already
        now[0] += 50
        cap = ConsoleCapture(consoles.open, tmp_path / "console", store)
        rec = PxeBootConsoles({n.mac: n for n in (a, b)}, store, cap, 70.0,
                              clock=lambda: now[0])
        task = asyncio.create_task(rec.follow(poll=0.01))
        await settle(consoles, {a.mac})
        now[0] += 10  # the bound passed: a never reported
        await settle(consoles, set())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with Store(tmp_path / "racker.db", clock=lambda: now[0]) as store:
        asyncio.run(asyncio.wait_for(main(store), 30))


def test_one_recorder_per_rack_and_only_while_the_services_run(tmp_path: Path) -> None:
    consoles = Consoles()
    node = planned(0)
    plan = cast(ClusterPlan, SimpleNamespace(nodes=[node]))  # the one field it reads
    phases: list[str] = []
    held: list[str] = []

    @contextlib.asynccontextmanager
    async def services() -> AsyncIterator[None]:
        phases.append("up")
        yield
        phases.append("down")

    @contextlib.contextmanager
    def lock(command: str) -> Iterator[None]:
        if held:
            raise RackerError(f"{command} refused: {held[0]} holds it")
        held.append(command)
        try:
            yield
        finally:
            held.remove(command)

    async def main(store: Store) -> None:
        cap = ConsoleCapture(consoles.open, tmp_path / "console", store)
        async with recording_pxe_boots(services(), plan, store, cap, 0.02, lock,
                                       "racker serve"):
            assert held == ["racker serve"] and phases == ["up"]
            # a second process (here: a second recorder) runs its services, records nothing
            other = ConsoleCapture(consoles.open, tmp_path / "other", store)
            async with recording_pxe_boots(services(), plan, store, other, 0.02,
                                           lock, "racker apply"):
                assert held == ["racker serve"]
                open_install_window(store, node)
                await settle(consoles, {node.mac})
            assert not (tmp_path / "other").exists()
        assert held == [] and phases == ["up", "up", "down", "down"]
        await settle(consoles, set())  # the recording ended with the services

    with Store(tmp_path / "racker.db") as store:
        asyncio.run(asyncio.wait_for(main(store), 30))

