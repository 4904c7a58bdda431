"""What each node and each run is doing, folded from the event log (pure: events in, state out).

The management listener (API, dashboard, metrics) feeds new events into one `Activity` as they
arrive, so a page or a scrape never re-reads the whole log. `racker status --json` folds the log
once the same way, so both show the same stage, failure and last event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from racker.core.events import Event, EventKind
from racker.core.timeline import describe

STAGES = ("bmc", "pxe", "dhcp", "ipxe", "install", "boot")
"""The engine's stages in order (the names progress, status and the event log use)."""


@dataclass
class NodeActivity:
    """One node as its events tell it."""

    stage: str | None = None
    """The stage the engine last entered for it, or None before any run."""
    state: str = "idle"
    """`idle`, `running` (in `stage`), `failed` (in `stage`), `provisioned` or `excluded`."""
    failure: str | None = None
    bmc_reached: bool = False
    bmc_tried: bool = False
    """A run tried the BMC (reached or not); before that its state is unknown."""
    bmc_address: str | None = None
    powered_on: bool = False
    """Racker powered it on (stage `pxe` done) and has not seen it fail since."""
    last_event: str | None = None
    last_event_at: float | None = None
    stage_started: dict[str, float] = field(default_factory=dict)


@dataclass
class RunRecord:
    """One bootstrap, apply or reprovision: when, by which command, and what each node did."""

    id: int
    command: str
    started_at: float
    finished_at: float | None = None
    exit_code: int | None = None
    nodes: dict[str, NodeActivity] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """`running`, `succeeded` or `failed`."""
        if self.exit_code is None:
            return "running"
        return "succeeded" if self.exit_code == 0 else "failed"


@dataclass
class Activity:
    """Every node's activity, every run, and the figures metrics need; fed in event order."""

    owner: Mapping[str, str] = field(default_factory=dict)
    """BMC MAC → primary MAC, so a BMC's lease counts as its node's last event."""
    nodes: dict[str, NodeActivity] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)
    last_id: int = 0
    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    """(endpoint, status) → boot server requests."""
    leases: int = 0
    stage_seconds: dict[str, list[float]] = field(default_factory=dict)
    """Stage → the durations of its successful passes."""

    def node(self, mac: str) -> NodeActivity:
        """The activity of node `mac` (a fresh one if it has none yet)."""
        return self.nodes.setdefault(mac, NodeActivity())

    def feed(self, events: Iterable[Event]) -> list[str]:
        """Fold new events in (in id order); returns the primary MACs whose activity changed."""
        changed: list[str] = []
        for e in events:
            if e.id <= self.last_id:
                continue
            self.last_id = e.id
            mac = self.owner.get(e.mac, e.mac)
            if e.kind is EventKind.RUN:
                self._run(e)
                continue
            if e.kind is EventKind.REQUEST:
                key = (endpoint(str(e.detail.get("path", ""))), _int(e.detail.get("status")))
                self.requests[key] = self.requests.get(key, 0) + 1
            elif e.kind is EventKind.LEASE:
                self.leases += 1
            if not mac:
                continue
            for i, a in enumerate(self._targets(mac)):
                self._apply(a, e, timed=i == 0)
            changed.append(mac)
        return changed

    def _targets(self, mac: str) -> list[NodeActivity]:
        out = [self.node(mac)]
        if self.runs and self.runs[-1].exit_code is None:
            out.append(self.runs[-1].nodes.setdefault(mac, NodeActivity()))
        return out

    def _run(self, e: Event) -> None:
        if e.detail.get("phase") == "start":
            self.runs.append(RunRecord(e.id, str(e.detail.get("command", "")), e.ts))
            return
        for run in reversed(self.runs):
            if run.id == _int(e.detail.get("run")):
                run.finished_at, run.exit_code = e.ts, _int(e.detail.get("exit_code"))
                for mac, a in run.nodes.items():  # the run ended: nothing is at work any more
                    for stopped in (a, self.nodes.get(mac)):
                        if stopped is not None and stopped.state == "running":
                            stopped.state = "idle"

    def _apply(self, a: NodeActivity, e: Event, *, timed: bool) -> None:
        # the first line: an installer's failure report lists its journal below it
        a.last_event, a.last_event_at = describe(e).split("\n", 1)[0], e.ts
        if e.kind is EventKind.STAGE and e.stage:
            if e.detail.get("result") == "ok":
                self._stage_done(a, e.stage, e, timed)
            else:
                # NOTE: the engine records when a node enters a stage; entering the next one
                # (or being provisioned) is what ends the previous one
                self._close(a, e, timed)
                a.stage, a.state, a.failure = e.stage, "running", None
                a.stage_started[e.stage] = e.ts
        elif e.kind is EventKind.ERROR:
            a.stage, a.state = e.stage or a.stage, "failed"
            a.failure = str(e.detail.get("error", "")) or "failed"
            if e.stage == "bmc":
                a.bmc_reached, a.bmc_tried = False, True
            a.powered_on = a.powered_on and e.stage not in ("bmc", "pxe")
        elif e.kind is EventKind.PROVISIONED:
            self._close(a, e, timed)
            a.state, a.failure = "provisioned", None
        elif e.kind is EventKind.EXCLUDED:
            a.state = "excluded"

    def _close(self, a: NodeActivity, e: Event, timed: bool) -> None:
        """The running stage of `a` ended well at `e` (the next one began, or it is done)."""
        if a.state == "running" and a.stage is not None and a.stage in a.stage_started:
            self._stage_done(a, a.stage, e, timed)

    def _stage_done(self, a: NodeActivity, stage: str, e: Event, timed: bool) -> None:
        if stage == "bmc":
            a.bmc_reached = a.bmc_tried = True
            a.bmc_address = str(e.detail.get("bmc") or "") or a.bmc_address
        if stage == "pxe":
            a.powered_on = True
        started = a.stage_started.pop(stage, None)
        if started is not None and timed:
            self.stage_seconds.setdefault(stage, []).append(max(0.0, e.ts - started))


def endpoint(path: str) -> str:
    """The boot server endpoint family of a request path (a bounded set, for metric labels)."""
    if path.startswith("/assets/"):
        return "/assets"
    if path.startswith("/racker/v1/"):
        return "/racker/v1/nodes" if path == "/racker/v1/nodes" else "/racker/v1/events"
    if path in ("/boot.ipxe", "/ipxe", "/ignition", "/metadata"):
        return path
    return "other"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def run_json(run: RunRecord, names: Mapping[str, str]) -> dict[str, Any]:
    """A run as the API's `runs` return it (pure): its stages' progress and every node's outcome."""
    stages = {s: {"done": 0, "failed": 0, "running": 0} for s in STAGES}
    for a in run.nodes.values():
        if a.state == "provisioned":  # every stage done (the engine may skip proven ones)
            for s in STAGES:
                stages[s]["done"] += 1
        elif a.stage in stages:
            reached = STAGES.index(a.stage)
            for s in STAGES[:reached]:
                stages[s]["done"] += 1
            stages[a.stage]["failed" if a.state == "failed" else "running"] += 1
    return {
        "id": run.id, "command": run.command, "started_at": run.started_at,
        "finished_at": run.finished_at, "exit_code": run.exit_code, "outcome": run.outcome,
        "stages": [{"stage": s, **c} for s, c in stages.items()],
        "nodes": [{"mac": mac, "name": names.get(mac, ""), "stage": a.stage,
                   "outcome": a.state, "failure": a.failure}
                  for mac, a in sorted(run.nodes.items())],
    }
