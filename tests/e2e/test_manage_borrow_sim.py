"""The management listener while `racker serve` lends its services, in a simulated rack: serve's
listener keeps running across the hand-over, an `apply` that borrows serve's DHCP and boot
server starts no listener of its own but names serve's dashboard, and serve's API shows the
borrower's run live (running, then its outcome) and each node's state and failure."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.simrack import SimRack, sim_rack
from tests.e2e.test_manage_sim import curl
from tests.e2e.test_serve_sim import BOOTSTRAP, serving

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

URL = "http://127.0.0.1:8081"
"""serve's listener: the default bind, on the management namespace's own loopback."""


def api(rack: SimRack, route: str) -> Any:
    """A read of serve's API (loopback: no token needed)."""
    code, body = curl(rack, URL + route)
    assert code == 200, (route, body[-500:])
    return json.loads(body)


def wait_api(rack: SimRack, route: str, ok: Callable[[Any], bool], what: str,
             timeout: float = 120) -> Any:
    """Poll `route` until `ok(answer)` (bounded); AssertionError with the last answer."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = api(rack, route)
        if ok(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not seen within {timeout} s; last answer: {last}")


def test_serves_listener_shows_the_run_of_a_command_that_borrows_its_services(
        tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        (server,) = rack.nodes()
        mac = server["primary_mac"]
        with serving(rack) as serve:
            assert any(line.startswith(f"Dashboard: {URL}/") for line in serve.seen), serve.seen
            # a node that never PXE boots: apply's reinstall waits at stage dhcp, then fails
            rack.sim("fault", server["node"], "no-pxe", "--name", rack.name)
            (rack.folder / "assets" / mac).unlink()
            argv = rack.racker_argv("apply", "--yes", "-C", str(rack.folder),
                                    extra={"RACKER_TIMEOUT_SCALE": "0.1"})
            proc = subprocess.Popen(argv, env=rack.env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                serve.wait_for("Handed DHCP and the boot server to another racker command")
                runs = wait_api(rack, "/api/v1/runs",
                                lambda rs: rs[0]["command"] == "apply"
                                and rs[0]["outcome"] == "running", "apply's run as running")
                assert [n["mac"] for n in runs[0]["nodes"]] in ([], [mac])
                out, _ = proc.communicate(timeout=300)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
            assert proc.returncode == 1, out
            assert "'racker serve' runs: it hands DHCP and the boot server over" in out
            assert f"Dashboard: racker serve's at {URL}/ shows this run" in out
            assert f"Dashboard: {URL}" not in out  # no listener of its own on serve's port
            runs = wait_api(rack, "/api/v1/runs", lambda rs: rs[0]["outcome"] != "running",
                            "apply's outcome")
            assert (runs[0]["command"], runs[0]["outcome"], runs[0]["exit_code"]) == (
                "apply", "failed", 1)
            assert [(n["mac"], n["outcome"]) for n in runs[0]["nodes"]] == [(mac, "failed")]
            node = api(rack, f"/api/v1/nodes/{mac}")
            assert node["state"] == "failed" and node["failure"], node
            # repaired: the next borrower's run succeeds, on the same listener
            serve.wait_for("Serving DHCP on")
            rack.sim("fault", server["node"], "no-pxe", "--clear", "--name", rack.name)
            r = rack.racker("apply", "--yes", "-C", str(rack.folder))
            assert r.returncode == 0, r.stdout + r.stderr
            failed_run = runs[0]["id"]
            runs = wait_api(rack, "/api/v1/runs", lambda rs: rs[0]["id"] != failed_run
                            and rs[0]["outcome"] != "running", "the second apply's outcome")
            assert (runs[0]["command"], runs[0]["outcome"]) == ("apply", "succeeded")
            node = wait_api(rack, f"/api/v1/nodes/{mac}",
                            lambda n: n["state"] == "provisioned", "the node provisioned")
            assert node["provisioned"] is True and node["failure"] is None
            serve.wait_for("Serving DHCP on")
        # one listener for serve's whole life: it was never restarted by the hand-overs
        assert sum(line.startswith("Dashboard:") for line in serve.seen) == 1, serve.seen
        assert "Traceback" not in out + r.stdout + r.stderr + "".join(serve.seen)
