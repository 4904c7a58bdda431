"""`racker status` that explains, on a simulated rack: excluded nodes, BMCs without a DHCP
server, and `--json --full` with every node's diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from racker.app.status import NO_DHCP
from tests.e2e.simrack import sim_rack
from tests.e2e.test_serve_sim import BOOTSTRAP, serving

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def test_status_explains_excluded_nodes_missing_dhcp_and_full_json(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        kept, left = rack.nodes()
        name = (rack.folder / "assets" / left["primary_mac"]).read_text().strip()
        # racker's name for the node works in racker (a name where a MAC is expected) ...
        r = rack.racker("node", "exclude", name, "-C", str(rack.folder))
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"Excluded {left['primary_mac']} ({name})" in r.stdout
        # ... and in racker-sim, beside the simulator's own node1, node2
        f = rack.sim("fault", name, "bmc-down", "--name", rack.name)
        assert f"set bmc-down on {left['node']}" in f.stdout, f.stdout
        # racker-sim status shows racker's names beside its own
        listed = {s["node"]: s["racker_name"] for s in rack.nodes()}
        assert listed[left["node"]] == name and listed[kept["node"]].startswith("node-")
        assert name in rack.sim("status", "--name", rack.name).stdout
        console = rack.sim("console", name, "--name", rack.name)
        assert console.stdout == rack.sim("console", left["node"], "--name", rack.name).stdout
        st = rack.racker("status")
        assert st.returncode == 0, st.stdout + st.stderr
        row = next(line for line in st.stdout.splitlines()
                   if line.startswith(left["primary_mac"]))
        assert "excluded" in row and "×" not in row.split("excluded")[0].split()[-1:]
        assert NO_DHCP in st.stdout  # its BMC is gone and no racker serves DHCP
        full = rack.racker("status", "--json", "--full", extra={"RETRY_SEC": "2"})
        data = json.loads(full.stdout)
        assert full.returncode == 1  # one diagnosis failed
        by_mac = {n["mac"]: n for n in data["nodes"]}
        good = by_mac[kept["primary_mac"]]
        assert good["diagnosis"]["ok"], good
        assert f"BMC MAC address: {good['bmc_mac']}\n" in good["diagnosis"]["text"]
        assert "Boot Device Selector" in good["diagnosis"]["text"]  # ipmitool's boot flags
        assert not by_mac[left["primary_mac"]]["diagnosis"]["ok"]
        assert by_mac[left["primary_mac"]]["excluded"] and data["dhcp_served"] is False
        with serving(rack):
            st = rack.racker("status")
            assert NO_DHCP not in st.stdout, st.stdout
            assert json.loads(rack.racker("status", "--json").stdout)["dhcp_served"] is True
