"""What recording the nodes' serial consoles costs a bootstrap: 48 lite nodes provisioned with
console capture (racker holds a SOL session to each node's virtual BMC and writes
`<state>/console/<mac>.log`) and without it (`RACKER_CONSOLE_CAPTURE=0`), in one run.

Each bootstrap runs on a fresh rack made by `racker-sim create`, exactly as an operator runs it
(bench/provision.py); the two modes alternate for BENCH_ROUNDS rounds (default 5) so that a
busy machine slows both alike; medians are reported. Goals: capture costs at most 10 % more
wall time (ratio ≤ 1.10), and racker's capture uses under 5 % of one core.

The capture's CPU is measured three ways: as the difference of racker's own CPU time with and
without capture (each run records its process's CPU at its end); as the difference with its
helper processes too (dnsmasq, the lease hook, `racker-sim exec`: noisier, as their CPU varies
by more than the capture costs on a busy machine); and alone: racker's capture use case with
its real SOL client in this process, against 48 virtual BMCs in another (bench/_sol_fleet.py)
whose hosts write as many lines as the bootstrap's consoles held; its process CPU time over the
bootstrap's wall time is the share.
The command sessions to the 48 BMCs are logged in before that clock starts, as a bootstrap's
BMC check has them before the capture begins.
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
from bench.provision import sim

BIN = Path(sys.executable).parent
NODES = int(os.environ.get("BENCH_NODES", "48"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
"""NOTE: 5, not 3: a bootstrap's wall time varies by up to a second with when the simulated BMCs'
DHCP clients next ask (every second), more than capture costs: single rounds' ratios ranged
from 0.88 to 1.50 in this session's 3-round runs."""


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    """CPU time of racker and what it waited for (dnsmasq, the lease hook, racker-sim exec)."""
    racker_cpu_s: float
    """CPU time of the racker process alone, as its run's end event records it: what the
    capture adds to, without the other processes' noise."""
    console_lines: int
    """Console lines recorded over all nodes (0 without capture)."""


def bootstrap(work: Path, capture: bool) -> Run:
    """A fresh rack of NODES lite nodes, bootstrapped with or without console capture."""
    name = "c" + secrets.token_hex(3)
    env = {**os.environ, "RACKER_SIM_DIR": str(work / name),
           "RACKER_SIM_CACHE": str(work / "cache")}
    sim(env, "create", "--generate", str(NODES), "--name", name)
    try:
        sim(env, "exec", name, "--", str(BIN / "racker"), "factory", "gen-ssh-key")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        r = subprocess.run([str(BIN / "racker-sim"), "exec", name, "--", "env",
                            "RACKER_TIMEOUT_SCALE=0.2", "RETRY_SEC=120",
                            f"RACKER_CONSOLE_CAPTURE={int(capture)}", str(BIN / "racker"),
                            "bootstrap", "-provision", "flatcar", "-onfailure", "cancel"],
                           env=env, text=True, capture_output=True, timeout=1200, check=False)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            raise SystemExit(f"bootstrap failed (capture={capture}):\n{r.stdout[-3000:]}")
        state = work / name / name / "state"
        flags = work / name / name / "home" / "flatcar-container-linux" / "assets"
        if len(list(flags.iterdir())) != NODES:
            raise SystemExit(f"not every node provisioned (capture={capture})")
        logs = list((state / "console").glob("*.log")) if capture else []
        if capture and len(logs) != NODES:
            raise SystemExit(f"{len(logs)} console logs for {NODES} nodes")
        lines = sum(len(p.read_text().splitlines()) for p in logs)
        return Run(took, cpu, racker_cpu(state), lines)
    finally:
        sim(env, "destroy", name)


def racker_cpu(state: Path) -> float:
    """The CPU seconds the last racker run of `state` recorded at its end."""
    from racker.adapters.fs.store import Store
    from racker.core.events import EventKind

    with Store.in_state_dir(state) as store:
        ends = [e for e in store.events() if e.kind is EventKind.RUN
                and e.detail.get("phase") == "end"]
    return float(ends[-1].detail["cpu_s"])


def capture_alone(work: Path, lines: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of capturing NODES consoles of `lines` lines each."""
    import asyncio

    from racker.adapters.bmc.interfaces import BmcTarget
    from racker.adapters.bmc.ipmi.driver import IpmiDriver, IpmiSettings
    from racker.adapters.fs.store import Store
    from racker.app.consolecapture import ConsoleCapture
    from racker.model import Node, PlannedNode, Role

    env = {**os.environ, "BENCH_SOL_PASSWORD": "bench-sol-1"}
    fleet = subprocess.Popen([sys.executable, "-m", "bench._sol_fleet", str(NODES), str(lines),
                              "BENCH_SOL_PASSWORD"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert fleet.stdin is not None and fleet.stdout is not None
    ports = [int(p) for p in fleet.stdout.readline().split()]
    nodes = [PlannedNode(Node(f"52:54:00:00:{i // 256:02x}:{i % 256:02x}", "", None, "", "",
                              i + 2), Role.NODE, i, f"node-{i}", "", "") for i in range(NODES)]
    by_mac = dict(zip((n.mac for n in nodes), ports, strict=True))

    async def run() -> tuple[float, float]:
        async with IpmiDriver(IpmiSettings(timeout=5.0)) as driver:
            def target(node: PlannedNode) -> BmcTarget:
                return BmcTarget(node.name, "127.0.0.1", "admin", "bench-sol-1", by_mac[node.mac])

            async def open_console(node: PlannedNode, take_over: bool) -> object:
                return await (await driver.open(target(node))).serial_console(take_over=take_over)

            # NOTE: a bootstrap has a command session to every BMC before the capture starts
            # (its BMC check); those logins are not the capture's cost
            await asyncio.gather(*(driver.open(target(n)) for n in nodes))
            with Store(work / "bench-console.db") as store:
                cpu, wall = time.process_time(), time.perf_counter()
                cap = ConsoleCapture(open_console, work / "console", store)  # type: ignore[arg-type]
                cap.start(nodes)
                for n in nodes:
                    await cap.ready(n)
                assert fleet.stdin is not None
                fleet.stdin.write("\n")
                fleet.stdin.flush()
                last = f"number {lines - 1}"
                while not all(last in (cap.last_lines(n, 1) or [""])[-1] for n in nodes):
                    await asyncio.sleep(0.5)  # reading 48 logs costs CPU too: rarely
                await cap.stop()
                return time.process_time() - cpu, time.perf_counter() - wall

    try:
        return asyncio.run(run())
    finally:
        fleet.stdin.close()
        fleet.wait(30)


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="racker-bench-console-"))
    try:
        with_, without = [], []
        for r in range(1, ROUNDS + 1):
            # NOTE: the order alternates: the second bootstrap of a round was faster in each of
            # five rounds whichever mode it ran (a rack just destroyed, a warm cache)
            if r % 2:
                a, b = bootstrap(work, capture=False), bootstrap(work, capture=True)
            else:
                b, a = bootstrap(work, capture=True), bootstrap(work, capture=False)
            without.append(a)
            with_.append(b)
            print(f"round {r}: without capture {a.wall_s:.1f} s (CPU {a.cpu_s:.2f} s, racker "
                  f"{a.racker_cpu_s:.2f} s), with capture {b.wall_s:.1f} s (CPU {b.cpu_s:.2f} s,"
                  f" racker {b.racker_cpu_s:.2f} s, {b.console_lines} console lines), ratio "
                  f"{b.wall_s / a.wall_s:.3f}", flush=True)
        wall_off = statistics.median(x.wall_s for x in without)
        wall_on = statistics.median(x.wall_s for x in with_)
        pairs = list(zip(without, with_, strict=True))
        extra_cpu = statistics.median(b.cpu_s - a.cpu_s for a, b in pairs)
        extra_racker = statistics.median(b.racker_cpu_s - a.racker_cpu_s for a, b in pairs)
        ratio = wall_on / wall_off
        core_share = max(0.0, extra_cpu) / wall_on
        racker_share = max(0.0, extra_racker) / wall_on
        lines = int(statistics.median(x.console_lines for x in with_))
        alone_cpu, alone_wall = capture_alone(work, max(1, lines // NODES))
        alone_share = alone_cpu / wall_on
        print(f"capture alone: {NODES} consoles of {lines // NODES} lines: CPU {alone_cpu:.2f} s "
              f"in {alone_wall:.1f} s")
        cpu_met = alone_share < 0.05 and racker_share < 0.05
        print(f"goal: wall-time ratio <= 1.10: {'met' if ratio <= 1.10 else 'NOT met'}; "
              f"capture CPU < 5 % of a core: {'met' if cpu_met else 'NOT met'} "
              f"(alone {alone_share:.1%}, racker's own CPU by difference {racker_share:.1%}; "
              f"with its helper processes {core_share:.1%})")
        print(result_line(nodes=NODES, rounds=ROUNDS, without_s=wall_off, with_s=wall_on,
                          ratio=ratio, capture_cpu_diff_s=extra_cpu,
                          capture_core_share_diff=core_share, racker_cpu_diff_s=extra_racker,
                          racker_core_share_diff=racker_share, capture_cpu_alone_s=alone_cpu,
                          capture_core_share_alone=alone_share, console_lines=lines))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
