"""The `ipmi` helper in a simulated rack: run in the management namespace through
`racker-sim exec`, it finds the virtual BMCs on the PXE interface by ARP (their leases are in the
rack's own dnsmasq lease file, not in racker's state dir) and drives them with ipmitool.

The rack fixture is the one of tests/e2e/test_sim_rack.py (dnsmasq, virtual BMCs, lite nodes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from racker.sim.state import read_credentials
from tests.e2e.test_sim_rack import RACKER_SIM, Rack, rack, wait_for

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

__all__ = ["rack"]  # the fixture, reused

IPMI = str(Path(sys.executable).with_name("ipmi"))


def _ipmi(r: Rack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**r.env, "USE_STDIN": "0", "USE_TTY": "0", "RETRY_SEC": "20", "IPMI_TIMEOUT": "2"}
    p = subprocess.run([RACKER_SIM, "exec", r.name, "--", IPMI, *args], env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    _, password = read_credentials(r.rd)
    assert password not in p.stdout + p.stderr
    return p


def test_ipmi_all_finds_every_virtual_bmc_by_arp(rack: Rack) -> None:
    servers = sorted(rack.topo.servers, key=lambda s: s.primary_mac)
    wait_for("the BMC leases", lambda: all(s.bmc_mac in rack.leases for s in servers))
    # racker's own lease file is absent: the addresses can only come from ARP.
    assert not (rack.rd.racker_state / "dnsmasq" / "dnsmasq.leases").exists()
    p = _ipmi(rack, "--all", "power", "status")
    assert p.returncode == 0, p.stdout + p.stderr
    blocks = [b.splitlines() for b in p.stdout.split("\n\n") if b]
    assert blocks, p.stderr
    assert [b[0] for b in blocks] == [f"Output for {s.bmc_mac}:" for s in servers]
    assert all(b[-1].startswith("Chassis Power is ") for b in blocks), p.stdout


def test_ipmi_diag_in_the_simulated_rack(rack: Rack) -> None:
    server = rack.topo.servers[0]
    wait_for("the BMC lease", lambda: server.bmc_mac in rack.leases)
    p = _ipmi(rack, server.primary_mac.upper(), "diag")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert f"BMC MAC address: {server.bmc_mac}" in lines
    assert f"BMC IP address: 172.24.213.{10 + server.index}" in lines
    assert f"Node MAC address: {server.primary_mac}" in lines
    assert any(line.startswith("System Power") for line in lines)
    assert any(line.startswith("Boot parameter data:") for line in lines)


def test_ipmi_diag_says_what_it_waits_for_at_once(rack: Rack, tmp_path: Path) -> None:
    import shutil

    oem = tmp_path / "oem"
    shutil.copytree(rack.rd.oem, oem)
    ghost_bmc = "02:00:5e:ff:ff:01"  # a server on the shelf: its BMC never gets a lease
    with (oem / "nodes.csv").open("a") as f:
        f.write(f"02:00:5e:ff:ff:00, {ghost_bmc}, , small, on the shelf\n")
    env = {**rack.env, "USE_STDIN": "0", "USE_TTY": "0"}
    proc = subprocess.Popen([RACKER_SIM, "exec", rack.name, "--", "env", f"RACKER_OEM_DIR={oem}",
                             "RETRY_SEC=60", IPMI, ghost_bmc, "diag"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        # told before the search ends (RETRY_SEC=60: the process still looks)
        assert proc.poll() is None
        assert first.startswith(f"Waiting up to 60 s for BMC {ghost_bmc} to appear on eth1"), first
        assert "racker serve" in first
    finally:
        proc.kill()
        proc.wait(timeout=30)
