"""Bootstrap of 1 node and of 48 lite nodes on the simulator, in one run.

Each rack is made by `racker-sim create` and gets the factory's SSH key (`racker factory
gen-ssh-key`, as a management node leaves the factory); then `racker bootstrap -provision
flatcar` runs in its management node exactly as an operator runs it (assets from the rack's
mirror, BMC check, install, first boot). Only the bootstrap is timed. Every node must end with
its flag file. The two sizes alternate for BENCH_ROUNDS rounds (default 7), each on a fresh
rack; the RESULT line has the medians. Goal: 48 nodes take at most twice as long as one
(ratio ≤ 2).

Also measured: racker's own CPU time (user + system) per provisioned node, for 1 and for 48
nodes: the bootstrap's process and everything it waited for (its dnsmasq and the lease hook's
shells; `racker-sim exec` and `env` exec into it), not the simulator's daemon. Goal: the 48-node
figure per node no higher than the 1-node one (the wall-time ratio depends on the simulator's CPU
share on a small machine; this one does not).
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script too

from bench._common import result_line
from racker.adapters.fs.store import Store
from racker.core.events import EventKind

BIN = Path(sys.executable).parent
NODES = int(os.environ.get("BENCH_NODES", "48"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def sim(env: dict[str, str], *args: str) -> str:
    r = subprocess.run([str(BIN / "racker-sim"), *args], env=env, text=True,
                       capture_output=True, timeout=600, check=False)
    if r.returncode != 0:
        raise SystemExit(f"racker-sim {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


@dataclass(frozen=True)
class Run:
    created_s: float
    bootstrap_s: float
    to_bmcs_s: float
    """From the start until every BMC answered (preparation, dnsmasq, the BMC stage)."""
    cpu_s: float
    """CPU time of racker and the processes it waited for (dnsmasq, the lease hook)."""


def bmcs_done(store_path: Path) -> float:
    """When the last BMC check succeeded (wall clock), from racker's event store."""
    with Store(store_path) as store:
        return max(e.ts for e in store.events()
                   if e.kind is EventKind.STAGE and e.stage == "bmc" and "result" in e.detail)


def bootstrap(work: Path, nodes: int) -> Run:
    """A fresh rack of `nodes` lite nodes, bootstrapped."""
    name = "p" + secrets.token_hex(3)
    env = {**os.environ, "RACKER_SIM_DIR": str(work / name),
           "RACKER_SIM_CACHE": str(work / "cache")}
    start = time.perf_counter()
    sim(env, "create", "--generate", str(nodes), "--name", name)
    created = time.perf_counter() - start
    try:
        sim(env, "exec", name, "--", str(BIN / "racker"), "factory", "gen-ssh-key")
        wall = time.time()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        r = subprocess.run([str(BIN / "racker-sim"), "exec", name, "--", "env",
                            "RACKER_TIMEOUT_SCALE=0.2", "RETRY_SEC=120", str(BIN / "racker"),
                            "bootstrap", "-provision", "flatcar", "-onfailure", "cancel"],
                           env=env, text=True, capture_output=True, timeout=1200, check=False)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            raise SystemExit(f"bootstrap of {nodes} nodes failed:\n{r.stdout[-3000:]}")
        flags = work / name / name / "home" / "flatcar-container-linux" / "assets"
        done = len(list(flags.iterdir()))
        if done != nodes:
            raise SystemExit(f"only {done} of {nodes} nodes provisioned")
        return Run(created, took, bmcs_done(work / name / name / "state" / "racker.db") - wall,
                   cpu)
    finally:
        sim(env, "destroy", name)


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="racker-bench-prov-"))
    try:
        ones: list[float] = []
        alls: list[float] = []
        cpu_ones: list[float] = []
        cpu_alls: list[float] = []
        for r in range(1, ROUNDS + 1):
            # NOTE: the order alternates, as a round's second bootstrap may gain from the first
            # (bench/console.py saw it faster in five rounds of five)
            if r % 2:
                a, b = bootstrap(work, 1), bootstrap(work, NODES)
            else:
                b, a = bootstrap(work, NODES), bootstrap(work, 1)
            ones.append(a.bootstrap_s)
            alls.append(b.bootstrap_s)
            cpu_ones.append(a.cpu_s)
            cpu_alls.append(b.cpu_s / NODES)
            print(f"round {r}: 1 node {a.bootstrap_s:.1f} s (BMC answered at {a.to_bmcs_s:.1f} s), "
                  f"{NODES} nodes {b.bootstrap_s:.1f} s (BMCs at {b.to_bmcs_s:.1f} s), "
                  f"ratio {b.bootstrap_s / a.bootstrap_s:.2f}; racker CPU per node "
                  f"{a.cpu_s:.2f} s (1 node) and {b.cpu_s / NODES:.3f} s ({NODES} nodes); "
                  f"racks created in {a.created_s:.1f} s and {b.created_s:.1f} s")
        one, all_ = statistics.median(ones), statistics.median(alls)
        cpu_one, cpu_all = statistics.median(cpu_ones), statistics.median(cpu_alls)
        print(f"goal: CPU per node at {NODES} nodes no higher than at 1 node: "
              f"{'met' if cpu_all <= cpu_one else 'NOT met'}; wall-time ratio <= 2: "
              f"{'met' if all_ / one <= 2 else 'NOT met'}")
        print(result_line(nodes=NODES, one_node_s=one, all_nodes_s=all_, ratio=all_ / one,
                          cpu_per_node_1_s=cpu_one, cpu_per_node_all_s=cpu_all))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
