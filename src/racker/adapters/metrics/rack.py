"""Racker's metrics, defined once, computed from `RackFigures` at each scrape.

Conventions (prometheus.io/docs/practices/naming): the `racker_` prefix, base units in names
(`_seconds`), `_total` on counters, and labels from bounded sets only: node MACs and names come
from nodes.csv (a rack's size), endpoints from the boot protocol's fixed list, statuses from
HTTP's. The rack itself is named by the scraping Prometheus (a target label), not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

STAGE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
"""Seconds: a stage takes from a second (a BMC on the simulator) to half an hour (an install)."""


@dataclass(frozen=True)
class NodeFigures:
    mac: str
    name: str
    provisioned: bool
    bmc_up: bool | None
    """None before any run tried the BMC: no sample, rather than a false alarm."""
    failed: bool


@dataclass(frozen=True)
class RackFigures:
    """What the metrics show, as plain data (computed by the use case, rendered here)."""

    nodes: Sequence[NodeFigures] = ()
    states: Mapping[str, int] = field(default_factory=dict)
    """Node state (`idle`, `running`, `failed`, `provisioned`, `excluded`) → nodes in it."""
    stage_seconds: Mapping[str, Sequence[float]] = field(default_factory=dict)
    requests: Mapping[tuple[str, int], int] = field(default_factory=dict)
    """(boot server endpoint, HTTP status) → requests since the event log began."""
    lease_events: int = 0
    runs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(command, outcome) → runs; outcome `succeeded` or `failed`."""


class RackCollector(Collector):
    """A collector that asks `figures` for fresh numbers at every scrape."""

    def __init__(self, figures: Callable[[], RackFigures]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self._figures()
        states = GaugeMetricFamily("racker_nodes", "Nodes of the rack by provisioning state",
                                   labels=["state"])
        for state in ("idle", "running", "failed", "provisioned", "excluded"):
            states.add_metric([state], f.states.get(state, 0))
        yield states
        provisioned = GaugeMetricFamily("racker_node_provisioned",
                                        "1 when the node's OS is provisioned (its flag file "
                                        "exists)", labels=["mac", "name"])
        bmc_up = GaugeMetricFamily("racker_node_bmc_up",
                                   "1 when racker's last contact with the node's BMC worked, 0 "
                                   "when it failed (no sample before a run tried it)",
                                   labels=["mac", "name"])
        failed = GaugeMetricFamily("racker_node_failed",
                                   "1 when the node failed its last provisioning stage",
                                   labels=["mac", "name"])
        for n in f.nodes:
            provisioned.add_metric([n.mac, n.name], float(n.provisioned))
            failed.add_metric([n.mac, n.name], float(n.failed))
            if n.bmc_up is not None:
                bmc_up.add_metric([n.mac, n.name], float(n.bmc_up))
        yield provisioned
        yield bmc_up
        yield failed
        yield _stages(f.stage_seconds)
        requests = CounterMetricFamily("racker_boot_requests",
                                       "Requests to the boot server by endpoint and HTTP status",
                                       labels=["endpoint", "status"])
        for (endpoint, status), count in sorted(f.requests.items()):
            requests.add_metric([endpoint, str(status)], count)
        yield requests
        yield CounterMetricFamily("racker_dhcp_lease_events",
                                  "DHCP lease events (add, old, del) reported by dnsmasq",
                                  value=f.lease_events)
        runs = CounterMetricFamily("racker_runs", "Bootstrap and apply runs by outcome",
                                   labels=["command", "outcome"])
        failures = CounterMetricFamily("racker_run_failures", "Runs that ended with an error",
                                       labels=["command"])
        for (command, outcome), count in sorted(f.runs.items()):
            runs.add_metric([command, outcome], count)
        for command in sorted({c for c, _o in f.runs}):
            failures.add_metric([command], f.runs.get((command, "failed"), 0))
        yield runs
        yield failures


def _stages(seconds: Mapping[str, Sequence[float]]) -> HistogramMetricFamily:
    h = HistogramMetricFamily("racker_stage_duration_seconds",
                              "How long nodes took in each provisioning stage",
                              labels=["stage"])
    for stage in ("bmc", "pxe", "dhcp", "ipxe", "install", "boot"):
        values = seconds.get(stage, ())
        buckets = [(_le(b), float(sum(v <= b for v in values))) for b in STAGE_BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        h.add_metric([stage], buckets, sum_value=float(sum(values)))
    return h


def _le(bound: float) -> str:
    return str(bound)
