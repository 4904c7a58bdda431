"""A mixed rack (Redfish-only and IPMI-only BMCs, alternating) on the simulator: bootstrapped
with Flatcar to `booted` through each node's protocol; status shows the protocols; a changed
BMC certificate is refused with the pinning error until the operator accepts it; the ipmi
helper's diag, power and serial console on a Redfish-only BMC."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import BIN, SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def test_mixed_rack_bootstraps_and_pins_certificates(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 4, bmc="mixed") as rack:
        servers = {s["primary_mac"]: s for s in rack.nodes()}
        assert sorted(s["bmc"] for s in servers.values()) == ["ipmi", "ipmi", "redfish",
                                                              "redfish"]
        # one Redfish BMC takes the boot override only through @Redfish.Settings
        settings_only = sorted(s["node"] for s in servers.values() if s["bmc"] == "redfish")[-1]
        rack.sim("fault", settings_only, "redfish-settings-only", "--name", rack.name)
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "➤ OS installation via PXE (4/4)... ✓ done" in r.stdout
        booted = {e.mac for e in rack.events() if e.kind is EventKind.BOOTED}
        assert booted == set(servers)
        for s in rack.nodes():  # each BMC left booting from disk, persistently
            assert s["boot_device"] == "disk" and s["boot_persistent"] and s["installed"]
        recorded = json.loads((rack.state / "bmc-protocols.json").read_text())
        assert recorded == {s["bmc_mac"]: s["bmc"] for s in servers.values()}
        pins = json.loads((rack.state / "bmc-certificates.json").read_text())
        assert set(pins) == {s["bmc_mac"] for s in servers.values() if s["bmc"] == "redfish"}

        st = rack.racker("status", "--json")
        assert st.returncode == 0, st.stdout + st.stderr
        nodes = {n["mac"]: n for n in json.loads(st.stdout)["nodes"]}
        assert {m: n["protocol"] for m, n in nodes.items()} == {
            m: s["bmc"] for m, s in servers.items()}
        assert all(n["bmc_reached"] and n["power"] == "on" for n in nodes.values())
        table = rack.racker("status")
        assert "Protocol" in table.stdout and "Redfish" in table.stdout, table.stdout

        # racker apply reinstalls a node without flag file through its Redfish BMC
        again = sorted(m for m, s in servers.items() if s["bmc"] == "redfish")[0]
        (rack.folder / "assets" / again).unlink()
        r = rack.racker("apply", "--yes", "-C", str(rack.folder))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 to reinstall, 0 to re-run Ignition, 0 skipped, 3 up to date" in r.stdout
        installs = {m: sum(1 for e in rack.events(m) if e.kind is EventKind.INSTALLED)
                    for m in servers}
        assert installs == {m: 1 + (m == again) for m in servers}

        redfish = next(s for s in rack.nodes() if s["bmc"] == "redfish")
        rack.sim("fault", redfish["node"], "bmc-cert-changed", "--name", rack.name)
        st = rack.racker("status", "--json")
        nodes = {n["mac"]: n for n in json.loads(st.stdout)["nodes"]}
        bad = nodes[redfish["primary_mac"]]
        assert not bad["bmc_reached"]
        assert "TLS certificate changed" in bad["bmc_error"]
        assert pins[redfish["bmc_mac"]]["sha256"] in bad["bmc_error"]
        assert all(n["bmc_reached"] for m, n in nodes.items() if m != redfish["primary_mac"])
        denied = ipmi(rack, redfish["primary_mac"], "power", "status")
        assert denied.returncode != 0
        assert "racker bmc trust-cert" in denied.stdout + denied.stderr

        ok = rack.racker("bmc", "trust-cert", redfish["primary_mac"])
        assert ok.returncode == 0 and "forgot the certificate" in ok.stdout, ok.stderr
        st = rack.racker("status", "--json")
        nodes = {n["mac"]: n for n in json.loads(st.stdout)["nodes"]}
        assert nodes[redfish["primary_mac"]]["bmc_reached"], nodes[redfish["primary_mac"]]

        # the ipmi helper on a Redfish-only BMC: diag and power over Redfish, no SOL
        diag = ipmi(rack, redfish["primary_mac"], "diag")
        assert diag.returncode == 0, diag.stdout + diag.stderr
        assert "BMC protocol: Redfish" in diag.stdout and "BMC firmware: racker-sim" in diag.stdout
        power = ipmi(rack, redfish["primary_mac"], "chassis", "power", "status")
        assert power.stdout.strip().endswith("Chassis Power is on"), power.stdout + power.stderr
        sol = ipmi(rack, redfish["primary_mac"])
        assert sol.returncode != 0 and "speaks Redfish only" in sol.stderr, sol.stderr
        everyone = ipmi(rack, "--all", "power", "status")
        assert everyone.returncode == 0, everyone.stdout + everyone.stderr
        assert everyone.stdout.count("Chassis Power is on") == 4, everyone.stdout

        # pxe-boot through the Redfish BMC whose override goes through @Redfish.Settings
        node = next(s for s in rack.nodes() if s["node"] == settings_only)
        name = (rack.folder / "assets" / node["primary_mac"]).read_text().strip()
        r = rack.racker("pxe-boot", node["primary_mac"], name, "-C", str(rack.folder))
        assert r.returncode == 0, r.stdout + r.stderr
        node = next(s for s in rack.nodes() if s["node"] == settings_only)
        assert (node["boot_device"], node["boot_persistent"], node["power"]) == ("pxe", True,
                                                                                 "on")


def ipmi(rack: SimRack, *args: str) -> subprocess.CompletedProcess[str]:
    """The `ipmi` helper in the rack's management namespace."""
    argv = rack.racker_argv(*args)
    argv[argv.index(str(BIN / "racker"))] = str(BIN / "ipmi")
    return subprocess.run(argv, env=rack.env, text=True, capture_output=True, timeout=120,
                          check=False)


def test_changed_certificate_fails_only_that_nodes_bmc_stage(tmp_path: Path) -> None:
    """Pins are taken while `racker serve` runs (status reaches every BMC); then one Redfish
    BMC presents a new certificate: bootstrap refuses that node at its BMC check with the
    pinning error and provisions the others."""
    with sim_rack(tmp_path, 3, bmc="mixed") as rack:
        ssh = rack.home / ".ssh"  # what bootstrap makes when it provisions; serve needs it
        ssh.mkdir(mode=0o700, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_rsa")],
                       check=True, capture_output=True, timeout=30)
        configured = rack.racker("bootstrap", "-provision", "flatcar", "-render-only")
        assert configured.returncode == 0, configured.stdout + configured.stderr
        serve = subprocess.Popen(rack.racker_argv("serve"), env=rack.env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert serve.stdout is not None
            # the management listener comes up first (it lives as long as serve), then the services
            dashboard, first = serve.stdout.readline(), serve.stdout.readline()
            assert dashboard.startswith("Dashboard: "), dashboard
            assert first.startswith("Serving DHCP on"), first
            reached: dict[str, bool] = {}
            for _ in range(60):  # bounded: until every BMC has its lease and answers
                st = rack.racker("status", "--json")
                reached = {n["mac"]: n["bmc_reached"] for n in json.loads(st.stdout)["nodes"]}
                if reached and all(reached.values()):
                    break
            assert reached and all(reached.values()), reached
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.communicate(timeout=30)
        bad = next(s for s in rack.nodes() if s["bmc"] == "redfish")
        pinned = json.loads((rack.state / "bmc-certificates.json").read_text())
        rack.sim("fault", bad["node"], "bmc-cert-changed", "--name", rack.name)
        shutil.rmtree(rack.folder)  # as bootstrap's hint says, to bootstrap anew
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "exclude")
        out = r.stdout + r.stderr
        assert "TLS certificate changed" in out, out
        assert pinned[bad["bmc_mac"]]["sha256"] in out
        assert "racker bmc trust-cert" in out, out
        assert r.returncode != 0 and "Checking BMC connectivity (2/3)... × failed" in out
        # the BMC check is all or nothing (as the reference's); excluded, the others provision
        assert f'-exclude="{bad["primary_mac"]}"' in out
        shutil.rmtree(rack.folder)
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "exclude",
                        f"-exclude={bad['primary_mac']}")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "➤ OS installation via PXE (2/2)... ✓ done" in out
        good = {s["primary_mac"] for s in rack.nodes()} - {bad["primary_mac"]}
        booted = {e.mac for e in rack.events() if e.kind is EventKind.BOOTED}
        assert booted == good, out
        assert rack.flag_files() == good
