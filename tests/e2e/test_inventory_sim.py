"""Hardware inventory and the cabling check on a simulated rack: lite nodes post their
hardware while racker installs them, their BMCs answer their SMBIOS UUID, and a server whose
NIC cables are swapped (`racker-sim create --miscabled`) is named by its nodes.csv row."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from racker.sim.nodes.hardware import smbios_uuid
from tests.e2e.simrack import sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def test_inventory_stored_and_a_miscabled_row_named(tmp_path: Path) -> None:
    create = ("--types", "worker,storage,controller", "--miscabled", "node2")
    with sim_rack(tmp_path, 3, create=create) as rack:
        servers = rack.nodes()
        bad = servers[1]
        csv_lines = (rack.root / "oem" / "nodes.csv").read_text().splitlines()
        line = next(i for i, x in enumerate(csv_lines, 1) if x.startswith(bad["primary_mac"]))
        secondary = csv_lines[line - 1].split(",")[2].strip()
        started = time.monotonic()
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "exclude")
        took = time.monotonic() - started
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "Traceback" not in out
        # the row, what nodes.csv says and what the hardware did
        assert (f"nodes.csv line {line} (node-1): the server PXE boots from {secondary}, which "
                f"nodes.csv gives as its secondary MAC, not from its primary MAC "
                f"{bad['primary_mac']}") in out
        assert "Cabling check:" not in out  # the others' BMC GUIDs match their UUIDs
        cabling = [e for e in rack.events(bad["primary_mac"]) if e.kind is EventKind.CABLING]
        assert cabling and "swapped" in cabling[0].detail["problem"]
        for s, memory, disks in ((servers[0], 192 << 30, 2), (servers[2], 64 << 30, 1)):
            show = rack.racker("node", "show", s["primary_mac"], "--json")
            assert show.returncode == 0, show.stdout + show.stderr
            inv = json.loads(show.stdout)["inventory"]
            assert inv["uuid"] == smbios_uuid(s["primary_mac"])
            assert (inv["memory_bytes"], len(inv["disks"])) == (memory, disks)
            assert inv["nics"][0]["mac"] == s["primary_mac"] and inv["nics"][0]["link"]
            kinds = [e.kind for e in rack.events(s["primary_mac"])]
            assert kinds.index(EventKind.INVENTORY) < kinds.index(EventKind.INSTALLED)
            bmc_ok = [e for e in rack.events(s["primary_mac"]) if e.kind is EventKind.STAGE
                      and e.stage == "bmc" and e.detail.get("result") == "ok"]
            assert bmc_ok[-1].detail["bmc_guid"]  # read from the virtual BMC
        text = rack.racker("node", "show", servers[0]["primary_mac"])
        assert "PowerEdge R640" in text.stdout and "sdb" in text.stdout, text.stdout
        full = rack.racker("status", "--full")
        assert "Hardware inventory" in full.stdout
        assert f"{servers[2]['primary_mac']}  Dell Inc. PowerEdge R440, 10 cores, 64.0 GiB" \
            in full.stdout
        assert f"{bad['primary_mac']}  - (not reported yet)" in full.stdout
        assert "Cabling check: no problem found" in full.stdout  # every BMC is its server's
        as_json = json.loads(rack.racker("status", "--full", "--json").stdout)
        assert as_json["cabling"] == []
        by_mac = {n["mac"]: n for n in as_json["nodes"]}
        assert by_mac[servers[0]["primary_mac"]]["inventory"]["memory_bytes"] == 192 << 30
        print(f"RESULT bootstrap with a miscabled node: {took:.1f} s")


def test_swapped_bmc_macs_are_named_with_the_row_whose_bmc_it_is(tmp_path: Path) -> None:
    """nodes.csv gives two rows each other's BMC MAC: every server still installs (each row's
    BMC powers the other row's server), and the cabling check names both rows, what the BMC
    answers and what the server reports."""
    with sim_rack(tmp_path, 3) as rack:
        csv = rack.root / "oem" / "nodes.csv"
        lines = csv.read_text().splitlines()
        a, b = (line.split(", ") for line in lines[2:4])
        a[1], b[1] = b[1], a[1]
        lines[2:4] = [", ".join(a), ", ".join(b)]
        csv.write_text("\n".join(lines) + "\n")
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "➤ OS installation via PXE (3/3)... ✓ done" in out
        assert "Cabling check: 2 problems" in out
        for row, (primary, bmc) in ((3, (a[0], a[1])), (4, (b[0], b[1]))):
            line = next(x for x in out.splitlines() if f"nodes.csv line {row} " in x)
            assert f"the BMC {bmc} answers system GUID" in line
            assert f"SMBIOS UUID {smbios_uuid(primary)}" in line
            assert "this server's UUID is the system GUID of the BMC of node-" in line
