"""`racker apply` and `racker node replace` on a provisioned simulated rack: lite nodes,
virtual BMCs, racker's dnsmasq and boot server, the engine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")


def installs(rack: SimRack, mac: str) -> int:
    return sum(1 for e in rack.events(mac) if e.kind is EventKind.INSTALLED)


def test_apply_reinstalls_only_the_node_without_flag_file(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        macs = [s["primary_mac"] for s in rack.nodes()]
        target = macs[1]
        name = (rack.folder / "assets" / target).read_text()
        (rack.folder / "assets" / target).unlink()
        r = rack.racker("apply", "--yes", "-C", str(rack.folder))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 to reinstall, 0 to re-run Ignition, 0 skipped, 2 up to date" in r.stdout
        assert {m: installs(rack, m) for m in macs} == {m: 1 + (m == target) for m in macs}
        assert (rack.folder / "assets" / target).read_text() == name
        assert "Traceback" not in r.stdout + r.stderr
        runs = [dict(e.detail) for e in rack.events("") if e.kind is EventKind.RUN]
        assert [(d["phase"], d["command"], d.get("exit_code")) for d in runs] == [
            ("start", "bootstrap", None), ("end", "bootstrap", 0),
            ("start", "apply", None), ("end", "apply", 0)]  # the dashboard's runs


def test_replaced_server_is_installed_under_the_old_name_and_ip(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3) as rack:
        servers = rack.nodes()
        spare = servers[2]  # on the shelf: the simulator runs it, nodes.csv does not list it
        csv = rack.root / "oem" / "nodes.csv"
        rows = csv.read_text().splitlines(keepends=True)
        row = next(x for x in rows if spare["primary_mac"] in x.lower())
        csv.write_text("".join(x for x in rows if x is not row))
        r = rack.racker(*BOOTSTRAP)
        for _ in range(3):
            if r.returncode == 0 or "BMCs could not be reached" not in r.stdout:
                break
            # NOTE: the simulator's BMCs sometimes do not answer IPMI right after taking their
            # first lease (seen in about one bootstrap of three with a server on the shelf; not
            # what this test is about): the bootstrap continues where it stopped
            time.sleep(2)
            r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        old = servers[0]
        old_name = (rack.folder / "assets" / old["primary_mac"]).read_text().strip()
        old_ip = next(e.detail["ip"] for e in rack.events(old["primary_mac"])
                      if e.kind is EventKind.LEASE and "ip" in e.detail)
        secondary = [x.strip() for x in row.split(",")][2]
        r = rack.racker("node", "replace", "-C", str(rack.folder), old["primary_mac"],
                        spare["primary_mac"], spare["bmc_mac"], secondary)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"as {old_name} ({old_ip}" in r.stdout
        r = rack.racker("apply", "--yes", "-C", str(rack.folder))
        new = spare["primary_mac"]
        assert r.returncode == 0, r.stdout + r.stderr + "\n".join(
            f"{e.kind} {e.stage} {dict(e.detail)}" for e in rack.events(new))
        assert "1 to reinstall" in r.stdout
        assert (rack.folder / "assets" / new).read_text().strip() == old_name
        assert not (rack.folder / "assets" / old["primary_mac"]).exists()
        leases = [e.detail.get("ip") for e in rack.events(new) if e.kind is EventKind.LEASE]
        assert old_ip in leases
        assert installs(rack, new) == 1 and installs(rack, servers[1]["primary_mac"]) == 1


def test_pxe_boot_sets_pxe_and_powers_the_node_on(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        (server,) = rack.nodes()
        assert server["boot_device"] == "disk"
        name = (rack.folder / "assets" / server["primary_mac"]).read_text().strip()
        r = rack.racker("pxe-boot", server["primary_mac"], name, "-C", str(rack.folder))
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"✓ {name} ({server['primary_mac']}) is booting from the network" in r.stdout
        (server,) = rack.nodes()
        assert server["boot_device"] == "pxe" and server["boot_persistent"]
        assert server["power"] == "on"
        r = rack.racker("pxe-boot", "02:ff:ff:ff:ff:01", "x", "-C", str(rack.folder))
        assert r.returncode == 2 and "02:ff:ff:ff:ff:01" in r.stderr
