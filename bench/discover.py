"""`racker factory discover` on a 1-node and a 48-node simulated rack made without nodes.csv
(`racker-sim create --generate N --no-inventory`): the servers are found concurrently, so the
48-node rack should take at most 2x the 1-node rack's time.

Prints both times and ends with `RESULT nodes_a=1 discover_a_s=… nodes_b=48 discover_b_s=…
ratio=…`. Needs root. SIM_NODES overrides 48.
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

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import result_line

NODES = int(os.environ.get("SIM_NODES", "48"))
BIN = Path(sys.executable).parent


def _sim(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(BIN / "racker-sim"), *args], env=env, text=True,
                       capture_output=True, timeout=900, check=False)
    if r.returncode != 0:
        raise SystemExit(f"racker-sim {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r


def discover(nodes: int, work: Path) -> float:
    """Seconds `racker factory discover` takes on a fresh rack of `nodes` servers."""
    name = f"dsb{secrets.token_hex(3)}"
    env = {**os.environ, "RACKER_SIM_DIR": str(work / name)}
    _sim(env, "create", "--generate", str(nodes), "--name", name, "--no-inventory")
    try:
        own = (work / name / name / "sim-nodes.csv").read_text().splitlines()
        mgmt_bmc = own[1].split(",")[1].strip()
        start = time.perf_counter()
        r = subprocess.run([str(BIN / "racker-sim"), "exec", name, "--", "env",
                            "RACKER_TIMEOUT_SCALE=0.2", str(BIN / "racker"), "factory",
                            "discover", "-interface", "eth1", "-management-bmc", mgmt_bmc],
                           env=env, text=True, capture_output=True, timeout=1800, check=False)
        took = time.perf_counter() - start
        if r.returncode != 0 or f"and {nodes} servers" not in r.stdout:
            raise SystemExit(f"discover of {nodes} nodes failed:\n{r.stdout}{r.stderr}")
        return took
    finally:
        _sim(env, "destroy", name)


def main() -> int:
    if os.geteuid() != 0:
        print("bench/discover.py needs root (network namespaces)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="racker-bench-discover-"))
    try:
        one = discover(1, work)
        print(f"1 node: discover {one:.1f} s")
        many = discover(NODES, work)
        print(f"{NODES} nodes: discover {many:.1f} s (ratio {many / one:.2f}; goal <= 2)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(result_line(nodes_a=1, discover_a_s=one, nodes_b=NODES, discover_b_s=many,
                      ratio=many / one))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
