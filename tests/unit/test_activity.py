"""core/activity.py: the event log folded into each node's and each run's state."""

from __future__ import annotations

from typing import Any

import pytest

from racker.core.activity import Activity, endpoint, run_json
from racker.core.events import Event, EventKind

NODE, BMC = "02:00:00:00:00:01", "02:00:00:00:01:01"


def log(*rows: tuple[str, EventKind, str | None, dict[str, Any]]) -> list[Event]:
    return [Event(i + 1, 100.0 + i * 10, mac, kind, stage, detail)
            for i, (mac, kind, stage, detail) in enumerate(rows)]


def test_a_run_folds_into_stage_state_and_durations() -> None:
    a = Activity(owner={BMC: NODE})
    changed = a.feed(log(
        ("", EventKind.RUN, None, {"phase": "start", "command": "bootstrap"}),
        (BMC, EventKind.LEASE, None, {"action": "add", "ip": "10.0.0.9"}),
        (NODE, EventKind.STAGE, "bmc", {}),
        (NODE, EventKind.STAGE, "bmc", {"result": "ok", "bmc": "10.0.0.9"}),
        (NODE, EventKind.STAGE, "pxe", {}),
        (NODE, EventKind.STAGE, "pxe", {"result": "ok"}),
        (NODE, EventKind.REQUEST, None, {"path": "/assets/flatcar/x", "status": 200}),
        (NODE, EventKind.PROVISIONED, None, {}),
        ("", EventKind.RUN, None, {"phase": "end", "run": 1, "command": "bootstrap",
                                   "exit_code": 0}),
    ))
    node = a.nodes[NODE]
    assert set(changed) == {NODE} and BMC not in a.nodes
    assert (node.stage, node.state, node.bmc_reached, node.bmc_address, node.powered_on) == (
        "pxe", "provisioned", True, "10.0.0.9", True)
    assert a.stage_seconds == {"bmc": [10.0], "pxe": [10.0]}
    assert a.requests == {("/assets", 200): 1} and a.leases == 1
    run = run_json(a.runs[0], {NODE: "node-0"})
    assert (run["outcome"], run["exit_code"]) == ("succeeded", 0)
    assert run["nodes"] == [{"mac": NODE, "name": "node-0", "stage": "pxe",
                             "outcome": "provisioned", "failure": None}]
    assert run["stages"][0] == {"stage": "bmc", "done": 1, "failed": 0, "running": 0}
    assert all(s["done"] == 1 for s in run["stages"])  # provisioned: every stage is done


def test_a_failure_is_kept_until_the_stage_starts_again() -> None:
    a = Activity()
    a.feed(log((NODE, EventKind.STAGE, "dhcp", {}),
               (NODE, EventKind.ERROR, "dhcp", {"error": "no DHCP request"})))
    assert (a.nodes[NODE].state, a.nodes[NODE].failure) == ("failed", "no DHCP request")
    a.feed([Event(3, 200.0, NODE, EventKind.STAGE, "dhcp", {})])
    assert (a.nodes[NODE].state, a.nodes[NODE].failure) == ("running", None)
    a.feed([Event(3, 200.0, NODE, EventKind.EXCLUDED, None, {})])  # an old id: ignored
    assert a.nodes[NODE].state == "running"


@pytest.mark.parametrize(("path", "family"), [
    ("/boot.ipxe", "/boot.ipxe"), ("/ipxe", "/ipxe"), ("/assets/a/b.cpio.gz", "/assets"),
    ("/racker/v1/nodes/aa/events", "/racker/v1/events"), ("/racker/v1/nodes", "/racker/v1/nodes"),
    ("/anything/else?x=1", "other"), ("", "other"),
])
def test_endpoint_labels_are_a_bounded_set(path: str, family: str) -> None:
    assert endpoint(path) == family


def test_the_engines_stage_entries_end_the_previous_stage() -> None:
    # what engine/run.py records: entries only (and `bmc` ok); a later stage may be skipped
    a = Activity()
    a.feed(log(
        (NODE, EventKind.STAGE, "bmc", {}),
        (NODE, EventKind.STAGE, "bmc", {"result": "ok", "bmc": "10.0.0.9"}),
        (NODE, EventKind.STAGE, "pxe", {}),
        (NODE, EventKind.STAGE, "dhcp", {}),
        (NODE, EventKind.STAGE, "install", {}),  # ipxe proven by the installer's report
        (NODE, EventKind.STAGE, "boot", {}),
        (NODE, EventKind.PROVISIONED, "boot", {}),
    ))
    assert {s: len(v) for s, v in a.stage_seconds.items()} == {
        "bmc": 1, "pxe": 1, "dhcp": 1, "install": 1, "boot": 1}
    node = a.nodes[NODE]
    assert node.powered_on and node.bmc_reached and node.state == "provisioned"
