"""Faults on racker's own side during `racker bootstrap` on a simulated rack (lite nodes,
virtual BMCs, racker's real dnsmasq and boot server): its dnsmasq killed, and SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from racker.core.events import EventKind
from racker.sim.state import RackDir, read_credentials
from tests.e2e.simrack import BIN, SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")


def wait_for(what: str, cond: Callable[[], object], timeout: float = 120.0,
             every: float = 0.05) -> float:
    """Poll `cond` until true (bounded); the seconds it took."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - start


def dnsmasq_pids(rack: SimRack, state: Path | None = None) -> list[int]:
    """racker's dnsmasq for this rack's state folder (not the simulator's, not other tests'),
    the main process only (its lease-script helper is a fork with the same command line)."""
    conf = f"--conf-file={(state or rack.state) / 'dnsmasq' / 'dnsmasq.conf'}"
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            pstate = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv and argv[0].endswith(b"dnsmasq") and conf.encode() in argv and pstate != "Z":
            out.append(int(pid))
    return [p for p in out if _ppid(p) not in out]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return 0


def lease_events(rack: SimRack) -> list[tuple[str, str]]:
    return [(e.mac, str(e.detail.get("ip"))) for e in rack.events()
            if e.kind is EventKind.LEASE and e.detail.get("action") in ("add", "old")]


def active_sessions(rack: SimRack, bmc_ip: str) -> int:
    """Sessions open on a virtual BMC, not counting the one asking (Get Session Info)."""
    user, password = read_credentials(RackDir(rack.root))
    r = subprocess.run([str(BIN / "racker-sim"), "exec", rack.name, "--", "ipmitool", "-I",
                        "lanplus", "-H", bmc_ip, "-U", user, "-E", "raw", "0x06", "0x3d", "0x00"],
                       env={**rack.env, "IPMI_PASSWORD": password}, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return (int(r.stdout.split()[2], 16) & 0x3F) - 1


def test_dnsmasq_killed_during_a_bootstrap_is_restarted_and_nothing_is_lost(
        tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3) as rack:
        proc = subprocess.Popen(rack.racker_argv(*BOOTSTRAP), env=rack.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for("racker's dnsmasq", lambda: dnsmasq_pids(rack))
            # killed once the rack is busy with DHCP: the first lease is in the store
            wait_for("a first lease event", lambda: lease_events(rack))
            [first] = dnsmasq_pids(rack)
            os.kill(first, signal.SIGKILL)
            took = wait_for("a new dnsmasq", lambda: [p for p in dnsmasq_pids(rack)
                                                      if p != first], timeout=30)
            print(f"dnsmasq_restart_s={took:.2f}")  # a figure; the goal is under a second
            out, _ = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, out
        macs = {s["primary_mac"] for s in rack.nodes()}
        assert rack.flag_files() == macs
        # every lease dnsmasq handed out is in the store: the node's and its BMC's
        leased = {mac for mac, _ in lease_events(rack)}
        for s in rack.nodes():
            assert s["primary_mac"] in leased and s["bmc_mac"] in leased, (s, leased)
        leases_file = (rack.state / "dnsmasq" / "dnsmasq.leases").read_text()
        for line in leases_file.splitlines():
            _, mac, ip, *_ = line.split()
            assert (mac, ip) in set(lease_events(rack)), (line, lease_events(rack))
        assert "Traceback" not in out


@pytest.mark.parametrize(("sig", "code", "said"), [
    (signal.SIGTERM, 128 + signal.SIGTERM, "racker: stopped (SIGTERM)"),
    (signal.SIGINT, 130, "racker: interrupted"),  # Ctrl-C
])
def test_sigterm_stops_a_bootstrap_cleanly_and_the_next_one_resumes(
        tmp_path: Path, sig: signal.Signals, code: int, said: str) -> None:
    with sim_rack(tmp_path, 3) as rack:
        slow = rack.nodes()[2]
        # one node never reports: the run is surely still going when it is stopped
        rack.sim("fault", slow["node"], "no-boot-report", "--name", rack.name)
        # NOTE: the slow node's boot stage must outlast the wait for its install report: at
        # the other tests' scale (0.02) it closed after 18 s, and a fresh-clone run on a
        # loaded machine saw the run fail that node before the test sent its signal
        proc = subprocess.Popen(rack.racker_argv(*BOOTSTRAP, extra={"RACKER_TIMEOUT_SCALE": "0.2"}),
                                env=rack.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for("the slow node's install report",
                     lambda: any(e.kind is EventKind.INSTALLED for e in rack.events(
                         slow["primary_mac"])), timeout=180, every=0.3)
            assert dnsmasq_pids(rack)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == code, out + err
        assert said in err and "Traceback" not in out + err
        # a clean stop: dnsmasq stopped, the run's event log written, every BMC session closed
        assert dnsmasq_pids(rack) == []
        logs = sorted((rack.folder / "logs").iterdir())
        assert (logs[-1] / "events.log").is_file()
        for s in rack.nodes():
            assert active_sessions(rack, s["bmc_ip"]) == 0, s
        rack.sim("fault", slow["node"], "no-boot-report", "--clear", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Continuing the interrupted bootstrap" in r.stdout
        assert rack.flag_files() == {s["primary_mac"] for s in rack.nodes()}


@pytest.mark.parametrize("size", ["48k", "512k"])  # full while fetching assets; while installing
def test_a_full_state_filesystem_is_named_and_a_rerun_with_space_completes(
        tmp_path: Path, size: str) -> None:
    small = tmp_path / "small-state"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(small)],
                   check=True)
    try:
        with sim_rack(tmp_path, 2) as rack:
            extra = {"RACKER_STATE_DIR": str(small)}
            r = rack.racker(*BOOTSTRAP, extra=extra)
            assert r.returncode == 1, r.stdout + r.stderr
            assert f"racker: error: {small}" in r.stderr, r.stderr
            assert "free space on the state folder's filesystem" in r.stderr
            assert "internal error" not in r.stderr and "Traceback" not in r.stderr
            # nothing half-written: no partial download published, the store readable
            flatcar = small / "assets" / "flatcar"
            published = [v for v in flatcar.iterdir() if not v.is_symlink()] \
                if flatcar.is_dir() else []
            assert all(v.name != ".partial" and not v.name.startswith(".partial-")
                       and (v / ".complete").exists() for v in published), published
            if (small / "racker.db").exists():
                with sqlite3.connect(small / "racker.db") as db:
                    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                db.close()
            assert not dnsmasq_pids(rack, small)
            subprocess.run(["mount", "-o", "remount,size=256m", str(small)], check=True)
            r = rack.racker(*BOOTSTRAP, extra=extra)
            assert r.returncode == 0, r.stdout + r.stderr
            assert rack.flag_files() == {s["primary_mac"] for s in rack.nodes()}
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


# NOTE: at real stage deadlines this test takes 1-2 minutes on an idle machine and over 300 s
# (the suite's default timeout) on a loaded one; its own bound is the bootstrap's 900 s.
@pytest.mark.timeout(960)
def test_a_lossy_rack_is_provisioned_through_by_retries(tmp_path: Path) -> None:
    """Every BMC drops 30 % of its datagrams (bmc-lossy), every node's link 5 % of its DHCP and
    TFTP datagrams (net-lossy): the bootstrap completes without a failure or a retry round."""
    with sim_rack(tmp_path, 3) as rack:
        for s in rack.nodes():
            rack.sim("fault", s["node"], "bmc-lossy", "--name", rack.name)
            rack.sim("fault", s["node"], "net-lossy", "--name", rack.name)
        started = time.monotonic()
        # NOTE: a real rack's stage deadlines (the other lite tests use 0.02): a node
        # whose link loses 5 % of its TFTP blocks waits out the PXE ROM's 2 s timer some 30
        # times for ipxe.efi, as a real one would. racker's own calls are not given longer.
        r = rack.racker(*BOOTSTRAP, extra={"RACKER_TIMEOUT_SCALE": "1", "RACKER_DEBUG": "1"},
                        timeout=900)
        print(f"lossy_bootstrap_s={time.monotonic() - started:.1f}")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "➤ OS installation via PXE (3/3)... ✓ done" in r.stdout, r.stdout
        assert rack.flag_files() == {s["primary_mac"] for s in rack.nodes()}
        assert not [e for e in rack.events() if e.kind is EventKind.ERROR]
        assert all({"bmc-lossy", "net-lossy"} <= set(s["faults"]) for s in rack.nodes()), \
            rack.nodes()
