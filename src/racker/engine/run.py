"""The provisioning run: BMC check for all nodes, then one task per node through the stages.

Plan, then act: `provision` gets the plan's nodes and reports per-node outcomes; what to do
about failures (retry, exclude, cancel, ask) is decided by the caller (`racker.bootstrap`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.store import Store
from racker.core.cabling import check_hardware, pxe_from_secondary, recorded_guid
from racker.core.consolelines import telling_line
from racker.core.events import Event, EventKind
from racker.core.hardware import hardware_from_json
from racker.core.installreport import failure_reason
from racker.engine.control import Control, NoWatch, Watch
from racker.engine.stages import WHAT, Stage, Timeouts
from racker.engine.watch import EventWatcher
from racker.errors import BmcError, RackerError
from racker.model import PlannedNode

log = logging.getLogger(__name__)

CONSOLE_LINES = 20
"""A failed node's last console lines that the failure reports show."""


class CablingError(RackerError):
    """The hardware contradicts nodes.csv in a way that stops the node's install."""


class NodeState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class NodeStatus:
    """Where one node is: its current stage and how that went."""

    node: PlannedNode
    stage: Stage = Stage.BMC
    state: NodeState = NodeState.PENDING
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    """What the cabling check found that does not stop the install."""
    report: tuple[str, ...] = ()
    """What the node itself said about its failure (the installer's journal tail), if any."""
    console: tuple[str, ...] = ()
    """The node's last console lines when it failed (if its console was captured)."""


@dataclass
class RunState:
    """All nodes of one run; the progress display reads it."""

    nodes: dict[str, NodeStatus] = field(default_factory=dict)
    bmc_check: bool = False
    """A run of stage `bmc` only (check_bmcs): shown under its own title."""

    def count(self, state: NodeState, past: Stage | None = None) -> int:
        return sum(1 for s in self.nodes.values() if s.state is state
                   and (past is None or s.stage is past))

    @property
    def failed(self) -> list[NodeStatus]:
        return [s for s in self.nodes.values() if s.state is NodeState.FAILED]

    @property
    def warnings(self) -> list[str]:
        """Every node's cabling warnings, in node name order."""
        return [w for s in sorted(self.nodes.values(), key=lambda s: s.node.name)
                for w in s.warnings]


Changed = Callable[[RunState], None]


class FlagFiles:
    """`<asset_dir>/<MAC>` holding the node's domain: a node with one is provisioned."""

    def __init__(self, asset_dir: Path) -> None:
        self.dir = asset_dir

    def path(self, mac: str) -> Path:
        return self.dir / mac

    def done(self, mac: str) -> bool:
        return self.path(mac).is_file()

    def mark(self, node: PlannedNode) -> None:
        write_atomic(self.path(node.mac), node.name + "\n")


def _lease(e: Event) -> bool:
    return e.kind is EventKind.LEASE and e.detail.get("action") in ("add", "old")


def _ipxe(e: Event) -> bool:
    return (e.kind is EventKind.REQUEST and e.detail.get("path") == "/ipxe"
            and e.detail.get("status") == 200)


def _kind(kind: EventKind) -> Callable[[Event], bool]:
    return lambda e: e.kind is kind


REPORT_LAG = 2.0
"""Seconds a node's reports (the lease hook, the installer's) may come after what its console
showed at the same time."""


ACTING_ON = {Stage.INSTALL: (EventKind.INSTALLED,
                             "setting its boot device to disk over its BMC")}
"""The report a stage waits for, when racker acts on it before it is recorded (and answered)."""


def late_report(stage: Stage, since: Sequence[Event], now: float) -> str | None:
    """Why `stage` timed out at `now` although its node reported: the report's request came
    (the boot server records it before acting) but racker did not finish acting on it, or
    acting failed. None when no such report came. `since`: the node's events since its
    power-on (a fast node's report can come before the engine saw the stage begin)."""
    awaited = ACTING_ON.get(stage)
    if awaited is None:
        return None
    kind, acting = awaited
    tries = [e for e in since
             if e.kind is EventKind.REQUEST and e.detail.get("report") == kind.value]
    if not tries:
        return None
    came = f"its '{kind.value}' report came {_seconds(now - tries[0].ts)} before"
    recorded = next((e for e in since if e.kind is kind), None)
    if recorded is not None:  # racker's own fault: the run's watch of the store missed it
        return f"{came} and was recorded, but the run did not see it (an internal error)"
    failed = [e for e in tries if isinstance(e.detail.get("status"), int)
              and e.detail["status"] >= 300]
    if failed:
        why = failed[-1].detail.get("problem") or f"HTTP {failed[-1].detail['status']}"
        return f"{came}, but {acting} failed: {why}"
    return f"{came}, and racker was still {acting}"


def _seconds(t: float) -> str:
    return f"{max(0.0, t):.1f} s" if t < 10 else f"{t:.0f} s"


BMC_RETRY_PAUSE = 1.0
"""Seconds before a BMC step that failed in a way that may pass is tried again."""
BMC_RETRY_MIN_LEFT = 5.0
"""Seconds of the stage that must be left to try a BMC step again."""


async def retry_bmc_step(step: Callable[[PlannedNode], Awaitable[None]], node: PlannedNode,
                         seconds: float) -> None:
    """`step` on the node's BMC within `seconds`, tried again while it fails in a way that may
    pass (a timeout: a lossy link, a busy BMC) and time is left. NOTE: the driver's own retries
    span seconds; a stage has minutes, and a node failed for one unlucky call cost a whole
    retry round (or the node, with -onfailure exclude)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            await asyncio.wait_for(step(node), max(0.0, deadline - loop.time()))
            return
        except BmcError as e:
            if not e.transient or deadline - loop.time() < BMC_RETRY_MIN_LEFT:
                raise
            log.info("%s: %s; trying again", node.name, e.message)
        await asyncio.sleep(BMC_RETRY_PAUSE)


class NodeStopped(Exception):
    """The installed system's console said it stopped for good (the line)."""


class NodeReportedFailure(RackerError):
    """The node told racker that a stage failed (the installer's `install-failed`)."""

    def __init__(self, stage: Stage, event: Event) -> None:
        journal = event.detail.get("journal")
        self.stage = stage
        self.lines = tuple(str(x) for x in journal) if isinstance(journal, list) else ()
        status = event.detail.get("exit_status")
        super().__init__(failure_reason(self.lines, status if isinstance(status, int) else None))


@dataclass
class Engine:
    """Runs the stages. `control` drives BMCs; the store is where node reports arrive."""

    control: Control
    store: Store
    flags: FlagFiles
    timeouts: Timeouts = field(default_factory=Timeouts)
    concurrency: int | None = None
    """At most this many nodes between power-on and first boot at once (None: all)."""
    on_change: Changed = lambda _state: None
    poll_interval: float = 0.2
    guids: dict[str, bytes] = field(default_factory=dict)
    """Each node's BMC system GUID (primary MAC → 16 bytes) as the BMC check read it."""
    watch: Watch = field(default_factory=NoWatch)
    """What records the nodes' consoles while they are installed."""
    console_lines: int = CONSOLE_LINES

    def _event(self, st: NodeStatus, kind: EventKind, **detail: str) -> None:
        self.store.add(st.node.mac, kind, stage=st.stage.value, detail=detail)

    def _enter(self, run: RunState, st: NodeStatus, stage: Stage) -> None:
        st.stage, st.state = stage, NodeState.RUNNING
        self._event(st, EventKind.STAGE)
        self.on_change(run)

    async def _on_bmc(self, step: Callable[[PlannedNode], Awaitable[None]], node: PlannedNode,
                      stage: Stage) -> None:
        """`step` on the node's BMC within `stage`'s timeout (`retry_bmc_step`)."""
        await retry_bmc_step(step, node, self.timeouts.of(stage))

    def _late_report(self, st: NodeStatus) -> str | None:
        """What came of the node's report for its stage, when it reported and the stage
        timed out all the same (`late_report`)."""
        events = self.store.events(st.node.mac)
        powered = max((i for i, e in enumerate(events)
                       if e.kind is EventKind.STAGE and e.stage == Stage.PXE.value), default=0)
        return late_report(st.stage, events[powered:], self.store.now())

    def _fail(self, run: RunState, st: NodeStatus, error: str) -> None:
        st.state, st.error = NodeState.FAILED, error
        if not run.bmc_check:
            st.console = tuple(self.watch.last_lines(st.node, self.console_lines))
            telling = telling_line(list(st.console))
            if telling is not None and st.stage is Stage.BOOT:
                # the installed system never reported: what it last showed says why
                st.error = error = f"{error}; its console: {telling}"
        self._event(st, EventKind.ERROR, error=error)
        self.on_change(run)

    async def check_bmcs(self, nodes: Sequence[PlannedNode], *, watch: bool = False
                         ) -> RunState:
        """Stage `bmc` for every node at once; the caller stops when any failed.

        With `watch` (an install follows), each node's console is watched from the moment its
        BMC answered, so that it is up by the node's power-on instead of being opened after
        the whole stage (48 consoles took 0.4 s to open, and each node's power-on waits for
        its console); a check that failed for any node, or was cancelled, stops watching."""
        run = RunState({n.mac: NodeStatus(n) for n in nodes}, bmc_check=True)

        async def one(st: NodeStatus) -> None:
            self._enter(run, st, Stage.BMC)
            try:
                found = await asyncio.wait_for(self.control.check_bmc(st.node),
                                               self.timeouts.of(Stage.BMC))
            except TimeoutError:
                self._fail(run, st, f"BMC {st.node.node.bmc_mac} did not answer within "
                                    f"{self.timeouts.of(Stage.BMC):.0f} s")
                return
            except RackerError as e:
                self._fail(run, st, e.message)
                return
            if watch and not self.flags.done(st.node.mac):  # an install follows for it
                self.watch.start([st.node])
            guid = await self._read_guid(st.node)
            st.state = NodeState.DONE
            self._event(st, EventKind.STAGE, result="ok", bmc=found,
                        **({"bmc_guid": guid.hex()} if guid else {}))
            self.on_change(run)

        try:
            await asyncio.gather(*(one(s) for s in run.nodes.values()))
        except BaseException:
            if watch:
                await self.watch.stop()
            raise
        if watch and run.failed:
            await self.watch.stop()
        return run

    async def _read_guid(self, node: PlannedNode) -> bytes | None:
        """The BMC's system GUID for the cabling check; a BMC that cannot tell is no failure."""
        try:
            guid = await asyncio.wait_for(self.control.system_guid(node),
                                          self.timeouts.of(Stage.BMC))
        except (TimeoutError, RackerError):
            return None
        if guid is not None:
            self.guids[node.mac] = guid
        return guid

    def _guid_of(self, node: PlannedNode) -> bytes | None:
        """The GUID read by this engine's BMC check, else by an earlier run's (the store)."""
        if node.mac in self.guids:
            return self.guids[node.mac]
        last = self.store.last_of(node.mac, (EventKind.STAGE,), stage=Stage.BMC.value)
        return recorded_guid(last.detail) if last is not None else None

    def _check_inventory(self, run: RunState, st: NodeStatus, reported: Event) -> None:
        """The cabling check on the node's inventory: warnings, each an event and shown."""
        data = reported.detail.get("hardware")
        if not isinstance(data, dict):
            return
        try:
            hw = hardware_from_json(data)
        except (KeyError, TypeError, ValueError):
            return
        others = {s.node.name: g for s in run.nodes.values()
                  if (g := self._guid_of(s.node)) is not None}
        for problem in check_hardware(st.node, hw, self._guid_of(st.node), others):
            st.warnings.append(str(problem))
            self.store.add(st.node.mac, EventKind.CABLING, stage=st.stage.value,
                           detail={"problem": str(problem)})
        self.on_change(run)

    async def install(self, nodes: Sequence[PlannedNode]) -> RunState:
        """Stages `pxe` … `boot` for every node not yet provisioned."""
        run = RunState({n.mac: NodeStatus(n) for n in nodes})
        for st in run.nodes.values():
            if self.flags.done(st.node.mac):
                st.stage, st.state = Stage.BOOT, NodeState.DONE
        self.on_change(run)
        watcher = EventWatcher(self.store, self.poll_interval)
        watcher.start()
        limit = asyncio.Semaphore(self.concurrency or max(1, len(nodes)))
        todo = [st for st in run.nodes.values() if st.state is not NodeState.DONE]
        self.watch.start([st.node for st in todo])
        try:
            await asyncio.gather(*(self._install_one(run, st, watcher, limit) for st in todo))
        finally:
            await watcher.stop()
            await self.watch.stop()
        return run

    def _guards(self, run: RunState, st: NodeStatus, watcher: EventWatcher
                ) -> list[asyncio.Future[Event]]:
        """What the cabling check watches while the node installs: its inventory report
        (checked when it comes) and, when it has a secondary MAC, a lease for that one (the
        install cannot go on: the stages wait on it too)."""
        inventory = watcher.expect(st.node.mac, _kind(EventKind.INVENTORY))
        inventory.add_done_callback(
            lambda f: None if f.cancelled() else self._check_inventory(run, st, f.result()))
        secondary = st.node.node.secondary_mac
        return [inventory, *([watcher.expect(secondary, _lease)] if secondary else [])]

    async def _install_one(self, run: RunState, st: NodeStatus, watcher: EventWatcher,
                           limit: asyncio.Semaphore) -> None:
        mac = st.node.mac
        expected: dict[Stage, asyncio.Future[Event]] = {}
        guards: list[asyncio.Future[Event]] = []
        # NOTE: a console line that says the node stopped for good (an emergency shell) fails
        # the stage at once, not at its timeout; watched from power-on, as a fast node stops
        # before the engine has seen its `installed` report
        stopped: list[asyncio.Future[str]] = []
        # the installer's own failure report ends the wait of any stage before the first boot
        failed = watcher.expect(mac, _kind(EventKind.INSTALL_FAILED))
        async with limit:
            try:
                self._enter(run, st, Stage.PXE)
                await self._on_bmc(self.control.prepare_pxe, st.node, Stage.PXE)
                await self.watch.ready(st.node)
                expected = {
                    Stage.DHCP: watcher.expect(mac, _lease),
                    Stage.IPXE: watcher.expect(mac, _ipxe),
                    Stage.INSTALL: watcher.expect(mac, _kind(EventKind.INSTALLED)),
                    Stage.BOOT: watcher.expect(mac, _kind(EventKind.BOOTED)),
                }
                guards = self._guards(run, st, watcher)
                stopped.append(self.watch.stopped(st.node))
                await self._on_bmc(self.control.power_on, st.node, Stage.PXE)
                stages = list(expected.items())
                for i, (stage, _) in enumerate(stages):
                    # NOTE: reports come from several sources (the lease hook runs serially in
                    # dnsmasq and may lag): a later stage's event proves the earlier ones
                    pending = [f for _, f in stages[i:]]
                    _raise_reported(failed, stage)
                    if any(f.done() for f in pending):
                        st.stage = stage
                        continue
                    self._enter(run, st, stage)
                    until: list[asyncio.Future[Any]] = [
                        *pending, *guards[1:], *stopped, *([] if stage is Stage.BOOT else [failed])]
                    done, _ = await asyncio.wait(until,
                                                 timeout=self.timeouts.of(stage),
                                                 return_when=asyncio.FIRST_COMPLETED)
                    _raise_reported(failed, stage)
                    if stopped[0] in done and not pending[-1].done():
                        if stage is not Stage.BOOT:
                            later, _ = await asyncio.wait(pending, timeout=REPORT_LAG,
                                                          return_when=asyncio.FIRST_COMPLETED)
                            if later:  # it was further on: its report came after its console
                                continue
                        raise NodeStopped(stopped[0].result())
                    if guards[1:] and guards[1] in done:  # booted from its secondary MAC
                        problem = str(pxe_from_secondary(st.node))
                        self.store.add(mac, EventKind.CABLING, stage=st.stage.value,
                                       detail={"problem": problem})
                        raise CablingError(problem)
                    if not done:
                        raise TimeoutError
                await stages[-1][1]
            except TimeoutError:
                error = f"timed out {WHAT[st.stage]} ({self.timeouts.of(st.stage):.0f} s)"
                why = self._late_report(st)
                self._fail(run, st, error if why is None else f"{error}: {why}")
                return
            except NodeStopped as e:
                self._fail(run, st, "the installed system stopped at its first boot"
                           if st.stage is Stage.BOOT else
                           f"the node stopped while {WHAT[st.stage]}: {e.args[0]}")
                return
            except NodeReportedFailure as e:
                # the installer reports from the install stage, whatever the engine last saw
                st.stage, st.report = e.stage, e.lines
                self._fail(run, st, e.message)
                return
            except RackerError as e:
                self._fail(run, st, e.message)
                return
            finally:
                for fut in (*expected.values(), *guards, failed):
                    fut.cancel()
                for line in stopped:
                    line.cancel()
            # NOTE: off the event loop: creating and syncing a file waits for the file system's
            # journal, which a busy management node commits slowly, and the loop also runs the
            # boot server the other nodes are booting from
            await asyncio.to_thread(self.flags.mark, st.node)
            st.state = NodeState.DONE
            self._event(st, EventKind.PROVISIONED)
            self.on_change(run)


def _raise_reported(failed: asyncio.Future[Event], stage: Stage) -> None:
    """NodeReportedFailure if the installer reported a failure before the node booted."""
    if failed.done() and not failed.cancelled() and stage is not Stage.BOOT:
        raise NodeReportedFailure(Stage.INSTALL, failed.result())
