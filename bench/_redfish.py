"""The Redfish half of bench/status_bmc.py: 48 simulated Redfish BMCs, racker's status path
against `redfishtool` run once per BMC, one after the other."""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racker.adapters.bmc.interfaces import BmcTarget, PowerState
from racker.adapters.bmc.redfish.driver import RedfishDriver, RedfishSettings
from racker.adapters.bmc.redfish.tls import PinStore

ROUNDS = 5
TOOL_ROUNDS = 1
"""redfishtool takes a second or so per BMC: one sequential round is enough of a figure."""
ROUND_LIMIT_S = 60.0
USER = "admin"


@dataclass(frozen=True)
class Figures:
    racker_s: float
    tool_s: float
    ok: bool


def _start_fleet(count: int, password: str) -> tuple[subprocess.Popen[str], list[list[Any]]]:
    rnd = random.SystemRandom()
    prefix = f"127.{rnd.randint(10, 250)}.{rnd.randint(1, 250)}"
    env = {**os.environ, "RKB_FLEET_PASSWORD": password}
    proc = subprocess.Popen([sys.executable, "-m", "bench._redfish_fleet", str(count), prefix,
                             USER, "RKB_FLEET_PASSWORD"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)
    watchdog = threading.Timer(120.0, proc.kill)  # bounded: a fleet that never comes up
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        watchdog.cancel()
    if not line:
        proc.kill()
        raise SystemExit("the Redfish BMC fleet did not start")
    return proc, json.loads(line)["bmcs"]


async def _racker_round(targets: list[BmcTarget], pins: PinStore) -> tuple[float, int, int]:
    """One `racker status`: a new driver, pin check, session, power state, session deleted."""
    start = time.perf_counter()
    async with RedfishDriver(RedfishSettings(timeout=5.0, retries=1, pins=pins)) as driver:
        async def one(t: BmcTarget) -> PowerState:
            return await (await driver.open(t)).power_status()
        results = await asyncio.wait_for(
            asyncio.gather(*(one(t) for t in targets), return_exceptions=True), ROUND_LIMIT_S)
    elapsed = time.perf_counter() - start
    on = sum(1 for r in results if r is PowerState.ON)
    return elapsed, sum(1 for r in results if isinstance(r, BaseException)), on


def _tool_round(bmcs: list[list[Any]], config: Path) -> tuple[float, int]:
    tool = Path(sys.executable).parent / "redfishtool"
    failures = 0
    start = time.perf_counter()
    for address, port in bmcs:
        r = subprocess.run([str(tool), "-r", f"{address}:{port}", "-c", str(config), "-S",
                            "Always", "-A", "Session", "-T", "10", "Systems", "-F", "get",
                            "-P", "PowerState"], capture_output=True, text=True, timeout=60,
                           check=False)
        failures += r.returncode != 0 or "PowerState" not in r.stdout
    return time.perf_counter() - start, failures


def redfish_figures(count: int) -> Figures:
    """Run both paths against `count` simulated Redfish BMCs; print the figures."""
    password = secrets.token_urlsafe(12)
    t0 = time.perf_counter()
    proc, bmcs = _start_fleet(count, password)
    print(f"started {len(bmcs)} Redfish vBMCs on {bmcs[0][0]}..{bmcs[-1][0]} in "
          f"{time.perf_counter() - t0:.2f} s")
    try:
        with tempfile.TemporaryDirectory(prefix="rkb-redfish-") as tmp:
            pins = PinStore.in_state_dir(Path(tmp))
            targets = [BmcTarget(f"node{i + 1}", a, USER, password, p,
                                 bmc_mac=f"02:00:00:00:{(i + 1) // 256:02x}:{(i + 1) % 256:02x}")
                       for i, (a, p) in enumerate(bmcs)]
            rounds = [asyncio.run(_racker_round(targets, pins)) for _ in range(ROUNDS)]
            config = Path(tmp) / "redfishtool.json"
            config.write_text(json.dumps({"user": USER, "password": password}))
            config.chmod(0o600)
            tool = [_tool_round(bmcs, config) for _ in range(TOOL_ROUNDS)]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    times = [r[0] for r in rounds]
    failures = sum(r[1] for r in rounds)
    on = {r[2] for r in rounds}
    tool_times = [t for t, _ in tool]
    tool_failures = sum(f for _, f in tool)
    print(f"racker status rounds over Redfish (s): {' '.join(f'{t:.3f}' for t in times)}; "
          f"first (pins the certificates) {times[0]:.3f} s, failures {failures}, "
          f"powered on seen {sorted(on)} (expected [{(count + 1) // 2}])")
    print(f"sequential redfishtool rounds (s): {' '.join(f'{t:.3f}' for t in tool_times)}, "
          f"failures {tool_failures}")
    racker_s, tool_s = statistics.mean(times), statistics.mean(tool_times)
    ok = failures == 0 and tool_failures == 0 and on == {(count + 1) // 2}
    print(f"Redfish per round: racker {racker_s:.3f} s (mean of {ROUNDS}), sequential "
          f"redfishtool {tool_s:.3f} s; checks {'passed' if ok else 'FAILED'}")
    return Figures(racker_s, tool_s, ok)
