"""The management listener beyond loopback, in a simulated rack: `racker serve` bound to the
management node's rack-network address refuses to start without a token, then needs it on
every route; the token is in no log and no command line; a live diagnosis and a power cycle
through the API drive the node's (virtual) BMC."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.simrack import SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def mgmt_address(rack: SimRack) -> str:
    """The management node's address on the rack network (its PXE interface)."""
    r = subprocess.run([rack.racker_argv()[0], "exec", rack.name, "--", "ip", "-4", "-o", "addr",
                        "show", "dev", "eth1"], env=rack.env, capture_output=True, text=True,
                       check=True)
    return r.stdout.split(" inet ", 1)[1].split("/", 1)[0]


def curl(rack: SimRack, url: str, *, headers: Path | None = None, method: str = "GET"
         ) -> tuple[int, str]:
    """curl in the management namespace; the token, if any, comes from a header file (never
    from the command line)."""
    argv = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "10"]
    if headers is not None:
        argv += ["-H", f"@{headers}"]
    r = subprocess.run([rack.racker_argv()[0], "exec", rack.name, "--", *argv, url],
                       env=rack.env, capture_output=True, text=True, timeout=30, check=False)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def test_serve_beyond_loopback_needs_the_token(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        boot = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        assert boot.returncode == 0, boot.stdout + boot.stderr
        address = mgmt_address(rack)
        bind = {"RACKER_MANAGE_BIND": address}
        refused = rack.racker("serve", extra=bind, timeout=60)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "without an API token" in refused.stderr
        assert "racker api token" in refused.stderr and "Traceback" not in refused.stderr
        token = rack.racker("api", "token").stdout.strip()
        assert len(token) >= 40
        headers = tmp_path / "auth-header"
        headers.write_text(f"Authorization: Bearer {token}\n")
        wrong = tmp_path / "wrong-header"
        wrong.write_text(f"Authorization: Bearer {secrets.token_urlsafe(32)}\n")
        serve = subprocess.Popen(rack.racker_argv("serve", extra=bind), env=rack.env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert serve.stdout is not None
            dashboard, serving = serve.stdout.readline(), serve.stdout.readline()
            url = f"http://{address}:8081"
            assert dashboard.startswith(f"Dashboard: {url}/") and "token needed" in dashboard
            assert serving.startswith("Serving DHCP on"), serving
            node = rack.nodes()[0]["primary_mac"]
            routes = ["/", f"/nodes/{node}", "/metrics", "/api/v1/nodes", "/api/v1/runs",
                      f"/api/v1/nodes/{node}", f"/api/v1/nodes/{node}/timeline",
                      f"/api/v1/nodes/{node}/diagnosis", f"/nodes/{node}/diagnosis",
                      "/api/v1/openapi.json"]
            for route in routes:
                assert curl(rack, url + route)[0] == 401, route
                assert curl(rack, url + route, headers=wrong)[0] == 401, route
                code, body = curl(rack, url + route, headers=headers)
                assert code == 200, (route, body[-500:])
            # the live diagnosis asks the node's (virtual) BMC, as 'ipmi NODE diag'
            code, body = curl(rack, f"{url}/api/v1/nodes/{node}/diagnosis", headers=headers)
            diag = json.loads(body)
            assert code == 200 and diag["ok"] is True and diag["text"].strip(), diag
            action = f"{url}/api/v1/nodes/{node}/actions/power-cycle"
            assert curl(rack, action, method="POST")[0] == 401
            code, body = curl(rack, action, headers=headers, method="POST")
            assert code == 202, body
            outcome = wait_for_action(rack, f"{url}/api/v1/nodes/{node}/timeline", headers)
            assert outcome["kind"] == "stage" and outcome["detail"]["result"] == "ok", outcome
            ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
            assert token not in ps
        finally:
            serve.send_signal(signal.SIGTERM)
            out, _ = serve.communicate(timeout=60)
        assert serve.returncode == 0, out
        logs = [p for p in rack.root.rglob("*") if p.is_file() and p.suffix in (".log", ".txt")]
        assert logs, "the rack keeps logs"
        for log in [*logs]:
            assert token not in log.read_text(errors="replace"), log
        assert token not in out + boot.stdout + refused.stdout + refused.stderr


def wait_for_action(rack: SimRack, url: str, headers: Path) -> dict[str, Any]:
    """The power cycle's outcome on the node's timeline (bounded polling)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        code, body = curl(rack, url, headers=headers)
        assert code == 200, body
        done = [e for e in json.loads(body) if e["detail"].get("action") == "power-cycle"
                and (e["kind"] == "error" or e["detail"].get("result") == "ok")]
        if done:
            return dict(done[-1])
        time.sleep(0.5)
    raise AssertionError("the power cycle did not finish within 90 s")
