from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from racker.app.configuration.create import configure
from racker.app.status import RackStatus, Row, gather, hostnames_by_ip, render_table, to_json
from racker.errors import BmcError
from racker.model import Options, PlannedNode, Provision
from racker.paths import Paths
from tests.rackfixtures import write_rack


def test_table_layout_and_marks() -> None:
    status = RackStatus("Flatcar", None, (
        Row("02:00:00:00:00:01", "02:00:00:00:01:01", "node-0", True, "on", True, None,
            ("node-0",), protocol="redfish"),
        Row("02:00:00:00:00:02", "02:00:00:00:01:02", "node-1", False, None, False, None, (),
            "BMC 02:00:00:00:01:02 was not found"),
    ))
    lines = render_table(status)
    assert lines[0] == "Provisioned: Flatcar"
    assert lines[2].split("  ")[0] == "MAC address"
    assert lines[2].endswith("Hostnames")
    assert lines[2].split()[4] == "Protocol"
    assert lines[3].split() == ["02:00:00:00:00:01", "✓", "Redfish", "on", "✓", "○", "node-0"]
    assert lines[4].split() == ["02:00:00:00:00:02", "×", "?", "?", "×", "○"]
    assert "02:00:00:00:00:02: BMC 02:00:00:00:01:02 was not found" in lines
    assert any("racker node timeline" in line for line in lines)


def test_lokomotive_header() -> None:
    lines = render_table(RackStatus("Lokomotive", False, ()))
    assert lines[:2] == ["Provisioned: Lokomotive", "Kubernetes API reached: no"]


def test_hostnames_by_ip() -> None:
    assert hostnames_by_ip(["10.0.0.2 a b # managed by racker", "10.0.0.2 c", "bad"]) == {
        "10.0.0.2": ("a", "b", "c")}


def test_gather_reads_flags_hosts_and_bmcs(tmp_path: Path) -> None:
    paths = Paths.from_env(write_rack(tmp_path, 3))
    result = configure(paths, Options(provision=Provision.FLATCAR), render_only=True)
    first, second, third = sorted(result.plan.nodes, key=lambda n: n.mac)
    flags = result.folder / "assets"
    flags.mkdir(exist_ok=True)
    (flags / first.mac).write_text(first.name + "\n")

    async def power(n: PlannedNode) -> str:
        if n.mac == third.mac:
            raise BmcError(f"BMC {n.node.bmc_mac} of {n.name} is unreachable")
        await asyncio.sleep(0.01)
        return "on" if n.mac == first.mac else "off"

    def protocol(n: PlannedNode) -> str | None:
        return None if n.mac == third.mac else "redfish" if n.mac == first.mac else "ipmi"

    status = asyncio.run(gather(paths, power, protocol=protocol))
    assert status.provisioned_as == "Flatcar"
    rows = {r.mac: r for r in status.rows}
    assert rows[first.mac].provisioned and rows[first.mac].power == "on"
    assert not rows[second.mac].provisioned and rows[second.mac].power == "off"
    assert not rows[third.mac].bmc_reached and "unreachable" in (rows[third.mac].bmc_error or "")
    assert rows[first.mac].hostnames == (first.name,)
    data = json.loads(json.dumps(to_json(status)))
    assert data["provisioned_nodes"] == 1 and data["total_nodes"] == 3
    protocols = {n["mac"]: n["protocol"] for n in data["nodes"]}
    assert protocols == {first.mac: "redfish", second.mac: "ipmi", third.mac: None}


def test_gather_without_configuration(tmp_path: Path) -> None:
    paths = Paths.from_env(write_rack(tmp_path, 2))

    async def power(n: PlannedNode) -> str:
        return "off"

    status = asyncio.run(gather(paths, power))
    assert status.provisioned_as == "no"
    assert [r.provisioned for r in status.rows] == [False, False]


def test_the_configuration_decides_excluded_the_event_log_the_rest(tmp_path: Path) -> None:
    """A node left out of the configuration is `excluded` whatever its events say; one added back
    ('racker node include' records no event) is no longer excluded though its last event was an
    exclusion; stage and failure come from the event log."""
    from racker.core.activity import Activity
    from racker.core.events import Event, EventKind

    paths = Paths.from_env(write_rack(tmp_path, 3))
    everyone = configure(paths, Options(provision=Provision.FLATCAR), render_only=True)
    first, second, third = sorted(everyone.plan.nodes, key=lambda n: n.mac)
    shutil.rmtree(everyone.folder)
    configure(paths, Options(provision=Provision.FLATCAR, exclude=(third.mac,)),
              render_only=True)
    activity = Activity()
    activity.feed([
        Event(1, 10.0, first.mac, EventKind.EXCLUDED, None, {}),  # then included again
        Event(2, 11.0, second.mac, EventKind.STAGE, "dhcp", {}),
        Event(3, 12.0, second.mac, EventKind.ERROR, "dhcp", {"error": "no DHCP request"}),
        Event(4, 13.0, third.mac, EventKind.STAGE, "pxe", {}),
    ])

    async def power(n: PlannedNode) -> str:
        return "off"

    rows = {r.mac: r for r in asyncio.run(gather(paths, power, activity=activity)).rows}
    assert (rows[first.mac].state, rows[first.mac].excluded) == ("idle", False)
    assert (rows[second.mac].state, rows[second.mac].stage, rows[second.mac].failure) == (
        "failed", "dhcp", "no DHCP request")
    assert (rows[third.mac].state, rows[third.mac].excluded) == ("excluded", True)
    lines = render_table(asyncio.run(gather(paths, power, activity=activity)))
    assert any(line.startswith(third.mac) and "excluded" in line for line in lines)
