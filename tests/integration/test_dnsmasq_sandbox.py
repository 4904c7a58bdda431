"""dnsmasq supervised by racker inside what racker-serve.service allows: the unit's capability
bounding set, no new privileges, and a /proc showing only processes of the caller's own user
and nothing but process folders (ProtectProc=invisible, ProcSubset=pid). A real DHCP client in
another namespace still gets its lease, the lease hook still records it, and racker can still
stop dnsmasq (which no longer runs as root).

systemd is not running here: the restrictions are applied with setpriv and a private /proc, the
same kernel features the unit's directives use (the system call filter is not reproduced)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from racker.adapters.dnsmasq.supervisor import DnsmasqFiles, unprivileged_user
from racker.adapters.fs.store import Store
from racker.app.install import Layout, render_serve_unit
from racker.core.events import EventKind
from tests.conftest import require_root, require_tool
from tests.integration.test_dnsmasq import CLIENT_MAC, udhcpc, write_conf
from tests.netns import veth_pair

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq]

RACKER = """
import asyncio, sys
from pathlib import Path
from racker.adapters.dnsmasq.supervisor import Dnsmasq, DnsmasqFiles

async def main() -> None:
    d = Dnsmasq(DnsmasqFiles(Path(sys.argv[1])))
    await d.start()
    print("started", d.pid, flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    proc = d._proc
    await d.stop()
    print("stopped", proc.returncode if proc else None, flush=True)

asyncio.run(main())
"""


def unit_capabilities() -> list[str]:
    """The capability bounding set of the rendered unit, as setpriv names them."""
    unit = render_serve_unit(Layout(venv=Path("/opt/racker/venv"),
                                    state_dir=Path("/opt/racker-state"),
                                    version_file=Path("/opt/racker/RACKER_VERSION")))
    line = unit.replace("\\\n", " ").split("CapabilityBoundingSet=", 1)[1].splitlines()[0]
    return [c.removeprefix("CAP_").lower() for c in line.split()]


def test_dnsmasq_serves_under_the_units_restrictions(tmp_path: Path) -> None:
    require_root()
    for tool in ("dnsmasq", "busybox", "setpriv", "unshare"):
        require_tool(tool)
    caps = unit_capabilities()
    assert "dac_override" not in caps and "chown" not in caps and "fowner" not in caps
    assert "kill" not in caps  # racker signals dnsmasq from a helper run as dnsmasq's user
    files = DnsmasqFiles(tmp_path / "state")
    with veth_pair("rks", right_mac=CLIENT_MAC) as link:
        subprocess.run(["ip", "-n", link.left_ns, "addr", "add", "10.213.0.1/24", "dev",
                        link.left_if], check=True)
        write_conf(files, link.left_if)
        inner = (f"mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec setpriv "
                 f"--no-new-privs --inh-caps=-all --bounding-set=-all,"
                 f"{','.join('+' + c for c in caps)} {sys.executable} -c '{RACKER}' "
                 f"{files.state_dir}")
        racker = subprocess.Popen(
            ["ip", "netns", "exec", link.left_ns, "unshare", "--mount", "--pid", "--fork",
             "--propagation", "private", "sh", "-c", inner],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert racker.stdin and racker.stdout and racker.stderr
            first = racker.stdout.readline()
            assert first.startswith("started "), first + racker.stderr.read()
            got = udhcpc(link.right_ns, link.right_if, tmp_path)
            assert "bound 10.213.0.2" in got.stdout, got.stdout + got.stderr
            racker.stdin.write("stop\n")
            racker.stdin.flush()
            # stopped by SIGTERM from racker, sent as dnsmasq's user (racker has no CAP_KILL)
            assert racker.stdout.readline().split() == ["stopped", "0"]  # its TERM handler
            assert racker.wait(15) == 0
        finally:
            if racker.poll() is None:
                racker.kill()
                racker.wait(5)
    deadline = time.monotonic() + 10
    with Store.in_state_dir(files.state_dir) as store:
        while time.monotonic() < deadline:
            leases = [e for e in store.events(CLIENT_MAC) if e.kind is EventKind.LEASE]
            if leases:
                break
            time.sleep(0.1)
        assert leases and leases[0].detail["ip"] == "10.213.0.2"  # the hook ran
    assert b"DHCPACK" in files.log.read_bytes()  # racker wrote dnsmasq's log


def test_signals_reach_dnsmasqs_user_without_cap_kill() -> None:
    """`send_signal` (stop_orphan's path) under the unit's bounding set: a process of dnsmasq's
    user gets the signal; one that has exited already is not an error."""
    require_root()
    require_tool("setpriv")
    user, group = unprivileged_user()
    caps = ",".join("+" + c for c in unit_capabilities())
    target = subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={group}",
                               "--clear-groups", "sleep", "60"])
    try:
        code = (f"import signal; from racker.adapters.dnsmasq.signals import send_signal; "
                f"send_signal({target.pid}, signal.SIGTERM, {user!r}, {group!r}); "
                f"send_signal(2**22 + 7, signal.SIGTERM, {user!r}, {group!r})")
        sender = subprocess.run(["setpriv", "--no-new-privs", "--inh-caps=-all",
                                 f"--bounding-set=-all,{caps}", sys.executable, "-c", code],
                                capture_output=True, text=True, timeout=30)
        assert sender.returncode == 0, sender.stderr
        assert target.wait(10) == -15
    finally:
        if target.poll() is None:
            target.kill()
            target.wait(5)
