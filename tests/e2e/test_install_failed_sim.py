"""Why did that node fail? A simulated rack whose one node's installer fails (`installer-fails`),
run with a real rack's stage deadlines (RACKER_TIMEOUT_SCALE=1: 1,800 s for the install stage):
the installer's report fails the node at once, the summary shows its journal, the others
provision."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar", "-onfailure", "exclude", "-retries", "1")
JOURNAL_LINE = "Error: failed to write flatcar_production_image.bin.bz2 to /dev/sda: " \
               "Input/output error"


def test_installer_fails_is_reported_at_once_with_its_journal(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3) as rack:
        bad = rack.nodes()[1]
        rack.sim("fault", bad["node"], "installer-fails", "--name", rack.name)
        started = time.monotonic()
        # NOTE: bounded well below the install stage's 1,800 s: a run that waits the stage
        # out instead of taking the installer's word fails here
        try:
            r = rack.racker(*BOOTSTRAP, extra={"RACKER_TIMEOUT_SCALE": "1"}, timeout=600)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"still waiting after 600 s: {e.stdout!r}") from None
        print(f"bootstrap_s={time.monotonic() - started:.1f}")
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        assert "➤ OS installation via PXE (2/3)... × failed" in out
        reason = f"the installer failed (exit status 1): {JOURNAL_LINE}"
        # the stage line's node list, then the summary with the journal's tail
        assert f"{bad['primary_mac']}  install {reason}" in out, out
        assert (f"failed at stage install: {reason}\n"
                "  the installer's journal (last 6 lines):\n") in out, out
        assert f"    | {bad['node']} racker-installer[812]: {JOURNAL_LINE}\n" in out
        (now,) = [s for s in rack.nodes() if s["node"] == bad["node"]]
        assert now["phase"] == "report-install-failed", now  # up, not rebooted
        assert f"the installer stays up for a look: ssh -p 2222 core@{now['node_ip']}" in out
        assert "removing 1 nodes from the configuration and retrying 1/1" in out
        assert "➤ OS installation via PXE (2/2)... ✓ done" in out
        good = {s["primary_mac"] for s in rack.nodes()} - {bad["primary_mac"]}
        assert rack.flag_files() == good
        events = rack.events(bad["primary_mac"])
        (report,) = [e for e in events if e.kind is EventKind.INSTALL_FAILED]
        (error,) = [e for e in events if e.kind is EventKind.ERROR]
        assert error.stage == "install" and error.detail["error"] == reason
        print(f"report_to_failure_s={error.ts - report.ts:.2f}")
        # racker held every node's console while it provisioned them
        logs = {p.name for p in (rack.state / "console").iterdir()}
        assert logs == {s["primary_mac"].replace(":", "-") + ".log" for s in rack.nodes()}
        console = (rack.state / "console" / (bad["primary_mac"].replace(":", "-") + ".log"))
        assert f"racker-installer[812]: {JOURNAL_LINE}" in console.read_text()
        assert (f"  its console (last 20 lines; all with 'racker node console-log "
                f"{bad['primary_mac']}'):\n") in out, out
        assert ("    > [FAILED] Failed to start installer.service - Install Flatcar Container "
                "Linux for racker.\n") in out, out
        kept = "".join(p.read_text() for p in (rack.folder / "logs").glob("*/failures.txt"))
        assert f"    | {bad['node']} racker-installer[812]: {JOURNAL_LINE}\n" in kept, kept
        timeline = rack.racker("node", "timeline", bad["primary_mac"])
        assert timeline.returncode == 0, timeline.stdout + timeline.stderr
        assert "node reported install-failed (exit status 1), its journal's tail:" in \
            timeline.stdout
        assert f"| {bad['node']} racker-installer[812]: {JOURNAL_LINE}" in timeline.stdout


def test_a_reprovision_whose_installer_fails_shows_its_journal_and_console(
        tmp_path: Path) -> None:
    """`racker node reprovision` (racker apply's executor) captures the console too."""
    with sim_rack(tmp_path, 1) as rack:
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        (node,) = rack.nodes()
        rack.sim("fault", node["node"], "installer-fails", "--name", rack.name)
        r = rack.racker("node", "reprovision", node["primary_mac"],
                        extra={"RACKER_TIMEOUT_SCALE": "1"}, timeout=600)
        out = r.stdout
        assert r.returncode == 1, out + r.stderr
        reason = f"the installer failed (exit status 1): {JOURNAL_LINE}"
        assert f"failed at stage install: {reason}\n" in out, out
        assert f"    | {node['node']} racker-installer[812]: {JOURNAL_LINE}\n" in out
        assert "    > [FAILED] Failed to start installer.service" in out, out
        assert f"  {node['primary_mac']} (node-0): {reason}" in out, out
