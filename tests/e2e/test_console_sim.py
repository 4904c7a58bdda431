"""Serial consoles captured while racker provisions a simulated rack (lite nodes whose virtual
BMCs carry their console over SOL): `ignition-fails` at first boot is named by the boot-stage
failure, `racker node console-log` and `racker node timeline --console` show the console."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.core.events import EventKind
from racker.sim.nodes.liteconsole import IGNITION_ERROR
from tests.e2e.simrack import sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")


def test_ignition_fails_is_named_by_the_boot_stage_failure(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        bad, good = rack.nodes()
        rack.sim("fault", bad["node"], "ignition-fails", "--name", rack.name)
        # NOTE: at a real rack's deadlines (the boot stage waits 900 s): the emergency shell on
        # the node's console fails its boot stage at once
        r = rack.racker(*BOOTSTRAP, extra={"RACKER_TIMEOUT_SCALE": "1"})
        out = r.stdout
        assert r.returncode == 1, out + r.stderr
        reason = ("the installed system stopped at its first boot; its console: "
                  f"[    4.180411] {IGNITION_ERROR}")
        assert f"{bad['primary_mac']}  boot    {reason}" in out, out
        assert f"failed at stage boot: {reason}\n" in out, out
        assert "    > You are in emergency mode." in out, out
        (error,) = [e for e in rack.events(bad["primary_mac"]) if e.kind is EventKind.ERROR]
        assert error.stage == "boot" and error.detail["error"] == reason
        assert rack.flag_files() == {good["primary_mac"]}

        log = rack.racker("node", "console-log", bad["primary_mac"])
        assert log.returncode == 0, log.stdout + log.stderr
        lines = log.stdout.splitlines()
        # the whole story: firmware, iPXE, the installer, the reboot, the failing first boot
        for expected in ("BdsDxe: loading Boot0001", "iPXE 1.21.1+", "Linux version",
                         "racker-installer[812]: Downloading", "reboot: Restarting system",
                         "Booting `Flatcar default'", IGNITION_ERROR, "Press Enter for "
                         "maintenance"):
            assert any(expected in line for line in lines), (expected, log.stdout)
        status = rack.racker("status", "--full")
        assert "Last failures (1 nodes):\n" in status.stdout, status.stdout + status.stderr
        assert f"failed at stage boot: {reason}\n" in status.stdout
        assert "    > Press Enter for maintenance\n" in status.stdout
        logs = next((rack.folder / "logs").iterdir())
        kept = (logs / "failures.txt").read_text()
        assert f"at stage boot: {reason}" in kept and f"[    4.180411] {IGNITION_ERROR}" in kept
        timeline = rack.racker("node", "timeline", "--console", bad["primary_mac"])
        assert timeline.returncode == 0, timeline.stdout + timeline.stderr
        text = timeline.stdout
        assert "console capture: Serial over LAN" in text, text
        assert text.index("stage install started") < text.index("console | Booting `Flatcar "
                                                                 "default'") < \
            text.index("error in stage boot")


def test_a_redfish_only_bmc_is_said_to_have_no_console_the_ipmi_one_is_captured(
        tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2, bmc="mixed") as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        nodes = rack.nodes()
        redfish = next(s for s in nodes if s["bmc"] == "redfish")
        ipmi = next(s for s in nodes if s["bmc"] == "ipmi")
        timeline = rack.racker("node", "timeline", redfish["primary_mac"])
        assert ("console capture: none, the BMC has no serial console (BMC "
                in timeline.stdout), timeline.stdout
        assert "driven over redfish, which has no Serial over LAN" in timeline.stdout
        log = rack.racker("node", "console-log", redfish["primary_mac"]).stdout
        assert "[racker] no serial console: BMC " in log and "Linux version" not in log, log
        captured = rack.racker("node", "console-log", ipmi["primary_mac"]).stdout
        # NOTE: the capture ends with the run, as the node reports booted: what it prints
        # after its report (the login prompt) may come too late; its first boot may not
        assert "Booting `Flatcar default'" in captured, captured
