"""racker-sim at rack scale: create a 48-node lite rack, let every BMC lease an address from a
dnsmasq in the management namespace, then measure the whole simulator's idle CPU.

Prints both figures and ends with `RESULT nodes=48 create_s=… idle_cpu_pct=…`. Needs root.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import result_line
from racker.sim.net.netns import netns_pids
from racker.sim.state import RackDir, load_topology

NODES = int(os.environ.get("SIM_NODES", "48"))
IDLE_SECONDS = float(os.environ.get("SIM_IDLE_SECONDS", "65"))  # covers a lease renewal
PREFIX = "172.24.213"
RACKER_SIM = str(Path(sys.executable).with_name("racker-sim"))
"""The racker-sim of the environment running this (the venv's entry point)."""


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime + stime, plus cutime + cstime: the DHCP hook scripts udhcpc ran and reaped
        total += sum(int(f) for f in fields[11:15])
    return total


def main() -> int:
    if os.geteuid() != 0:
        print("bench/sim_scale.py needs root (network namespaces)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="rks-bench-"))
    name = f"rksb-{secrets.token_hex(3)}"
    env = {**os.environ, "RACKER_SIM_DIR": str(work / "sim")}
    sim = [RACKER_SIM]
    dnsmasq: subprocess.Popen[bytes] | None = None
    try:
        start = time.perf_counter()
        subprocess.run([*sim, "create", "--generate", str(NODES), "--name", name,
                        "--mgmt-ip", f"{PREFIX}.1/24"], env=env, check=True)
        create_s = time.perf_counter() - start
        rd = RackDir(work / "sim" / name)
        topo = load_topology(rd)
        leases = work / "leases"
        dnsmasq = subprocess.Popen([
            "ip", "netns", "exec", topo.mgmt_ns, "dnsmasq", "--keep-in-foreground", "--port=0",
            "--interface=eth1", "--bind-interfaces", "--except-interface=lo",
            f"--dhcp-range={PREFIX}.10,{PREFIX}.250,255.255.255.0,2m",
            f"--dhcp-leasefile={leases}", "--dhcp-authoritative"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            text = leases.read_text() if leases.exists() else ""
            if all(s.bmc_mac in text for s in topo.servers):
                break
            time.sleep(0.5)
        lease_s = time.perf_counter() - start - create_s
        leased = sum(1 for s in topo.servers if s.bmc_mac in leases.read_text())
        daemon = int(rd.pid_file.read_text())
        pids = [daemon] + [p for s in topo.servers for p in netns_pids(topo.bmc_ns(s))
                           + netns_pids(topo.node_ns(s))]
        t0, c0 = time.monotonic(), _cpu_ticks(pids)
        time.sleep(IDLE_SECONDS)
        t1, c1 = time.monotonic(), _cpu_ticks(pids)
        idle_pct = 100.0 * (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0)
        print(f"nodes: {NODES}, created in {create_s:.2f} s, {leased}/{NODES} BMC leases "
              f"{lease_s:.1f} s later")
        print(f"idle: {len(pids)} processes (daemon + udhcpc) used {idle_pct:.2f} % of one core "
              f"over {IDLE_SECONDS:.0f} s")
        print(result_line(nodes=NODES, create_s=round(create_s, 2),
                          idle_cpu_pct=round(idle_pct, 2), bmc_leases=leased))
        return 0
    finally:
        if dnsmasq is not None:
            dnsmasq.terminate()
            dnsmasq.wait(10)
        subprocess.run([*sim, "destroy", name], env=env, check=False)


if __name__ == "__main__":
    sys.exit(main())
