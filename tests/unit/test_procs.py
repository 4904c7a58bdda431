from __future__ import annotations

import os
import subprocess
import sys
import time

from racker.procs import running


def test_a_live_process_runs_an_exited_one_does_not_even_before_it_is_reaped() -> None:
    assert running(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while running(child.pid):  # exited but not reaped: a zombie, which does not run
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert os.path.exists(f"/proc/{child.pid}")  # still there, as a zombie
    child.wait()
    assert not running(child.pid)
