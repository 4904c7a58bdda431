"""One real Prometheus scrapes two simulated racks, each provisioned by `racker bootstrap` and
kept by `racker serve`: their listeners are relayed to the host's loopback by
`racker-sim forward`, and a PromQL query returns each rack's provisioned count."""

from __future__ import annotations

import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.simrack import BIN, SimRack, sim_rack
from tests.integration.test_metrics_prometheus import free_port, prometheus, query

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def serving(rack: SimRack, stack: ExitStack) -> None:
    """`racker serve` in the rack until the stack closes; returns once it serves."""
    serve = subprocess.Popen(rack.racker_argv("serve"), env=rack.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def stop() -> None:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)

    stack.callback(stop)
    assert serve.stdout is not None
    lines = [serve.stdout.readline(), serve.stdout.readline()]
    assert lines[1].startswith("Serving DHCP on"), lines


def forwarded(rack: SimRack, stack: ExitStack) -> str:
    """The rack's listener relayed to a free port of the host's loopback; host:port."""
    port = free_port()
    relay = subprocess.Popen([str(BIN / "racker-sim"), "forward", rack.name, "--listen",
                              f"127.0.0.1:{port}"], env=rack.env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def stop() -> None:
        relay.terminate()
        relay.communicate(timeout=30)

    stack.callback(stop)
    assert relay.stdout is not None
    assert relay.stdout.readline().startswith("forwarding")
    return f"127.0.0.1:{port}"


def test_one_prometheus_scrapes_two_simulated_racks(tmp_path: Path) -> None:
    with sim_rack(tmp_path / "a", 2) as rack_a, sim_rack(tmp_path / "b", 3) as rack_b, \
            ExitStack() as stack:
        jobs = []
        for name, rack in (("rack-a", rack_a), ("rack-b", rack_b)):
            boot = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
            assert boot.returncode == 0, boot.stdout + boot.stderr
            token = rack.racker("api", "token").stdout.strip()
            token_file = tmp_path / f"{name}.token"
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            serving(rack, stack)
            jobs.append({"job_name": f"racker-{name}", "scrape_interval": "1s",
                         "authorization": {"type": "Bearer",
                                           "credentials_file": str(token_file)},
                         "static_configs": [{"targets": [forwarded(rack, stack)],
                                             "labels": {"rack": name}}]})
        config = {"global": {"evaluation_interval": "1s"}, "rule_files": ["racker.rules.yml"],
                  "scrape_configs": jobs}
        prom = tmp_path / "prometheus"
        prom.mkdir()
        url = stack.enter_context(prometheus(prom, config))
        counts = query(url, "rack:racker_nodes_provisioned:sum", want=2)
        assert {r["metric"]["rack"]: float(r["value"][1]) for r in counts} == {
            "rack-a": 2.0, "rack-b": 3.0}
        bmcs = query(url, "sum by (rack) (racker_node_bmc_up)", want=2)
        assert {r["metric"]["rack"]: float(r["value"][1]) for r in bmcs} == {
            "rack-a": 2.0, "rack-b": 3.0}
        # every node enters `pxe` (later stages are skipped when their proof came early)
        stages = query(url, 'sum by (rack) (racker_stage_duration_seconds_count{stage="pxe"})',
                       want=2)
        assert {r["metric"]["rack"]: float(r["value"][1]) for r in stages} == {
            "rack-a": 2.0, "rack-b": 3.0}
