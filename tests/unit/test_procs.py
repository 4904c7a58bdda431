from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from racker.adapters.procs import running
from racker.app.configuration.loaded import dnsmasq_running
from racker.paths import Paths
from tests.rackfixtures import write_rack


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


def test_dnsmasq_running_reads_racker_s_pid_file(tmp_path: Path) -> None:
    paths = Paths.from_env(write_rack(tmp_path, 1))
    assert not dnsmasq_running(paths)  # no pid file
    paths.dnsmasq_dir.mkdir(parents=True, exist_ok=True)
    pid_file = paths.dnsmasq_dir / "dnsmasq.pid"
    pid_file.write_text("not a pid\n")
    assert not dnsmasq_running(paths)
    pid_file.write_text(f"{os.getpid()}\n")
    assert dnsmasq_running(paths)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pid_file.write_text(f"{child.pid}\n")
    deadline = time.monotonic() + 10
    while dnsmasq_running(paths):  # it exited: its pid names no dnsmasq any more
        assert time.monotonic() < deadline
        time.sleep(0.01)
    child.wait()
