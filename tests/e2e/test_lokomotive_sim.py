"""Lokomotive bring-up on the simulator, with a stand-in lokoctl at the process boundary and a
small Kubernetes nodes API: every stage of the documented bring-up, and a node that never
joins excluded by the failure policy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from racker.sim.net.netns import call_in_netns
from tests.e2e.simrack import BIN, SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

API_PORT = 16443

LOKOCTL = r'''#!{python}
"""Stand-in lokoctl: checks its arguments, PXE-installs the nodes through pxe_commands as
the real one does, then writes a kubeconfig for the test's nodes API."""
import os, re, subprocess, sys, time
args = sys.argv[1:]
with open(os.environ["STANDIN_LOG"], "a") as f:
    f.write(" ".join(args) + "\n")
if args == ["component", "apply"]:
    sys.exit(0)
if args != ["cluster", "apply", "--verbose", "--skip-components",
            "--skip-pre-update-health-check", "--skip-control-plane-update", "--confirm"]:
    print("unexpected arguments", args)
    sys.exit(2)
text = open("lokocfg.vars").read()
def strings(name):
    return re.findall(r'"([^"]+)"', re.search(name + r"\s*=\s*\[(.*?)\]", text, re.S).group(1))
macs = strings("controller_macs") + strings("worker_macs")
names = strings("controller_names") + strings("worker_names")
pxe = re.search(r'pxe_commands\s*=\s*"((?:[^"\\]|\\.)*)"', text).group(1)
assets = re.search(r'asset_dir\s*=\s*"([^"]+)"', text).group(1)
for mac, name in zip(macs, names):
    subprocess.run(["sh", "-c", pxe], env={{**os.environ, "mac": mac, "domain": name}},
                   check=True)
deadline = time.time() + 120
while time.time() < deadline and not all(os.path.exists(os.path.join(assets, m)) for m in macs):
    time.sleep(0.5)
os.makedirs("lokoctl-assets/cluster-assets/auth", exist_ok=True)
with open("lokoctl-assets/cluster-assets/auth/kubeconfig", "w") as f:
    f.write("""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: standin}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
'''

API = r'''
import http.server, json, os, sys
folder, never = sys.argv[1], set(sys.argv[2].split(",")) - {{""}}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        assets = os.path.join(folder, "lokoctl-assets")
        text = open(os.path.join(folder, "lokocfg.vars")).read()
        import re
        def strings(name):
            m = re.search(name + r"\s*=\s*\[(.*?)\]", text, re.S)
            return re.findall(r'"([^"]+)"', m.group(1)) if m else []
        pairs = zip(strings("controller_macs") + strings("worker_macs"),
                    strings("controller_names") + strings("worker_names"))
        items = [{{"metadata": {{"name": n}}}} for m, n in pairs
                 if os.path.exists(os.path.join(assets, m)) and m not in never]
        body = json.dumps({{"items": items}}).encode()
        self.send_response(200 if self.headers.get("Authorization") == "Bearer standin" else 401)
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", {port}), H).serve_forever()
'''


def _wait_listening(netns: str, port: int, proc: subprocess.Popen[bytes],
                   timeout: float = 60.0) -> None:
    """Until something accepts on 127.0.0.1:`port` in `netns` (bounded; a busy machine can take
    seconds to start Python), failing at once if the server process died."""
    def accepts() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    deadline = time.monotonic() + timeout
    while not call_in_netns(netns, accepts):
        assert proc.poll() is None, f"the stand-in API exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"nothing listens on port {port} after {timeout} s"
        time.sleep(0.1)


@contextmanager
def nodes_api(rack: SimRack, never: str = "") -> Iterator[None]:
    code = API.format(port=API_PORT)
    proc = subprocess.Popen(["ip", "netns", "exec", f"rks-{rack.name}-mgmt", sys.executable,
                             "-c", code, str(rack.home / "lokomotive"), never])
    try:
        _wait_listening(f"rks-{rack.name}-mgmt", API_PORT, proc)
        yield
    finally:
        proc.kill()
        proc.wait()


def lokoctl(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "lokoctl"
    script.write_text(LOKOCTL.format(python=sys.executable, port=API_PORT))
    script.chmod(0o755)
    return {"PATH": f"{bindir}:{BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
            "STANDIN_LOG": str(tmp_path / "lokoctl.log")}


def test_ha_bringup_all_stages(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 4) as rack, nodes_api(rack):
        r = rack.racker("bootstrap", "-provision", "lokomotive", "-num-controllers", "3",
                        "-onfailure", "cancel", extra=lokoctl(tmp_path))
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        for stage in ("➤ Checking BMC connectivity (4/4)... ✓ done",
                      "➤ OS installation via PXE (4/4)... ✓ done",
                      "➤ Kubernetes bring-up... ✓ done",
                      "➤ Cluster health check (4/4 nodes seen)... ✓ done",
                      "➤ Lokomotive component installation... ✓ done"):
            assert stage in out, out
        calls = (tmp_path / "lokoctl.log").read_text().splitlines()
        assert calls[0].startswith("cluster apply --verbose") and calls[1] == "component apply"
        vars_ = (rack.home / "lokomotive" / "lokocfg.vars").read_text()
        assert vars_.count("-controller-") >= 3
        assert (rack.home / ".kube" / "config").resolve().name == "kubeconfig"
        status = json.loads(rack.racker("status", "--json").stdout)
        assert status["provisioned"] == "Lokomotive" and status["kubernetes_api_reached"]
        assert [n["joined"] for n in status["nodes"]] == [True] * 4
        # lokoctl's pxe-boot calls were recorded by the bootstrap that runs the services
        (logs,) = (rack.home / "lokomotive" / "logs").iterdir()
        said = (logs / "lokoctl-cluster.log").read_text()
        for server in rack.nodes():
            mac = server["primary_mac"]
            assert f"{mac}: racker bootstrap (pid " in said, said
            log = rack.racker("node", "console-log", mac).stdout
            for line in ("[racker] serial console captured (Serial over LAN)",
                         "iPXE 1.21.1+", "Booting `Flatcar default'"):
                assert line in log, (mac, line, log)


def test_a_node_that_never_joins_is_excluded_and_the_retry_succeeds(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 4) as rack:
        never = rack.nodes()[3]["primary_mac"]
        with nodes_api(rack, never):
            r = rack.racker("bootstrap", "-provision", "lokomotive", "-onfailure", "exclude",
                            extra={**lokoctl(tmp_path), "RACKER_TIMEOUT_SCALE": "0.01"})
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        assert "did not join the cluster:\n" + never in out
        assert "removing 1 nodes from the configuration and retrying 1/3" in out
        assert "➤ Cluster health check (3/3 nodes seen)... ✓ done" in out
        assert never not in (rack.home / "lokomotive" / "lokocfg.vars").read_text()
