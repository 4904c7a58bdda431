"""Bootstrap of 1 node and of 48 lite nodes on the simulator, in one run.

Each rack is made by `racker-sim create`, then `racker bootstrap -provision flatcar` runs in its
management node exactly as an operator runs it (assets from the rack's mirror, BMC check,
install, first boot); only the bootstrap is timed. Every node must end with its flag file.
Goal: 48 nodes take at most twice as long as one (ratio ≤ 2).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._common import result_line

BIN = Path(sys.executable).parent
NODES = int(os.environ.get("BENCH_NODES", "48"))


def sim(env: dict[str, str], *args: str) -> str:
    r = subprocess.run([str(BIN / "racker-sim"), *args], env=env, text=True,
                       capture_output=True, timeout=600, check=False)
    if r.returncode != 0:
        raise SystemExit(f"racker-sim {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def bootstrap(work: Path, nodes: int) -> tuple[float, float]:
    """(create seconds, bootstrap seconds) for a fresh rack of `nodes` lite nodes."""
    name = "p" + secrets.token_hex(3)
    env = {**os.environ, "RACKER_SIM_DIR": str(work / name),
           "RACKER_SIM_CACHE": str(work / "cache")}
    start = time.perf_counter()
    sim(env, "create", "--generate", str(nodes), "--name", name)
    created = time.perf_counter() - start
    try:
        start = time.perf_counter()
        r = subprocess.run([str(BIN / "racker-sim"), "exec", name, "--", "env",
                            "RACKER_TIMEOUT_SCALE=0.2", "RETRY_SEC=120", str(BIN / "racker"),
                            "bootstrap", "-provision", "flatcar", "-onfailure", "cancel"],
                           env=env, text=True, capture_output=True, timeout=1200, check=False)
        took = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"bootstrap of {nodes} nodes failed:\n{r.stdout[-3000:]}")
        flags = work / name / name / "home" / "flatcar-container-linux" / "assets"
        done = len(list(flags.iterdir()))
        if done != nodes:
            raise SystemExit(f"only {done} of {nodes} nodes provisioned")
        return created, took
    finally:
        sim(env, "destroy", name)


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="racker-bench-prov-"))
    try:
        c1, one = bootstrap(work, 1)
        print(f"1 node: rack created in {c1:.1f} s, bootstrap {one:.1f} s")
        cn, all_ = bootstrap(work, NODES)
        print(f"{NODES} nodes: rack created in {cn:.1f} s, bootstrap {all_:.1f} s")
        print(result_line(nodes=NODES, one_node_s=one, all_nodes_s=all_, ratio=all_ / one))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
