"""Idle CPU of 48 virtual BMCs in one process (what the rack simulator runs).

Starts 48 BMCs on one event loop (127.0.0.x, one random port), checks that each answers
ipmitool and pyghmi's client once (so every BMC has had sessions; the slowest pyghmi login shows
whether its client stalled), then measures the process's CPU time over an idle window.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `bench` as a package

from bench._common import result_line, timed
from racker.sim.vbmc.chassis import MemoryChassis
from racker.sim.vbmc.server import BmcRunner, VirtualBmc, serve

COUNT = 48
IDLE_S = float(os.environ.get("VBMC_IDLE_S", "10"))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pyghmi_power(bmc: VirtualBmc) -> None:
    """Log in with pyghmi's client (racker's driver), read power, log out."""
    from pyghmi.ipmi.command import Command

    cmd = Command(bmc=bmc.address, userid="admin", password="pw", port=bmc.port)
    cmd.get_power()
    cmd.ipmi_session.logout()


def main() -> int:
    with BmcRunner() as runner:
        bmcs: list[VirtualBmc] = []
        port = 0
        for i in range(COUNT):
            b = serve(f"127.0.0.{10 + i}", port, "admin", "pw", MemoryChassis(), runner=runner)
            port = b.port  # same port on every address, like 623 on a real rack
            bmcs.append(b)
        env = dict(os.environ, IPMI_PASSWORD="pw")
        ipmitool_s = []
        for b in bmcs:
            ipmitool_s.append(timed(lambda b=b: subprocess.run(  # type: ignore[misc]
                ["ipmitool", "-I", "lanplus", "-C3", "-H", b.address, "-p", str(b.port),
                 "-U", "admin", "-E", "power", "status"],
                env=env, check=True, capture_output=True, timeout=30)))
        pyghmi_s = [timed(lambda b=b: pyghmi_power(b)) for b in bmcs]  # type: ignore[misc]
        print(f"{COUNT} BMCs on port {port}: ipmitool power status mean "
              f"{sum(ipmitool_s) / COUNT:.3f} s; pyghmi login + power max {max(pyghmi_s):.3f} s")
        print(f"idling {IDLE_S:.0f} s")
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        time.sleep(IDLE_S)
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
        for b in bmcs:
            b.stop()
    percent = 100.0 * cpu / wall
    print(f"idle CPU: {cpu * 1000:.1f} ms over {wall:.1f} s = {percent:.3f} % of one core")
    print(result_line(bmcs=COUNT, idle_s=wall, idle_cpu_ms=cpu * 1000, idle_cpu_percent=percent,
                      ipmitool_mean_s=sum(ipmitool_s) / COUNT, pyghmi_max_s=max(pyghmi_s)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
