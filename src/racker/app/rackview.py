"""Use case: the rack as the management listener shows it (REST API, dashboard, metrics).

The same data and shapes as the CLI: `racker status --json` (`status.gather`/`to_json`) for the
nodes, `racker node timeline --json` (`node_events`) for a timeline, `racker node show --json`
for a node's hardware, plus the runs. It keeps the
event log folded (`core.activity`) and feeds only new events in at each look, so a page of a
62-node rack never re-reads the log; BMC reachability and power come from what the runs
recorded (the listener does not poll BMCs behind the engine's back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racker.adapters.fs.rackmeta import load_inventory
from racker.adapters.fs.store import Store
from racker.adapters.metrics.rack import NodeFigures, RackFigures
from racker.app.hardware import cabling_problems, reported
from racker.app.node_events import events_json
from racker.app.status import Planned, RackStatus, gather, rack_plan, to_json
from racker.core.activity import Activity, run_json
from racker.core.events import Event, EventKind
from racker.core.macs import parse_mac
from racker.core.render import asset_dir
from racker.errors import InputError, NotFound, RackerError, Where
from racker.model import ClusterPlan, PlannedNode
from racker.paths import Paths

PLAN_TTL = 2.0
"""Seconds a read plan is reused before its files' modification times are checked again."""


@dataclass
class RackView:
    """The rack's nodes, timelines and runs for one listener (one event loop, one store)."""

    paths: Paths
    store: Store
    protocols: Callable[[], Mapping[str, str]] = dict
    """BMC MAC → the protocol racker last reached it over (`<state>/bmc-protocols.json`)."""
    activity: Activity = field(default_factory=Activity)
    _planned: Planned | None = None
    _plan_key: tuple[float, ...] = ()
    _plan_checked: float = 0.0

    def refresh(self) -> bool:
        """Fold in the events added since the last look; whether there were any (a run's start
        or end counts: it changes the run shown even when no node changed)."""
        self.planned()  # the BMC MACs' owners first: a BMC's lease is its node's event
        new = self.store.events(since_id=self.activity.last_id)
        self.activity.feed(new)
        return bool(new)

    def planned(self) -> Planned:
        """What was provisioned, every node's plan and the excluded ones, re-read when its files
        changed."""
        now = time.monotonic()
        if self._planned is not None and now - self._plan_checked < PLAN_TTL:
            return self._planned
        self._plan_checked = now
        key = tuple(_mtime(p) for p in self._plan_files())
        if self._planned is None or key != self._plan_key:
            self._planned, self._plan_key = rack_plan(self.paths), key
            plan = self._planned[1]
            self.activity.owner = {n.node.bmc_mac: n.mac for n in plan.nodes}
        return self._planned

    def forget_plan(self) -> None:
        """Re-read the plan at the next look (after an action changed the configuration)."""
        self._planned = None

    def _plan_files(self) -> list[Path]:
        folders = [self.paths.flatcar_dir, self.paths.lokomotive_dir]
        return [self.paths.nodes_csv, self.paths.hosts_file,
                *(f / "racker-options.yaml" for f in folders)]

    async def status(self) -> RackStatus:
        """Every node as `racker status` shows it, BMC facts from the recorded runs."""
        self.refresh()
        planned = self.planned()

        async def power(node: PlannedNode) -> str | None:
            a = self.activity.nodes.get(node.mac)
            if a is None or not a.bmc_reached:
                raise RackerError("racker has not reached this BMC yet (no run recorded it)")
            return "on" if a.powered_on or a.state == "provisioned" else None

        recorded = self.protocols()  # read once per look, not once per node
        return await gather(self.paths, power,
                            protocol=lambda n: recorded.get(n.node.bmc_mac.lower()),
                            activity=self.activity, planned=planned)

    async def nodes_json(self) -> dict[str, Any]:
        """`racker status --json`'s shape."""
        return to_json(await self.status())

    async def node_json(self, raw_mac: str) -> dict[str, Any]:
        """One node's row of `nodes_json` (any of its MACs); NotFound when there is none."""
        mac = self.primary(raw_mac)
        rows = (await self.nodes_json())["nodes"]
        row: dict[str, Any] = next(r for r in rows if r["mac"] == mac)
        return row

    def primary(self, raw_mac: str) -> str:
        """The primary MAC of the node named by any of its MACs (InputError, NotFound)."""
        mac = parse_mac(raw_mac)
        if mac is None:
            raise InputError(f"'{raw_mac}' is not a MAC address", where=Where(flag="mac"),
                             hint="use aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff")
        _label, plan, _excluded = self.planned()
        for n in plan.nodes:
            if mac in n.node.macs:
                return n.mac
        raise NotFound(f"no node with MAC {mac} in nodes.csv",
                       where=Where(file=str(self.paths.nodes_csv)),
                       hint="use a primary, BMC or secondary MAC of a node")

    def timeline(self, raw_mac: str) -> tuple[PlannedNode, list[Event]]:
        """The node and its events (primary and BMC MAC), oldest first."""
        mac = self.primary(raw_mac)
        node = next(n for n in self.planned()[1].nodes if n.mac == mac)
        events = sorted(self.store.events(mac) + self.store.events(node.node.bmc_mac),
                        key=lambda e: e.id)
        return node, events

    def timeline_json(self, raw_mac: str) -> list[dict[str, Any]]:
        """`racker node timeline --json`'s shape."""
        return events_json(self.timeline(raw_mac)[1])

    def hardware_json(self, raw_mac: str) -> dict[str, Any]:
        """The node's newest hardware inventory (`racker node show --json`'s) and what the
        cabling check finds in it."""
        mac = self.primary(raw_mac)
        nodes = self.planned()[1].nodes
        node = next(n for n in nodes if n.mac == mac)
        found = reported(self.store.last_of(mac, (EventKind.INVENTORY,)))
        mine = f"nodes.csv line {node.node.line} ({node.name}):"
        return {"mac": mac, "inventory": found.as_json() if found else None,
                "cabling": [p for p in cabling_problems(nodes, self.store)
                            if p.startswith(mine)]}

    def runs_json(self) -> list[dict[str, Any]]:
        """Every bootstrap/apply run, newest first, with its stages and per-node outcome."""
        self.refresh()
        names = {n.mac: n.name for n in self.planned()[1].nodes}
        return [run_json(r, names) for r in reversed(self.activity.runs)]

    def figures(self) -> RackFigures:
        """The numbers of the metrics page."""
        self.refresh()
        label, plan, excluded = self.planned()
        flags = _flag_dir(self.paths, plan)
        nodes: list[NodeFigures] = []
        states: dict[str, int] = {}
        for n in sorted(plan.nodes, key=lambda n: n.mac):
            a = self.activity.nodes.get(n.mac)
            provisioned = label != "no" and (flags / n.mac).is_file()
            state = "excluded" if n.mac in excluded else (
                "provisioned" if provisioned and (a is None or a.state in ("idle", "excluded"))
                else "idle" if a is None or a.state == "excluded" else a.state)
            states[state] = states.get(state, 0) + 1
            bmc_up = a.bmc_reached if a is not None and a.bmc_tried else None
            nodes.append(NodeFigures(n.mac, n.name, provisioned, bmc_up,
                                     a is not None and a.state == "failed"))
        runs: dict[tuple[str, str], int] = {}
        for r in self.activity.runs:
            if r.exit_code is not None:
                key = (r.command, r.outcome)
                runs[key] = runs.get(key, 0) + 1
        return RackFigures(nodes=nodes, states=states, stage_seconds=self.activity.stage_seconds,
                           requests=dict(self.activity.requests),
                           lease_events=self.activity.leases, runs=runs)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _flag_dir(paths: Paths, plan: ClusterPlan) -> Path:
    return asset_dir(paths, plan.options.provision)


OpenView = Callable[[], RackView]


def open_view(paths: Paths, open_store: Callable[[], Store],
              protocols: Callable[[], Mapping[str, str]] = dict) -> RackView:
    """A view over the rack's store and its record of BMC protocols; the inventory is checked
    first (InputError on a bad one)."""
    load_inventory(paths)
    return RackView(paths, open_store(), protocols)
