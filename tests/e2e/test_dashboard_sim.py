"""The dashboard in a real headless Chromium during `racker bootstrap` of a simulated rack with
Redfish and IPMI BMCs: every node reaches "provisioned" on the page without a reload, with its
BMC's protocol; a node page shows its protocol and timeline and asks its BMC for a live
diagnosis; a wrong token is refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tool
from tests.e2e.simrack import BIN, SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

REPO = Path(__file__).parents[2]
DASHBOARD = "http://127.0.0.1:8081/"
"""The default listener, on the loopback of the rack's own management namespace."""


def test_browser_sees_every_node_provisioned_live(tmp_path: Path) -> None:
    require_tool("chromium")
    require_tool("chromedriver")
    shot = tmp_path / "dashboard.png"
    with sim_rack(tmp_path, 4, bmc="mixed") as rack:  # Redfish and IPMI BMCs side by side
        # the nodes ignore PXE until the browser has the page: they fail their DHCP stage and
        # the bootstrap retries, so the page sees them go from waiting to provisioned
        servers = rack.nodes()
        for s in servers:
            rack.sim("fault", s["node"], "no-pxe", "--name", rack.name)
        boot = subprocess.Popen(rack.racker_argv("bootstrap", "-provision", "flatcar",
                                                 "-onfailure", "retry", "-retries", "20"),
                                env=rack.env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        probe = subprocess.Popen(probe_argv(rack, "watch", DASHBOARD, str(shot)), env=rack.env,
                                 cwd=REPO, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        assert probe.stdout is not None
        loaded = probe.stdout.readline()  # the probe bounds its own wait for the page
        for s in servers:
            rack.sim("fault", s["node"], "no-pxe", "--clear", "--name", rack.name)
        rest, err = probe.communicate(timeout=600)
        assert loaded.strip() == "loaded" and probe.returncode == 0, loaded + rest + err[-5000:]
        watched = json.loads(rest.strip().splitlines()[-1])
        out, _ = boot.communicate(timeout=600)
        assert boot.returncode == 0, out
        assert f"Dashboard: {DASHBOARD}" in out
        status = rack.racker("status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        names = {"ipmi": "IPMI", "redfish": "Redfish"}
        protocols = {n["mac"]: names[n["protocol"]] for n in json.loads(status.stdout)["nodes"]}
        serve = subprocess.Popen(rack.racker_argv("serve"), env=rack.env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            node = browse(rack, "node", DASHBOARD)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve_out, _ = serve.communicate(timeout=60)
        assert serve.returncode == 0, serve_out
    assert len(watched["final"]) == 4, watched
    assert set(watched["final"].values()) == {"provisioned"}
    # the page was opened before the end and changed in place: no reload, live updates applied
    assert watched["same_document"] and watched["live"]
    assert any(len(states) > 1 for states in watched["seen"].values()), watched
    assert watched["summary"].startswith("4/4 provisioned")
    assert watched["run_outcome"] == "succeeded"
    assert watched["stage_counts"] == ["4/4"] * 6  # the progress bars: every stage done
    # the protocol column, filled in live as racker reached each BMC, is what status says
    assert watched["protocols"] == protocols and set(protocols.values()) == {"IPMI", "Redfish"}
    assert node["node_title"].startswith(node["node_name"])
    assert node["node_protocol"] in ("IPMI", "Redfish")
    assert node["diagnosis"] == "answered" and node["diagnosis_text"].strip(), node
    assert any("node reported booted" in line for line in node["timeline"]), node["timeline"]
    assert node["confirm"].startswith("Reinstall") and node["confirm_needs_login"]
    assert "wrong" in node["wrong_token"] and "401" in node["wrong_token_title"]
    assert shot.stat().st_size > 10_000
    if os.environ.get("RACKER_DOCS_SCREENSHOT"):  # how docs/dashboard.png was made
        shutil.copy(shot, os.environ["RACKER_DOCS_SCREENSHOT"])


def probe_argv(rack: SimRack, *args: str) -> list[str]:
    """The browser probe, run in the rack's management namespace."""
    return [str(BIN / "racker-sim"), "exec", rack.name, "--", sys.executable, "-m",
            "tests.e2e.dashboard_browser", *args]


def browse(rack: SimRack, *args: str) -> dict[str, Any]:
    """The browser probe's run; what it saw."""
    r = subprocess.run(probe_argv(rack, *args), env=rack.env, cwd=REPO, text=True,
                       capture_output=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    seen: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return seen
