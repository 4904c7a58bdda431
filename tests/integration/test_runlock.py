"""One provisioning run and one `racker serve` per state folder: the real `racker` commands
against a lock held by another live process, refused at once naming it; the kernel releases the
lock when that process dies (kill -9 included); a state folder that cannot hold the lock file
(a read-only tmpfs) is named in a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from racker.adapters.fs.runlock import AlreadyRunning, held
from racker.adapters.fs.runlock import holder as probe
from tests.conftest import require_root
from tests.rackfixtures import write_rack

RACKER = str(Path(sys.executable).with_name("racker"))

HOLDER = """
import sys
from pathlib import Path
from racker.adapters.fs.runlock import held
with held(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def holder(lock_file: Path, command: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `lock_file` as `command` until the block ends (or it is killed)."""
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_file), command], text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "held\n"  # blocks until the lock is really held
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def racker(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    r = subprocess.run([RACKER, *args], env=env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, check=False)
    return r, time.monotonic() - t0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, **write_rack(tmp_path, 2)}


@pytest.mark.parametrize("args", [("bootstrap", "-provision", "flatcar"), ("apply", "--yes")])
def test_second_run_is_refused_at_once_naming_the_running_one(env: dict[str, str],
                                                              args: tuple[str, ...]) -> None:
    state = Path(env["RACKER_STATE_DIR"])
    with holder(state / "run.lock", "racker bootstrap") as first:
        r, took = racker(env, *args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"racker {args[0]} refused: pid {first.pid}: racker bootstrap (started " in r.stderr
    assert "is running on this state folder" in r.stderr
    assert str(state / "run.lock") in r.stderr
    assert "Traceback" not in r.stderr
    assert took < 15, took  # at once: no waiting for the lock (a busy machine starts Python slowly)


def test_serve_is_refused_while_another_serve_runs_but_not_by_a_bootstrap(
        env: dict[str, str]) -> None:
    state = Path(env["RACKER_STATE_DIR"])
    with holder(state / "serve.lock", "racker serve") as first:
        r, _ = racker(env, "serve")
    assert r.returncode == 1
    assert f"racker serve refused: pid {first.pid}: racker serve" in r.stderr
    # A provisioning run's lock is another one: serve gets past it (and stops further on, at
    # the missing configuration, which is not what this test is about).
    with holder(state / "run.lock", "racker bootstrap"):
        r, _ = racker(env, "serve")
    assert "refused" not in r.stderr, r.stderr


def test_the_kernel_releases_the_lock_of_a_killed_run(env: dict[str, str]) -> None:
    lock = Path(env["RACKER_STATE_DIR"]) / "run.lock"
    with holder(lock, "racker bootstrap") as first:
        with pytest.raises(AlreadyRunning), held(lock, "racker apply"):
            pass
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        with held(lock, "racker apply"):  # no stale lock to clean up
            assert f"pid {os.getpid()}: racker apply" in lock.read_text()


def test_a_read_only_state_folder_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    require_root()
    ro = tmp_path / "ro-state"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], check=True)
    try:
        r, _ = racker({**env, "RACKER_STATE_DIR": str(ro)}, "bootstrap", "-provision", "flatcar")
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    assert r.returncode == 1
    assert f"cannot create the lock file {ro / 'run.lock'}: Read-only file system" in r.stderr
    assert "RACKER_STATE_DIR" in r.stderr and "Traceback" not in r.stderr


def test_the_probe_names_a_live_holder_and_nothing_else(env: dict[str, str]) -> None:
    lock = Path(env["RACKER_STATE_DIR"]) / "console-recorder.lock"
    assert probe(lock) is None  # no file: nobody ever held it
    with holder(lock, "racker serve") as first:
        found = probe(lock)
        assert found is not None and found.startswith(f"pid {first.pid}: racker serve (started ")
        with pytest.raises(AlreadyRunning), held(lock, "racker apply"):
            pass
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert probe(lock) is None  # the file names it still, but it is gone
    with held(lock, "racker apply"):  # the probe left the lock free; this process holds it
        found = probe(lock)
        assert found is not None and found.startswith(f"pid {os.getpid()}: racker apply")
    assert probe(lock) is None
