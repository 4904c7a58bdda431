"""The engine against a fake BMC control and fake nodes that report through the store."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from racker.adapters.bmc.errors import BmcTimeout
from racker.adapters.fs.store import Store
from racker.core.events import Event, EventKind
from racker.core.hardware import Hardware
from racker.engine import run as run_module
from racker.engine.run import Engine, FlagFiles, NodeState, RunState, late_report
from racker.engine.stages import Stage, Timeouts
from racker.errors import BmcError
from racker.model import Node, PlannedNode, Role

FAST = Timeouts(bmc=1, pxe=1, dhcp=1, ipxe=1, install=1, boot=1)


def planned(i: int) -> PlannedNode:
    mac = f"52:54:00:00:00:{i:02x}"
    node = Node(mac, f"52:54:00:00:01:{i:02x}", None, "", "", i + 1)
    return PlannedNode(node, Role.NODE, i, f"node-{i}", f"10.0.0.{i + 2}", f"10.0.0.{i + 50}")


@dataclass
class FakeRack:
    """Nodes that go through DHCP, iPXE, install and boot when powered on with PXE."""

    store: Store
    bmc_down: set[str] = field(default_factory=set)
    stuck_at: dict[str, Stage] = field(default_factory=dict)
    install_fails: dict[str, list[str]] = field(default_factory=dict)
    """Nodes whose installer reports `install-failed` with these journal lines."""
    pxe_set: set[str] = field(default_factory=set)
    powered: list[str] = field(default_factory=list)
    guids: dict[str, bytes] = field(default_factory=dict)
    """Each node's BMC system GUID (none: the BMC cannot tell)."""
    hardware: dict[str, Hardware] = field(default_factory=dict)
    """What a node's installer reports before `installed` (none: no inventory)."""
    swapped: set[str] = field(default_factory=set)
    acting_on_installed: set[str] = field(default_factory=set)
    power_fails: dict[str, list[BmcError]] = field(default_factory=dict)
    """Errors the node's power-on raises, one per call, before it works."""
    power_calls: list[str] = field(default_factory=list)
    """Nodes whose `installed` report came, and racker's BMC call for it never ends."""
    """Nodes whose NIC cables are swapped: they lease for their secondary MAC, and stop."""

    async def check_bmc(self, node: PlannedNode) -> str:
        if node.mac in self.bmc_down:
            raise BmcError(f"BMC {node.node.bmc_mac} of {node.name} is unreachable")
        return node.bmc_ip

    async def system_guid(self, node: PlannedNode) -> bytes | None:
        return self.guids.get(node.mac)

    async def prepare_pxe(self, node: PlannedNode) -> None:
        self.pxe_set.add(node.mac)

    async def power_on(self, node: PlannedNode) -> None:
        assert node.mac in self.pxe_set
        self.power_calls.append(node.mac)
        failures = self.power_fails.get(node.mac)
        if failures:
            raise failures.pop(0)
        self.powered.append(node.mac)
        asyncio.get_running_loop().create_task(self._boot(node))

    async def _boot(self, node: PlannedNode) -> None:
        if node.mac in self.swapped:
            await asyncio.sleep(0.01)
            assert node.node.secondary_mac
            self.store.add(node.node.secondary_mac, EventKind.LEASE, detail={"action": "add"})
            return
        if node.mac in self.hardware:
            self.store.add(node.mac, EventKind.INVENTORY,
                           detail={"hardware": self.hardware[node.mac].as_json()})
        steps: list[tuple[Stage, EventKind, dict[str, object]]] = [
                 (Stage.DHCP, EventKind.LEASE, {"action": "add", "ip": node.ip}),
                 (Stage.IPXE, EventKind.REQUEST, {"path": "/ipxe", "status": 200}),
                 (Stage.INSTALL, EventKind.INSTALLED, {}),
                 (Stage.BOOT, EventKind.BOOTED, {})]
        for stage, kind, detail in steps:
            await asyncio.sleep(0.01)
            if self.stuck_at.get(node.mac) is stage:
                return
            if stage is Stage.INSTALL and node.mac in self.acting_on_installed:
                self.report_installed(node)  # and racker never finishes acting on it
                return
            if stage is Stage.INSTALL and node.mac in self.install_fails:
                self.store.add(node.mac, EventKind.INSTALL_FAILED, detail={
                    "journal": self.install_fails[node.mac], "exit_status": 1})
                return
            self.store.add(node.mac, kind, detail=detail)

    async def set_disk_boot(self, node: PlannedNode) -> None:
        pass

    def report_installed(self, node: PlannedNode) -> None:
        """The boot server's record of the installer's `installed` report, before it acts."""
        self.store.add(node.mac, EventKind.REQUEST, detail={
            "path": f"/racker/v1/nodes/{node.mac}/events", "status": 200,
            "report": "installed"})

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "racker.db")


def engine(rack: FakeRack, tmp_path: Path, changes: list[RunState] | None = None) -> Engine:
    return Engine(rack, rack.store, FlagFiles(tmp_path / "assets"), FAST,
                  on_change=(changes.append if changes is not None else lambda _s: None),
                  poll_interval=0.02)


def test_all_nodes_provisioned_with_flag_files(tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store)
    nodes = [planned(i) for i in range(5)]
    run = asyncio.run(engine(rack, tmp_path).install(nodes))
    assert run.count(NodeState.DONE) == 5 and not run.failed
    for n in nodes:
        assert (tmp_path / "assets" / n.mac).read_text() == f"{n.name}\n"
        kinds = [e.kind for e in store.events(n.mac)]
        assert kinds[-1] is EventKind.PROVISIONED
        stages = [e.stage for e in store.events(n.mac) if e.kind is EventKind.STAGE]
        assert stages[0] == "pxe"


def test_a_node_stuck_fails_at_its_stage_others_finish(tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, stuck_at={planned(1).mac: Stage.INSTALL})
    run = asyncio.run(engine(rack, tmp_path).install([planned(i) for i in range(3)]))
    (failed,) = run.failed
    assert failed.node.mac == planned(1).mac
    assert failed.stage is Stage.INSTALL
    assert "timed out waiting for the installer to finish" in failed.error
    assert run.count(NodeState.DONE) == 2
    assert not (tmp_path / "assets" / planned(1).mac).exists()
    errors = [e for e in store.events(planned(1).mac) if e.kind is EventKind.ERROR]
    assert errors and errors[0].stage == "install"


def test_an_install_timeout_says_the_report_came_and_what_racker_was_still_doing(
        tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, acting_on_installed={planned(0).mac})
    run = asyncio.run(engine(rack, tmp_path).install([planned(0)]))
    (failed,) = run.failed
    assert failed.stage is Stage.INSTALL
    assert failed.error.startswith("timed out waiting for the installer to finish (1 s): its "
                                   "'installed' report came ")
    assert failed.error.endswith(" s before, and racker was still setting its boot device to "
                                 "disk over its BMC")


def test_a_bmc_step_that_times_out_is_tried_again_within_the_stage(
        tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "BMC_RETRY_PAUSE", 0.01)
    timeout = BmcTimeout("node-0", "10.0.0.50", "no answer within 5 s, after 3 attempts")
    refused = BmcError("BMC 10.0.0.51: command failed: invalid command")
    rack = FakeRack(store, power_fails={planned(0).mac: [timeout, timeout],
                                        planned(1).mac: [refused]})
    slow = dataclasses.replace(FAST, pxe=30)
    run = asyncio.run(Engine(rack, store, FlagFiles(tmp_path / "assets"), slow,
                             poll_interval=0.02).install([planned(0), planned(1)]))
    # a timeout may pass: tried again, and the node installs
    assert run.nodes[planned(0).mac].state is NodeState.DONE
    assert rack.power_calls.count(planned(0).mac) == 3
    # a refusal will not: the node fails at once with it
    (failed,) = run.failed
    assert failed.node == planned(1) and failed.stage is Stage.PXE
    assert failed.error == "BMC 10.0.0.51: command failed: invalid command"
    assert rack.power_calls.count(planned(1).mac) == 1


def test_a_bmc_step_is_not_tried_again_without_time_left_in_the_stage(
        tmp_path: Path, store: Store) -> None:
    timeout = BmcTimeout("node-0", "10.0.0.50", "no answer within 5 s, after 3 attempts")
    rack = FakeRack(store, power_fails={planned(0).mac: [timeout] * 10})
    run = asyncio.run(engine(rack, tmp_path).install([planned(0)]))  # a 1 s stage
    (failed,) = run.failed
    assert "timed out: no answer within 5 s" in failed.error
    assert rack.power_calls == [planned(0).mac]


def _request(ts: float, **detail: object) -> Event:
    return Event(0, ts, "m", EventKind.REQUEST, None, {"path": "/racker/v1/self/events",
                                                       **detail})


@pytest.mark.parametrize(("since", "why"), [
    ([], None),
    ([_request(101, status=200)], None),  # another request (no report named)
    ([_request(112.5, status=200, report="booted")], None),  # not the install's report
    ([_request(100, status=200, report="installed")],
     "its 'installed' report came 36 s before, and racker was still setting its boot device "
     "to disk over its BMC"),
    ([_request(131.6, status=200, report="installed"),
      _request(135, status=502, report="installed", problem="no answer within 5 s"),
      _request(137, status=200, report="installed")],
     "its 'installed' report came 4.4 s before, but setting its boot device to disk over its "
     "BMC failed: no answer within 5 s"),
    ([_request(101, status=200, report="installed"),
      Event(0, 102, "m", EventKind.INSTALLED, None, {})],
     "its 'installed' report came 35 s before and was recorded, but the run did not see it "
     "(an internal error)"),
])
def test_late_report_says_what_came_of_the_stage_report(since: list[Event],
                                                         why: str | None) -> None:
    assert late_report(Stage.INSTALL, since, 136.0) == why
    assert late_report(Stage.DHCP, since, 136.0) is None


def test_rerun_skips_provisioned_nodes(tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, stuck_at={planned(2).mac: Stage.DHCP})
    nodes = [planned(i) for i in range(3)]
    asyncio.run(engine(rack, tmp_path).install(nodes))
    rack.stuck_at.clear()
    rack.powered.clear()
    run = asyncio.run(engine(rack, tmp_path).install(nodes))
    assert rack.powered == [planned(2).mac]
    assert run.count(NodeState.DONE) == 3


def test_bmc_check_reports_unreachable(tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, bmc_down={planned(0).mac})
    changes: list[RunState] = []
    run = asyncio.run(engine(rack, tmp_path, changes).check_bmcs([planned(0), planned(1)]))
    (failed,) = run.failed
    assert "unreachable" in failed.error and failed.stage is Stage.BMC
    assert run.count(NodeState.DONE) == 1
    assert changes


def test_concurrency_limit(tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store)
    e = engine(rack, tmp_path)
    e.concurrency = 2
    active: list[int] = []
    running = 0
    orig = rack.power_on

    async def counting_prepare(node: PlannedNode) -> None:
        nonlocal running
        running += 1
        active.append(running)
        rack.pxe_set.add(node.mac)

    async def power_on(node: PlannedNode) -> None:
        await orig(node)

    rack.prepare_pxe = counting_prepare  # type: ignore[method-assign]
    rack.power_on = power_on  # type: ignore[method-assign]
    original_mark = e.flags.mark

    def mark(node: PlannedNode) -> None:
        nonlocal running
        running -= 1
        original_mark(node)

    e.flags.mark = mark  # type: ignore[method-assign]
    run = asyncio.run(e.install([planned(i) for i in range(6)]))
    assert run.count(NodeState.DONE) == 6
    assert max(active) == 2


def test_a_late_lease_event_does_not_hold_the_node_back(tmp_path: Path, store: Store) -> None:
    """The lease hook may report after the node already asked for iPXE and installed."""
    rack = FakeRack(store)
    late: list[PlannedNode] = []
    original = rack._boot

    async def boot_without_lease(node: PlannedNode) -> None:
        rack.stuck_at[node.mac] = Stage.DHCP  # no lease event at first ...
        await original(node)
        late.append(node)
        for kind, detail in ((EventKind.REQUEST, {"path": "/ipxe", "status": 200}),
                             (EventKind.INSTALLED, {}), (EventKind.BOOTED, {})):
            store.add(node.mac, kind, detail=detail)

    rack._boot = boot_without_lease  # type: ignore[method-assign]
    run = asyncio.run(engine(rack, tmp_path).install([planned(0)]))
    assert run.count(NodeState.DONE) == 1 and late  # ... and it still finished


def test_an_installer_failure_report_fails_the_install_stage_at_once(
        tmp_path: Path, store: Store) -> None:
    """`install-failed` ends the wait: with an install timeout of an hour the run still ends,
    the node failed at stage install with the journal's telling line, the others done."""
    journal = ["2026-12-04T03:00:00+0000 localhost racker-installer[812]: downloading image",
               "2026-12-04T03:00:01+0000 localhost racker-installer[812]: "
               "Error: failed to write image to /dev/sda: No space left on device",
               "2026-12-04T03:00:01+0000 localhost systemd[1]: installer.service: "
               "Main process exited, code=exited, status=1/FAILURE"]
    rack = FakeRack(store, install_fails={planned(1).mac: journal})
    slow = Timeouts(bmc=1, pxe=1, dhcp=1, ipxe=1, install=3600, boot=1)
    eng = Engine(rack, store, FlagFiles(tmp_path / "assets"), slow, poll_interval=0.02)
    run = asyncio.run(asyncio.wait_for(eng.install([planned(i) for i in range(3)]), 60))
    (failed,) = run.failed
    assert failed.node.mac == planned(1).mac and failed.stage is Stage.INSTALL
    assert failed.error == ("the installer failed (exit status 1): Error: failed to write "
                            "image to /dev/sda: No space left on device")
    assert failed.report == tuple(journal)
    assert run.count(NodeState.DONE) == 2
    (error,) = [e for e in store.events(planned(1).mac) if e.kind is EventKind.ERROR]
    assert error.stage == "install" and error.detail["error"] == failed.error


def test_an_installer_failure_reported_before_the_lease_event_still_fails_it(
        tmp_path: Path, store: Store) -> None:
    """The lease hook may lag: `install-failed` seen while the engine waits for DHCP fails
    the node at stage install all the same."""
    rack = FakeRack(store, stuck_at={planned(0).mac: Stage.DHCP})
    slow = Timeouts(bmc=1, pxe=1, dhcp=3600, ipxe=1, install=3600, boot=1)
    eng = Engine(rack, store, FlagFiles(tmp_path / "assets"), slow, poll_interval=0.02)

    async def main() -> RunState:
        task = asyncio.create_task(eng.install([planned(0)]))
        while not any(e.kind is EventKind.STAGE and e.stage == "dhcp"
                      for e in store.events(planned(0).mac)):
            await asyncio.sleep(0.01)
        store.add(planned(0).mac, EventKind.INSTALL_FAILED, detail={"journal": ["boom"]})
        return await asyncio.wait_for(task, 60)

    run = asyncio.run(main())
    (failed,) = run.failed
    assert failed.stage is Stage.INSTALL
    assert failed.error == "the installer failed: boom" and failed.report == ("boom",)


@dataclass
class RecordingWatch:
    """The engine's calls on its `Watch`, in order; a console that ends in an Ignition error."""

    calls: list[str] = field(default_factory=list)

    def start(self, nodes: Sequence[PlannedNode]) -> None:
        self.calls += [f"start {n.name}" for n in nodes]

    async def ready(self, node: PlannedNode) -> None:
        self.calls.append(f"ready {node.name}")

    async def stop(self) -> None:
        self.calls.append("stop")

    def last_lines(self, node: PlannedNode, n: int) -> list[str]:
        return ["[    4.18] ignition[702]: CRITICAL : Ignition failed: bad config",
                "Press Enter for maintenance"][-n:]

    def stopped(self, node: PlannedNode) -> asyncio.Future[str]:
        self.calls.append(f"stopped? {node.name}")
        return asyncio.get_running_loop().create_future()


@dataclass
class StoppingWatch(RecordingWatch):
    """Node 0's console shows the emergency shell as soon as its first boot begins."""

    futures: list[asyncio.Future[str]] = field(default_factory=list)

    def stopped(self, node: PlannedNode) -> asyncio.Future[str]:
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if node == planned(0):
            fut.set_result("You are in emergency mode.")
        self.futures.append(fut)
        return fut


def test_a_console_that_says_the_installed_system_stopped_fails_the_boot_stage_at_once(
        tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, stuck_at={planned(0).mac: Stage.BOOT})
    watch = StoppingWatch()
    slow_boot = Timeouts(bmc=1, pxe=1, dhcp=1, ipxe=1, install=1, boot=60)
    eng = Engine(rack, store, FlagFiles(tmp_path / "assets"), slow_boot, poll_interval=0.02,
                 watch=watch)

    run = asyncio.run(eng.install([planned(0), planned(1)]))
    (failed,) = run.failed  # at once: the boot stage's 60 s are not waited out
    assert failed.node == planned(0) and failed.stage is Stage.BOOT
    assert failed.error == ("the installed system stopped at its first boot; its console: "
                            "[    4.18] ignition[702]: CRITICAL : Ignition failed: bad config")
    assert [n.node for n in run.nodes.values() if n.state is NodeState.DONE] == [planned(1)]
    assert all(f.done() for f in watch.futures)  # the engine no longer waits on any


def test_consoles_are_watched_through_the_install_and_named_by_a_boot_failure(
        tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, stuck_at={planned(1).mac: Stage.BOOT})
    watch = RecordingWatch()
    eng = Engine(rack, store, FlagFiles(tmp_path / "assets"), FAST, poll_interval=0.02,
                 watch=watch)
    FlagFiles(tmp_path / "assets").mark(planned(2))  # provisioned already: not watched
    run = asyncio.run(eng.install([planned(i) for i in range(3)]))
    assert watch.calls[:2] == ["start node-0", "start node-1"]
    assert sorted(c for c in watch.calls if c.startswith("ready")) == ["ready node-0",
                                                                       "ready node-1"]
    assert watch.calls[-1] == "stop" and watch.calls.count("stop") == 1
    (failed,) = run.failed
    assert failed.error == ("timed out waiting for the first boot from disk (1 s); its console: "
                            "[    4.18] ignition[702]: CRITICAL : Ignition failed: bad config")
    assert failed.console[-1] == "Press Enter for maintenance"


def test_a_bmc_check_before_an_install_watches_each_console_once_its_bmc_answered(
        tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store)
    watch = RecordingWatch()
    eng = Engine(rack, store, FlagFiles(tmp_path / "assets"), FAST, poll_interval=0.02,
                 watch=watch)
    FlagFiles(tmp_path / "assets").mark(planned(2))  # provisioned already: no install follows

    async def go() -> list[str]:
        checked = await eng.check_bmcs([planned(i) for i in range(3)], watch=True)
        assert not checked.failed
        before_install = list(watch.calls)
        await eng.install([planned(i) for i in range(3)])
        return before_install

    before_install = asyncio.run(go())
    assert sorted(before_install) == ["start node-0", "start node-1"]  # up by the power-on
    assert watch.calls.count("stop") == 1 and watch.calls[-1] == "stop"


def test_a_bmc_check_that_failed_stops_the_consoles_it_began_to_watch(
        tmp_path: Path, store: Store) -> None:
    rack = FakeRack(store, bmc_down={planned(0).mac})
    watch = RecordingWatch()
    eng = Engine(rack, store, FlagFiles(tmp_path / "assets"), FAST, poll_interval=0.02,
                 watch=watch)
    run = asyncio.run(eng.check_bmcs([planned(0), planned(1)], watch=True))
    assert [st.node for st in run.failed] == [planned(0)]
    assert watch.calls == ["start node-1", "stop"]  # the run ends here: nothing left open
    # without `watch` (a check alone, or Lokomotive's bring-up) no console is opened
    watch.calls.clear()
    asyncio.run(eng.check_bmcs([planned(1)]))
    assert watch.calls == []


def test_a_bmc_check_cancelled_stops_the_consoles_it_began_to_watch(
        tmp_path: Path, store: Store) -> None:
    @dataclass
    class SlowGuidRack(FakeRack):
        """Node 1's BMC answers, then never tells its GUID (Ctrl-C comes meanwhile)."""

        async def system_guid(self, node: PlannedNode) -> bytes | None:
            if node == planned(1):
                await asyncio.Event().wait()
            return None

    watch = RecordingWatch()
    eng = Engine(SlowGuidRack(store), store, FlagFiles(tmp_path / "assets"), FAST,
                 poll_interval=0.02, watch=watch)

    async def go() -> None:
        check = asyncio.create_task(eng.check_bmcs([planned(0), planned(1)], watch=True))
        while watch.calls.count("start node-1") == 0:
            await asyncio.sleep(0.01)
        check.cancel()
        with pytest.raises(asyncio.CancelledError):
            await check

    asyncio.run(go())
    assert watch.calls[-1] == "stop"
