"""`/metrics` scraped by a real Prometheus (Debian `prometheus`) over two racks' management
listeners, with the fleet's rule files of docs/fleet/ checked by `promtool` and loaded."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from racker.adapters.fs.store import Store
from racker.core.events import EventKind
from racker.paths import Paths
from tests.conftest import require_tool
from tests.nodeops_support import configured_rack, paths_env
from tests.rackfixtures import primary_mac
from tests.web_support import running_listener

FLEET = Path(__file__).parents[2] / "docs" / "fleet"


def provisioned_rack(root: Path, nodes: int, provisioned: int, failed: int) -> Paths:
    """A configured rack whose first `provisioned` nodes have their flag file, and whose next
    `failed` ones failed a stage, as a bootstrap records it."""
    paths = configured_rack(root, nodes)
    flags = paths.flatcar_dir / "assets"
    flags.mkdir(parents=True, exist_ok=True)
    with Store.in_state_dir(paths.state_dir) as s:
        run = s.add("", EventKind.RUN, detail={"phase": "start", "command": "bootstrap"}).id
        for i in range(1, nodes + 1):
            mac = primary_mac(i)
            s.add(mac, EventKind.STAGE, stage="bmc", ts=1000.0)
            s.add(mac, EventKind.STAGE, stage="bmc", detail={"result": "ok"}, ts=1002.0)
            s.add(mac, EventKind.REQUEST, detail={"path": "/boot.ipxe", "status": 200})
            if i <= provisioned:
                (flags / mac).write_text(f"node-{i - 1}\n")
                s.add(mac, EventKind.PROVISIONED)
            elif i <= provisioned + failed:
                s.add(mac, EventKind.ERROR, stage="dhcp", detail={"error": "no DHCP request"})
        s.add("", EventKind.RUN, detail={"phase": "end", "run": run, "command": "bootstrap",
                                         "exit_code": 1 if failed else 0})
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def prometheus(tmp: Path, config: dict[str, Any]) -> Iterator[str]:
    """A real Prometheus with `config` on a free loopback port until the block ends."""
    binary = require_tool("prometheus")
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(FLEET / "racker.rules.yml", tmp / "racker.rules.yml")
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("prometheus was not ready within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def query(url: str, promql: str, want: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The result of `promql` once it has `want` series (Prometheus scrapes every second)."""
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        if len(result) >= want:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{promql}: {result} after {timeout} s")


def test_rule_files_pass_promtool() -> None:
    promtool = require_tool("promtool")
    r = subprocess.run([promtool, "check", "rules", str(FLEET / "racker.rules.yml")],
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 5 rules found" in r.stdout
    config = subprocess.run([promtool, "check", "config", "--syntax-only",
                             str(FLEET / "prometheus.yml")],
                            capture_output=True, text=True, check=False, timeout=60)
    assert config.returncode == 0, config.stdout + config.stderr


def test_metrics_follow_prometheus_conventions(tmp_path: Path) -> None:
    rack = provisioned_rack(tmp_path, nodes=4, provisioned=2, failed=1)
    with running_listener(rack) as web:
        r = httpx.get(f"{web.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert {"racker_nodes", "racker_node_provisioned", "racker_node_bmc_up", "racker_node_failed",
            "racker_stage_duration_seconds", "racker_boot_requests", "racker_dhcp_lease_events",
            "racker_runs", "racker_run_failures"} <= set(families)
    for name in ("racker_boot_requests", "racker_runs", "racker_run_failures",
                 "racker_dhcp_lease_events"):
        assert families[name].type == "counter"
        assert all(s.name == f"{name}_total" for s in families[name].samples
                   if not s.name.endswith("_created"))
    assert families["racker_stage_duration_seconds"].type == "histogram"
    states = {s.labels["state"]: s.value for s in families["racker_nodes"].samples}
    assert states == {"idle": 1, "running": 0, "failed": 1, "provisioned": 2, "excluded": 0}
    bmc = [s for s in families["racker_stage_duration_seconds"].samples
           if s.labels["stage"] == "bmc" and s.name.endswith("_count")]
    assert bmc[0].value == 4
    requests = [s for s in families["racker_boot_requests"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in requests] == [
        ({"endpoint": "/boot.ipxe", "status": "200"}, 4)]
    labels = {k for f in families.values() for s in f.samples for k in s.labels}
    assert labels <= {"state", "mac", "name", "stage", "le", "endpoint", "status", "command",
                      "outcome"}
    assert re.search(r'racker_run_failures_total\{command="bootstrap"\} 1\.0', r.text)


def test_one_prometheus_scrapes_two_racks(tmp_path: Path) -> None:
    racks = {"rack-a": provisioned_rack(tmp_path / "a", nodes=3, provisioned=3, failed=0),
             "rack-b": provisioned_rack(tmp_path / "b", nodes=4, provisioned=1, failed=1)}
    for paths in racks.values():  # the token Prometheus sends, as docs/fleet/prometheus.yml does
        subprocess.run([str(Path(sys.executable).parent / "racker"), "api", "token"], check=True,
                       env={"PATH": "/usr/bin:/bin", **paths_env(paths)}, capture_output=True)
    with ExitStack() as stack:
        jobs = []
        for name, paths in racks.items():
            web = stack.enter_context(running_listener(paths))
            jobs.append({
                "job_name": f"racker-{name}", "scrape_interval": "1s",
                "authorization": {"type": "Bearer",
                                  "credentials_file": str(paths.state_dir / "api-token")},
                "static_configs": [{"targets": [web.url.removeprefix("http://")],
                                    "labels": {"rack": name}}]})
        config = {"global": {"evaluation_interval": "1s"}, "rule_files": ["racker.rules.yml"],
                  "scrape_configs": jobs}
        prom_dir = tmp_path / "prometheus"
        prom_dir.mkdir()
        url = stack.enter_context(prometheus(prom_dir, config))
        counts = query(url, "rack:racker_nodes_provisioned:sum", want=2)
        assert {r["metric"]["rack"]: float(r["value"][1]) for r in counts} == {
            "rack-a": 3.0, "rack-b": 1.0}
        direct = query(url, "sum by (rack) (racker_node_provisioned)", want=2)
        assert {r["metric"]["rack"]: float(r["value"][1]) for r in direct} == {
            "rack-a": 3.0, "rack-b": 1.0}
        up = query(url, 'up{job=~"racker-.*"}', want=2)
        assert all(r["value"][1] == "1" for r in up)  # the token was accepted
        failing = query(url, 'ALERTS{alertname="RackerNodeFailed"}', want=1, timeout=90)
        assert [(a["metric"]["rack"], a["metric"]["name"]) for a in failing] == [
            ("rack-b", "node-1")]  # the second node (names count from 0)
