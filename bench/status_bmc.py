"""Benchmark: power status of 48 BMCs, racker's concurrent path vs. one client run per BMC,
one after the other, for both protocols.

IPMI: 48 OpenIPMI `ipmi_sim` BMCs on loopback addresses 127.X.Y.1..48, ten rounds of racker's
pooled sessions (power and chassis status) against sequential `ipmitool` per node (what the
reference's `ipmi --all` did); afterwards every BMC must report exactly the sessions expected.

Redfish: 48 of the simulator's virtual BMCs speaking Redfish over HTTPS (in a child process,
`bench._redfish_fleet`), on 127.X.Z.1..48. A racker round is what `racker status` does: a new
driver, every BMC's certificate checked against its pin, a session opened, the power state
read, the session deleted. Against it, DMTF's `redfishtool` run once per BMC, one after the
other (Session auth, the system's PowerState).
Last line: `RESULT bmcs=48 racker_s=… sequential_ipmitool_s=… speedup=… redfish_racker_s=…
sequential_redfishtool_s=… redfish_speedup=…` (seconds per round).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.ipmisim import IpmiSim, start_ipmi_sim

from bench._common import result_line
from bench._redfish import redfish_figures
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi.driver import IpmiBmc, IpmiDriver, IpmiSettings

BMCS = 48
ROUNDS = 10
ROUND_LIMIT_S = 30.0


def start_all(tmp: Path) -> list[IpmiSim]:
    """48 ipmi_sim processes on 127.X.Y.1..48 (port 623 as root, else a free port)."""
    rnd = random.SystemRandom()
    prefix = f"127.{rnd.randint(10, 250)}.{rnd.randint(1, 250)}"
    port = 623 if os.geteuid() == 0 else None
    return [start_ipmi_sim(tmp, address=f"{prefix}.{i}", port=port, power=str(i % 2))
            for i in range(1, BMCS + 1)]


async def racker_rounds(sims: list[IpmiSim]) -> tuple[list[float], int, list[int]]:
    """Ten rounds over all BMCs at once; returns round times, failures, active sessions."""
    settings = IpmiSettings(timeout=5.0, retries=2)
    times: list[float] = []
    failures = 0
    async with IpmiDriver(settings) as driver:
        targets = [s.target(node=f"node-{i}") for i, s in enumerate(sims)]

        async def query(t: BmcTarget) -> None:
            bmc = await driver.open(t)
            await bmc.power_status()
            await bmc.chassis_status()

        for _ in range(ROUNDS):
            start = time.perf_counter()
            results = await asyncio.wait_for(
                asyncio.gather(*(query(t) for t in targets), return_exceptions=True),
                ROUND_LIMIT_S)
            times.append(time.perf_counter() - start)
            failures += sum(1 for r in results if isinstance(r, BaseException))
        handles = [IpmiBmc(driver, t) for t in targets]
        active = [a for _, a in await asyncio.gather(*(h.session_info() for h in handles))]
        logins = driver.logins
    print(f"racker: {logins} logins for {BMCS} BMCs over {ROUNDS} rounds")
    return times, failures, active


def ipmitool_rounds(sims: list[IpmiSim]) -> tuple[list[float], int]:
    times: list[float] = []
    failures = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for s in sims:
            for args in (("power", "status"), ("chassis", "status")):
                r = s.ipmitool(*args, timeout=ROUND_LIMIT_S)
                failures += r.returncode != 0
        times.append(time.perf_counter() - start)
    return times, failures


def sessions_left(sims: list[IpmiSim]) -> list[int]:
    """Active sessions per BMC as a fresh ipmitool session sees them, minus itself."""
    out = []
    for s in sims:
        r = s.ipmitool("raw", "0x06", "0x3d", "0x00")
        out.append((int(r.stdout.split()[2], 16) & 0x3F) - 1 if r.returncode == 0 else -1)
    return out


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rkb-bench-") as tmpdir:
        t0 = time.perf_counter()
        sims = start_all(Path(tmpdir))
        print(f"started {len(sims)} ipmi_sim BMCs on {sims[0].address}..{sims[-1].address}:"
              f"{sims[0].port} in {time.perf_counter() - t0:.2f} s")
        try:
            racker_times, racker_fail, active = asyncio.run(racker_rounds(sims))
            left_after_racker = sessions_left(sims)
            tool_times, tool_fail = ipmitool_rounds(sims)
            left_after_tool = sessions_left(sims)
        finally:
            for s in sims:
                s.stop()
    fmt = " ".join(f"{t:.3f}" for t in racker_times)
    print(f"racker rounds (s): {fmt}")
    print(f"  first round (logins) {racker_times[0]:.3f} s, later rounds median "
          f"{statistics.median(racker_times[1:]):.3f} s, failures {racker_fail}")
    print(f"sequential ipmitool rounds (s): {' '.join(f'{t:.3f}' for t in tool_times)}")
    print(f"  median {statistics.median(tool_times):.3f} s, failures {tool_fail}")
    print(f"sessions while racker worked, per BMC: {sorted(set(active))} (expected [1])")
    print(f"sessions left after racker closed: {sorted(set(left_after_racker))} (expected [0]); "
          f"after ipmitool: {sorted(set(left_after_tool))} (expected [0])")
    racker_s = statistics.mean(racker_times)
    tool_s = statistics.mean(tool_times)
    ok = (racker_fail == 0 and tool_fail == 0 and set(active) == {1}
          and set(left_after_racker) == {0} and set(left_after_tool) == {0})
    print(f"per round, mean over {ROUNDS}: racker {racker_s:.3f} s, "
          f"sequential ipmitool {tool_s:.3f} s; checks {'passed' if ok else 'FAILED'}")
    rf = redfish_figures(BMCS)
    print(result_line(bmcs=BMCS, racker_s=racker_s, sequential_ipmitool_s=tool_s,
                      speedup=f"{tool_s / racker_s:.1f}", redfish_racker_s=rf.racker_s,
                      sequential_redfishtool_s=rf.tool_s,
                      redfish_speedup=f"{rf.tool_s / rf.racker_s:.1f}"))
    return 0 if ok and rf.ok else 1


if __name__ == "__main__":
    sys.exit(main())
