"""`racker factory discover` on a simulated rack made without nodes.csv
(`racker-sim create --generate N --no-inventory`): the written nodes.csv equals the rack's own
as a set of rows (the MAC columns; node types are named after the hardware profile), and
`racker bootstrap` provisions every node from it."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from racker.sim.nodes.qemu import DISK_SIZE, MEMORY_MB
from tests.conftest import require_root, require_tool
from tests.e2e.simrack import SimRack, sim_rack
from tests.e2e.test_qemu_bootstrap import QemuSimRack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def mac_rows(text: str) -> set[tuple[str, str, str]]:
    """The (primary, BMC, secondary) MACs of every row of a nodes.csv text."""
    rows = set()
    for line in text.splitlines()[1:]:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) >= 3:
            rows.add((fields[0], fields[1], fields[2]))
    return rows


def discover(rack: SimRack, *args: str,
             extra: dict[str, str] | None = None) -> tuple[str, float]:
    own = (rack.root / "sim-nodes.csv").read_text()
    mgmt_bmc = own.splitlines()[1].split(",")[1].strip()
    started = time.monotonic()
    r = rack.racker("factory", "discover", "-interface", "eth1", "-management-bmc", mgmt_bmc,
                    *args, extra=extra, timeout=600)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    return r.stdout, took


@pytest.mark.timeout(1200)
def test_discover_twelve_nodes_then_bootstrap(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 12, create=("--no-inventory",)) as rack:
        csv = rack.root / "oem" / "nodes.csv"
        assert not csv.exists()
        out, took = discover(rack)
        own = (rack.root / "sim-nodes.csv").read_text()
        assert mac_rows(csv.read_text()) == mac_rows(own)
        assert "the management node and 12 servers" in out and "Not paired" not in out
        print(f"RESULT discover 12 nodes: {took:.1f} s")
        # never over an existing nodes.csv without -force
        again = rack.racker("factory", "discover", "-interface", "eth1")
        assert again.returncode == 2 and "-force" in again.stderr, again.stdout + again.stderr
        check = rack.racker("factory", "check")
        assert check.returncode == 0, check.stdout + check.stderr
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "➤ OS installation via PXE (12/12)... ✓ done" in r.stdout
        assert "Cabling check:" not in r.stdout
        primaries = {row[0] for row in mac_rows(own)} - {own.splitlines()[1].split(",")[0]}
        assert {e.mac for e in rack.events() if e.kind is EventKind.BOOTED} == primaries


def test_discover_lists_what_it_could_not_pair_with_the_reason(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3, create=("--no-inventory",)) as rack:
        servers = rack.nodes()
        rack.sim("fault", servers[0]["node"], "bmc-bad-credentials", "--name", rack.name)
        rack.sim("fault", servers[1]["node"], "no-pxe", "--name", rack.name)
        out, _ = discover(rack)
        csv = (rack.root / "oem" / "nodes.csv").read_text()
        mgmt_primary = (rack.root / "sim-nodes.csv").read_text().splitlines()[1].split(",")[0]
        assert {row[0] for row in mac_rows(csv)} == {mgmt_primary, servers[2]["primary_mac"]}
        assert "Not paired (2):" in out
        assert f"× BMC {servers[0]['bmc_mac']} (" in out
        assert "refused the credentials of ipmi_user and ipmi_password" in out
        assert f"× BMC {servers[1]['bmc_mac']}" in out
        assert "its server never reported" in out


@pytest.mark.qemu
@pytest.mark.timeout(900)
def test_discover_qemu_nodes_reports_what_each_vm_has(tmp_path: Path) -> None:
    """QEMU nodes boot the discovery configuration for real (their test OS reads /sys and
    /proc), report, and power their VM off."""
    require_root()
    for tool in ("qemu-system-x86_64", "dnsmasq", "gpg"):
        require_tool(tool)
    name = "q" + secrets.token_hex(3)
    rack = QemuSimRack(name, tmp_path / "sim")
    (tmp_path / "disks").mkdir()
    rack.sim("create", "--generate", "2", "--nodes", "qemu", "--name", name, "--no-inventory",
             "--disk-dir", str(tmp_path / "disks"), timeout=300)
    try:
        _, took = discover(rack, extra={"RACKER_TIMEOUT_SCALE": "0.3"})
        own = (rack.root / "sim-nodes.csv").read_text()
        found = mac_rows((rack.root / "oem" / "nodes.csv").read_text())
        # a VM has one NIC: no secondary MAC is proposed for it (the management row keeps its)
        assert {r[:2] for r in found} == {r[:2] for r in mac_rows(own)}
        assert sorted(r[2] for r in found)[:2] == ["", ""]
        print(f"RESULT discover 2 QEMU nodes: {took:.1f} s")
        for s in rack.nodes():
            (inv,) = [e for e in rack.events(s["primary_mac"])
                      if e.kind is EventKind.INVENTORY]
            hw = inv.detail["hardware"]
            assert hw["memory_bytes"] == MEMORY_MB << 20
            assert [(d["name"], d["size_bytes"]) for d in hw["disks"]] == [("vda", DISK_SIZE)]
            assert [n["mac"] for n in hw["nics"]] == [s["primary_mac"]]
            assert s["power"] == "off"  # the discovery image powered the VM off
    finally:
        rack.sim("destroy", name, check=False)


def test_discover_a_mixed_rack_of_ipmi_and_redfish_bmcs(tmp_path: Path) -> None:
    """Redfish-only BMCs are found too: opened over the protocol each speaks (detected and
    recorded), their system `UUID` pairs them."""
    with sim_rack(tmp_path, 4, bmc="mixed", create=("--no-inventory",)) as rack:
        out, _ = discover(rack)
        own = (rack.root / "sim-nodes.csv").read_text()
        assert mac_rows((rack.root / "oem" / "nodes.csv").read_text()) == mac_rows(own)
        assert "Not paired" not in out
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "➤ OS installation via PXE (4/4)... ✓ done" in r.stdout
