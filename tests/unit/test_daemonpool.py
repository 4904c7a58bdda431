"""The pool for pyghmi's blocking calls: results, errors, one thread per session, and a call
stuck for good does not hold the process's exit."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from racker.adapters.bmc.ipmi.daemonpool import DaemonPool


def test_results_and_errors_reach_the_caller() -> None:
    pool = DaemonPool(4, "t")
    assert pool.submit(lambda a, b: a + b, 2, b=3).result(5) == 5
    with pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 // 0).result(5)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: 1)


def test_one_worker_runs_the_calls_one_after_the_other_on_one_thread() -> None:
    pool = DaemonPool(1, "session")
    seen: list[tuple[str, int]] = []
    gate = threading.Event()

    def call(n: int) -> None:
        if n == 1:
            gate.wait(5)
        seen.append((threading.current_thread().name, n))

    first = pool.submit(call, 1)
    second = pool.submit(call, 2)
    assert not second.done()  # waits behind the first
    gate.set()
    first.result(5)
    second.result(5)
    assert seen == [("session_0", 1), ("session_0", 2)]
    pool.shutdown()


def test_calls_run_at_once_up_to_max_workers() -> None:
    pool = DaemonPool(3, "t")
    arrived = threading.Barrier(3, timeout=5)  # broken unless three run at the same time
    futures = [pool.submit(arrived.wait) for _ in range(3)]
    assert sorted(f.result(10) for f in futures) == [0, 1, 2]
    pool.shutdown()


def test_a_call_stuck_for_good_does_not_hold_the_exit() -> None:
    code = ("import threading\n"
            "from racker.adapters.bmc.ipmi.daemonpool import DaemonPool\n"
            "DaemonPool(1, 'login').submit(threading.Event().wait)\n"
            "print('bye')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=False)
    assert (r.returncode, r.stdout) == (0, "bye\n"), r.stderr
