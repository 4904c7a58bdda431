"""Benchmark: the management listener on a 62-node rack.

A sample rack of 62 nodes, configured, with the event log of a whole bootstrap (leases, boot
server requests, stages, reports: about 40 events per node); the real listener (uvicorn on a
free loopback port). Measures the median time to serve the dashboard page, `/api/v1/nodes` and
`/metrics` (warm, 40 requests each), and how long a stage change written to the event store
takes to reach a connected Server-Sent Events client (20 changes).
Goals: each page under 50 ms median, the event under 0.5 s.
Last line: `RESULT nodes=62 page_ms=… nodes_api_ms=… metrics_ms=… sse_s=…`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from devtools.samplerack import write_sample_rack
from tests.web_support import running_listener

from bench._common import result_line, spread
from racker.adapters.fs.store import Store
from racker.app.configuration.create import configure
from racker.core.events import EventKind
from racker.model import Options, Provision
from racker.paths import Paths

NODES = 62
REQUESTS = 40
CHANGES = 20
SSE_LIMIT_S = 5.0


def seed(paths: Paths, macs: list[tuple[str, str]]) -> None:
    """The events and flag files of a finished bootstrap of every node."""
    flags = paths.flatcar_dir / "assets"
    flags.mkdir(parents=True, exist_ok=True)
    for mac, _bmc in macs:
        (flags / mac).write_text("node\n")
    with Store.in_state_dir(paths.state_dir) as s:
        run = s.add("", EventKind.RUN, detail={"phase": "start", "command": "bootstrap"}).id
        for mac, bmc in macs:
            s.add(bmc, EventKind.LEASE, detail={"action": "add", "ip": "172.24.213.200"})
            for stage in ("bmc", "pxe", "dhcp", "ipxe", "install", "boot"):
                s.add(mac, EventKind.STAGE, stage=stage)
                s.add(mac, EventKind.STAGE, stage=stage, detail={"result": "ok"})
            s.add(mac, EventKind.LEASE, detail={"action": "add", "ip": "172.24.213.2"})
            for path in ("/boot.ipxe", "/ipxe", "/ignition", *[f"/assets/f{i}" for i in range(20)],
                         "/ignition"):
                s.add(mac, EventKind.REQUEST, detail={"path": path, "status": 200})
            s.add(mac, EventKind.INSTALLED)
            s.add(mac, EventKind.BOOTED)
            s.add(mac, EventKind.PROVISIONED)
        s.add("", EventKind.RUN, detail={"phase": "end", "run": run, "command": "bootstrap",
                                         "exit_code": 0})


def median_ms(client: httpx.Client, url: str) -> float:
    for _ in range(3):  # warm: the plan is read once, then kept
        assert client.get(url).status_code == 200
    times = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200
    median, text = spread(times)
    print(f"GET {url.split('/', 3)[-1] or '/'}: {text}")
    return median * 1000


def sse_latency(url: str, paths: Paths, mac: str) -> float:
    """Seconds from a stage event's write to its arrival at an event-stream client (median)."""
    arrived: dict[int, float] = {}
    want = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{url}/events", timeout=None) as r:
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if not line.startswith("data: "):
                    continue
                data = json.loads(line[6:])
                node = next(n for n in data["status"]["nodes"] if n["mac"] == mac)
                if node["last_event"] and node["last_event"].startswith("stage dhcp"):
                    arrived[len(arrived)] = time.perf_counter()
                    want.set()

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    time.sleep(0.5)  # the stream's first, full event is not a change
    latencies = []
    with Store.in_state_dir(paths.state_dir) as s:
        for i in range(CHANGES):
            want.clear()
            written = time.perf_counter()
            s.add(mac, EventKind.STAGE, stage="dhcp",
                  detail={"result": "ok"} if i % 2 else {})
            if not want.wait(SSE_LIMIT_S):
                raise SystemExit(f"change {i} did not arrive within {SSE_LIMIT_S} s")
            latencies.append(arrived[len(arrived) - 1] - written)
            time.sleep(0.05)
    stop.set()
    print(f"stage change → SSE client: {spread(latencies)[1]}")
    return statistics.median(latencies)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="racker-bench-dashboard-") as tmp:
        paths = write_sample_rack(Path(tmp), NODES)
        (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
        (paths.home / ".ssh" / "id_rsa.pub").write_text("ssh-ed25519 AAAAbench bench@racker\n")
        configured = configure(paths, Options(provision=Provision.FLATCAR), render_only=True)
        macs = [(n.mac, n.node.bmc_mac) for n in configured.plan.nodes]
        seed(paths, macs)
        with Store.in_state_dir(paths.state_dir) as s:
            events = len(s.events())
        print(f"{NODES} nodes, {events} events in the log")
        with running_listener(paths) as web, httpx.Client() as client:
            listed = client.get(f"{web.url}/api/v1/nodes").json()
            assert listed["total_nodes"] == listed["provisioned_nodes"] == NODES, listed
            page = median_ms(client, f"{web.url}/")
            api = median_ms(client, f"{web.url}/api/v1/nodes")
            metrics = median_ms(client, f"{web.url}/metrics")
            sse = sse_latency(web.url, paths, macs[NODES // 2][0])
    goals = page < 50 and api < 50 and metrics < 50 and sse < 0.5
    print(f"goals (pages < 50 ms median, SSE < 0.5 s): {'met' if goals else 'NOT met'}")
    print(result_line(nodes=NODES, page_ms=page, nodes_api_ms=api, metrics_ms=metrics,
                      sse_s=sse))


if __name__ == "__main__":
    main()
