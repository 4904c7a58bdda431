"""The provisioner's report hook: one background BMC task per node, whatever arrives."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest

from racker.adapters.bmc.errors import BmcTimeout
from racker.adapters.fs.store import Store
from racker.adapters.http.requests import NodeReport
from racker.app.provision import Provisioner
from racker.core.bootnode import BootNode, Catalog, StaticCatalog
from racker.core.events import EventKind
from racker.errors import BmcError
from racker.model import ClusterPlan, PlannedNode
from racker.paths import Paths
from racker.settings import Settings
from tests.unit.test_engine import FakeRack, planned


class SlowBmc(FakeRack):
    """A BMC whose boot-device re-assertion hangs until released."""

    started: int = 0
    release: asyncio.Event | None = None

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        self.started += 1
        assert self.release is not None
        await self.release.wait()


class CapturingServices:
    hook: NodeReport | None = None

    @contextlib.asynccontextmanager
    async def run(self, plan: ClusterPlan, store: Store, catalog: Catalog,
                  on_report: NodeReport) -> AsyncIterator[None]:
        self.hook = on_report
        yield


class Plan:
    def __init__(self, nodes: list[PlannedNode]) -> None:
        self.nodes = nodes


def test_booted_floods_start_one_bmc_task_per_node(tmp_path: Path) -> None:
    paths = Paths.from_env({"RACKER_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    store = Store(tmp_path / "db")
    bmc = SlowBmc(store)
    services = CapturingServices()
    prov = Provisioner(paths, Settings(), bmc, services, lambda: store, io.StringIO())
    nodes = [planned(0), planned(1)]
    boot = [BootNode(n.mac, n.ip, n.name, b"{}", b"{}") for n in nodes]

    async def go() -> None:
        bmc.release = asyncio.Event()
        plan = cast(ClusterPlan, Plan(nodes))
        async with prov._services(plan, store, StaticCatalog(boot), "bootstrap"):
            assert services.hook is not None
            for _ in range(100):
                for b in boot:
                    await services.hook(b, EventKind.BOOTED)
            await asyncio.sleep(0.05)
            assert bmc.started == 2  # one per node, not 200
            assert len(prov._background) == 2
            bmc.release.set()
            for _ in range(100):
                if not prov._background:
                    break
                await asyncio.sleep(0.01)
            assert not prov._background  # finished tasks are forgotten
            await services.hook(boot[0], EventKind.BOOTED)  # a later boot: a new task
            await asyncio.sleep(0.05)
            assert bmc.started == 3

    asyncio.run(go())
    store.close()


def test_a_finished_run_records_the_cpu_time_racker_used(tmp_path: Path) -> None:
    import resource
    import time

    from racker.app.provision import run_finished, run_started

    with Store(tmp_path / "racker.db") as store:
        run = run_started(store, "bootstrap")
        spent = time.process_time() + 0.05
        while time.process_time() < spent:  # some CPU of its own
            pass
        run_finished(store, run, "bootstrap", 0)
        used = resource.getrusage(resource.RUSAGE_SELF)
        end = store.events()[-1]
    assert end.detail["phase"] == "end" and end.detail["exit_code"] == 0
    assert 0.05 <= end.detail["cpu_s"] <= used.ru_utime + used.ru_stime + 0.001  # rounded


class FlakyBmc(FakeRack):
    """A BMC whose boot-device calls time out `fails` times, then work."""

    fails: int = 2
    calls: int = 0

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        self.calls += 1
        if self.calls <= self.fails:
            raise BmcTimeout(node.name, "10.0.0.50", "no answer within 5 s, after 3 attempts")

    async def set_disk_boot(self, node: PlannedNode) -> None:
        await self.reassert_disk_boot(node)


@pytest.fixture
def flaky(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          ) -> Iterator[tuple[Provisioner, FlakyBmc, CapturingServices, Store]]:
    """A provisioner over a BMC whose boot-device calls time out twice, then work."""
    import racker.engine.run as run_module

    monkeypatch.setattr(run_module, "BMC_RETRY_PAUSE", 0.01)
    paths = Paths.from_env({"RACKER_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)})
    with Store(tmp_path / "db") as store:
        bmc = FlakyBmc(store)
        services = CapturingServices()
        yield (Provisioner(paths, Settings(), bmc, services, lambda: store, io.StringIO()),
               bmc, services, store)


def _report_installed(prov: Provisioner, bmc: FlakyBmc, services: CapturingServices,
                      store: Store) -> str | None:
    """Node 0's installer reports `installed`; the BMC error it is answered with, if any."""
    node = planned(0)
    boot = BootNode(node.mac, node.ip, node.name, b"{}", b"{}")

    async def go() -> str | None:
        plan = cast(ClusterPlan, Plan([node]))
        async with prov._services(plan, store, StaticCatalog([boot]), "bootstrap"):
            assert services.hook is not None
            try:
                await services.hook(boot, EventKind.INSTALLED)
            except BmcError as e:  # the boot server answers it with its HTTP status
                return e.message
        return None

    return asyncio.run(go())


def test_an_installed_report_is_answered_once_a_timing_out_bmc_set_the_disk(
        flaky: tuple[Provisioner, FlakyBmc, CapturingServices, Store]) -> None:
    assert _report_installed(*flaky) is None
    assert flaky[1].calls == 3


def test_a_reassertion_that_times_out_is_tried_again_and_records_no_error(
        flaky: tuple[Provisioner, FlakyBmc, CapturingServices, Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    prov, bmc, _, store = flaky
    asyncio.run(prov._reassert_disk_boot(planned(0), store))
    assert bmc.calls == 3
    assert not [e for e in store.events() if e.kind is EventKind.ERROR]
    # a refusal will not pass: recorded at once
    bmc.calls, bmc.fails = 0, 0
    refused = BmcError("BMC 10.0.0.50: command failed: invalid command")

    async def refuse(node: PlannedNode) -> None:
        bmc.calls += 1
        raise refused

    monkeypatch.setattr(bmc, "reassert_disk_boot", refuse)
    asyncio.run(prov._reassert_disk_boot(planned(0), store))
    (error,) = [e for e in store.events() if e.kind is EventKind.ERROR]
    assert bmc.calls == 1
    assert error.detail["error"] == ("boot device disk not re-asserted: BMC 10.0.0.50: command "
                                     "failed: invalid command")


def test_an_installed_report_whose_bmc_call_never_ends_is_answered_with_a_bmc_error(
        flaky: tuple[Provisioner, FlakyBmc, CapturingServices, Store],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import racker.app.provision as provision_module

    prov, bmc, services, store = flaky
    monkeypatch.setattr(provision_module, "REPORTED_BMC_STEP_WITHIN", 0.2)

    async def hangs(node: PlannedNode) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(bmc, "set_disk_boot", hangs)
    answer = _report_installed(prov, bmc, services, store)
    assert answer == ("node-0: its boot device was not set to disk within 0.2 s: the BMC call "
                      "did not end")
