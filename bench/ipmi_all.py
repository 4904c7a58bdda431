"""`ipmi --all power status` over 48 ipmi_sim BMCs on loopback vs one `ipmi` run per node, and
vs `racker status` over the same 48 BMCs (both go through racker's pooled BMC driver: the goal
is `ipmi --all power status` within 1.5× of `racker status`).

The reference's `--all` ran the helper once per node, one after the other (plus an ARP scan and a
container start per node, not counted here). racker runs all nodes in one process, bounded
concurrency, blocks printed in order. Also measured: bare `ipmitool power status` per node, one
after the other (a lower bound for the reference, which added a container and an ARP scan per
node). Prints per-round figures and a RESULT line.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration._ipmisim_rki import ipmi_sims
from tests.rackfixtures import IPMI_PASSWORD, IPMI_USER, bmc_mac, secondary_mac, write_rack

from bench._common import result_line, timed

N = 48
ROUNDS = 3


def main() -> int:
    ipmi = str(Path(sys.executable).with_name("ipmi"))
    racker = str(Path(sys.executable).with_name("racker"))
    with tempfile.TemporaryDirectory(prefix="rki-bench-") as tmp:
        root = Path(tmp)
        env = write_rack(root, N)
        net = Path(env["RACKER_SYS_CLASS_NET"])
        shutil.rmtree(net / "eth1")
        (net / "lo" / "address").write_text(secondary_mac(0) + "\n")
        prefix = f"127.{secrets.randbelow(100) + 100}.{secrets.randbelow(250) + 1}"
        ips = [f"{prefix}.{10 + i}" for i in range(1, N + 1)]
        dnsmasq = Path(env["RACKER_STATE_DIR"]) / "dnsmasq"
        dnsmasq.mkdir(parents=True)
        expiry = int(time.time()) + 3600
        (dnsmasq / "dnsmasq.leases").write_text(
            "".join(f"{expiry} {bmc_mac(i + 1)} {ip} * *\n" for i, ip in enumerate(ips)))
        full = {**os.environ, **env, "USE_STDIN": "0", "USE_TTY": "0", "IPMI_TIMEOUT": "2"}

        def run(*args: str, prog: str = ipmi) -> str:
            p = subprocess.run([prog, *args], env=full, capture_output=True, text=True,
                               timeout=300, check=False)
            if p.returncode != 0:
                raise SystemExit(f"{Path(prog).name} {' '.join(args)} failed: "
                                 f"{p.stdout}{p.stderr}")
            return p.stdout

        t_start = time.perf_counter()
        with ipmi_sims(root / "sims", ips, IPMI_USER, IPMI_PASSWORD):
            print(f"started {N} ipmi_sim BMCs in {time.perf_counter() - t_start:.2f} s")
            out = run("--all", "power", "status")
            assert out.count("Chassis Power is on") == N, out
            def bare_ipmitool() -> None:
                for ip in ips:
                    subprocess.run(["ipmitool", "-I", "lanplus", "-C3", "-H", ip, "-U", IPMI_USER,
                                    "-E", "power", "status"], capture_output=True, check=True,
                                   env={**full, "IPMI_PASSWORD": IPMI_PASSWORD}, timeout=60)

            status = run("status", prog=racker)
            assert status.count(" on ") + status.count(" on\n") >= N, status
            all_s, seq_s, diag_s, bare_s, status_s = [], [], [], [], []
            for r in range(ROUNDS):
                all_s.append(timed(lambda: run("--all", "power", "status")))
                status_s.append(timed(lambda: run("status", prog=racker)))
                diag_s.append(timed(lambda: run("--all", "diag")))
                seq_s.append(timed(lambda: [run(bmc_mac(i + 1), "power", "status")
                                            for i in range(N)]))
                bare_s.append(timed(bare_ipmitool))
                print(f"round {r + 1}: --all power status {all_s[-1]:.2f} s, "
                      f"racker status {status_s[-1]:.2f} s, "
                      f"--all diag {diag_s[-1]:.2f} s, "
                      f"one ipmi per node {seq_s[-1]:.2f} s, "
                      f"bare ipmitool per node {bare_s[-1]:.2f} s")
    a, s, d = statistics.median(all_s), statistics.median(seq_s), statistics.median(diag_s)
    b, st = statistics.median(bare_s), statistics.median(status_s)
    print(f"goal: --all power status within 1.5x of racker status: {a / st:.2f}x "
          f"({'met' if a <= 1.5 * st else 'NOT met'})")
    print(result_line(bmcs=N, all_power_status_s=a, racker_status_s=st, vs_status=a / st,
                      all_diag_s=d, sequential_per_node_s=s, sequential_bare_ipmitool_s=b,
                      speedup=s / a, speedup_vs_bare=b / a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
