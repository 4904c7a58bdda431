"""dnsmasq supervised by racker in a network namespace, a real DHCP client in another."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from racker.adapters.dnsmasq.supervisor import Dnsmasq, DnsmasqFiles, check_config
from racker.adapters.fs.store import Store
from racker.adapters.procs import running
from racker.core.events import EventKind
from racker.errors import ServiceError
from tests.conftest import require_root, require_tool
from tests.netns import veth_pair

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq]

CLIENT_MAC = "52:54:00:aa:bb:02"


def write_conf(files: DnsmasqFiles, iface: str) -> None:
    files.dir.mkdir(parents=True, exist_ok=True)
    files.conf.write_text(
        f"interface={iface}\nbind-interfaces\nexcept-interface=lo\nport=0\n"
        "dhcp-range=10.213.0.128,10.213.0.254,255.255.255.0,2m\n"
        "dhcp-authoritative\ndhcp-option=3\ndhcp-option=6\n"
        f"dhcp-host={CLIENT_MAC},10.213.0.2,2m\n"
        f"dhcp-leasefile={files.dir / 'dnsmasq.leases'}\n"
    )


def udhcpc(ns: str, iface: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    # the hook only prints: /etc is shared between namespaces, nothing may touch it
    hook = tmp / "udhcpc-hook"
    hook.write_text('#!/bin/sh\necho "$1 $ip"\n')
    hook.chmod(0o755)
    return subprocess.run(
        ["ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", iface, "-n", "-q", "-f",
         "-t", "5", "-T", "1", "-s", str(hook)],
        capture_output=True, text=True, timeout=30, check=False)


def test_dnsmasq_leases_become_events_and_it_restarts(tmp_path: Path) -> None:
    require_root()
    require_tool("dnsmasq")
    require_tool("busybox")
    files = DnsmasqFiles(tmp_path / "state")
    with veth_pair("rkd", right_mac=CLIENT_MAC) as link:
        subprocess.run(["ip", "-n", link.left_ns, "addr", "add", "10.213.0.1/24", "dev",
                        link.left_if], check=True)
        write_conf(files, link.left_if)
        exits: list[int] = []

        async def scenario() -> int:
            d = Dnsmasq(files, netns=link.left_ns, backoff=(0.2, 1.0), on_exit=exits.append)
            await d.start()
            try:
                got = await asyncio.to_thread(udhcpc, link.right_ns, link.right_if, tmp_path)
                assert "bound 10.213.0.2" in got.stdout, got.stdout + got.stderr
                first = d.pid
                assert first is not None
                assert uid_of(first) != 0  # dnsmasq runs as its own user; the hook still works
                os.kill(first, signal.SIGKILL)
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if d.pid != first and d.pid is not None and running(d.pid):
                        break
                assert d.pid != first and d.restarts == 1
                got = await asyncio.to_thread(udhcpc, link.right_ns, link.right_if, tmp_path)
                assert "bound 10.213.0.2" in got.stdout
                second = d.pid
                assert second is not None
                return second
            finally:
                await d.stop()

        second = asyncio.run(scenario())
        assert not running(second)
        assert exits == [-signal.SIGKILL]
    deadline = time.monotonic() + 10
    with Store.in_state_dir(files.state_dir) as store:
        while time.monotonic() < deadline:
            leases = [e for e in store.events(CLIENT_MAC) if e.kind is EventKind.LEASE]
            if len(leases) >= 2:
                break
            time.sleep(0.2)
        assert leases and all(e.detail["ip"] == "10.213.0.2" for e in leases)
        assert leases[0].detail["action"] == "add"


STARTER = """
import asyncio, sys
from pathlib import Path
from racker.adapters.dnsmasq.supervisor import Dnsmasq, DnsmasqFiles

async def main() -> None:
    d = Dnsmasq(DnsmasqFiles(Path(sys.argv[1])), netns=sys.argv[2])
    await d.start()
    print(d.pid, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def uid_of(pid: int) -> int:
    """The effective user id of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])
    raise AssertionError(f"no Uid line for {pid}")


def test_dnsmasq_left_by_a_killed_racker_is_stopped_by_the_next(tmp_path: Path) -> None:
    require_root()
    require_tool("dnsmasq")
    files = DnsmasqFiles(tmp_path / "state")
    with veth_pair("rkk") as link:
        subprocess.run(["ip", "-n", link.left_ns, "addr", "add", "10.213.0.1/24", "dev",
                        link.left_if], check=True)
        write_conf(files, link.left_if)
        with files.conf.open("a") as f:
            f.write(f"pid-file={files.pid_file}\n")
        racker = subprocess.Popen([sys.executable, "-c", STARTER, str(files.state_dir),
                                   link.left_ns], stdout=subprocess.PIPE, text=True)
        try:
            assert racker.stdout is not None
            pid = int(racker.stdout.readline())
            deadline = time.monotonic() + 10  # `ip netns exec` runs dnsmasq, which drops root
            while not (files.pid_file.exists() and uid_of(pid) != 0):
                assert time.monotonic() < deadline, "dnsmasq did not start or kept root"
                time.sleep(0.02)
            assert int(files.pid_file.read_text()) == pid
            # a racker still supervises it: the next one refuses instead of fighting over it
            with pytest.raises(ServiceError, match="already runs"):
                asyncio.run(Dnsmasq(files, netns=link.left_ns).start())
            assert running(pid)
            racker.kill()  # SIGKILL: racker cannot stop anything itself
            racker.wait(5)
            assert running(pid)  # an orphan, still serving the rack

            stopped: list[int] = []

            async def next_racker() -> int | None:
                d = Dnsmasq(files, netns=link.left_ns)
                d.on_orphan = stopped.append
                await d.start()
                try:
                    return d.pid
                finally:
                    await d.stop()

            new = asyncio.run(next_racker())
            assert stopped == [pid] and not running(pid)
            assert new is not None and new != pid
        finally:
            racker.kill()
            racker.wait(5)
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_bad_configuration_is_refused_with_dnsmasq_message(tmp_path: Path) -> None:
    require_tool("dnsmasq")
    files = DnsmasqFiles(tmp_path)
    files.dir.mkdir()
    files.conf.write_text("dhcp-range=not-an-address\n")
    with pytest.raises(ServiceError, match="dnsmasq refuses its configuration") as e:
        check_config(files)
    assert str(files.conf) in str(e.value)


def test_missing_configuration(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="missing"):
        check_config(DnsmasqFiles(tmp_path))


def test_dnsmasq_log_is_written_by_racker_and_rotated(tmp_path: Path) -> None:
    require_root()
    require_tool("dnsmasq")
    require_tool("busybox")
    files = DnsmasqFiles(tmp_path / "state")
    with veth_pair("rkl", right_mac=CLIENT_MAC) as link:
        subprocess.run(["ip", "-n", link.left_ns, "addr", "add", "10.213.0.1/24", "dev",
                        link.left_if], check=True)
        write_conf(files, link.left_if)
        with files.conf.open("a") as f:
            f.write("log-dhcp\n")
        rotated = files.log.with_name("dnsmasq.log.1")

        async def scenario() -> None:
            d = Dnsmasq(files, netns=link.left_ns)
            d.log_max = 2000
            await d.start()
            try:
                for _ in range(100):  # dnsmasq's start lines, then the lease's log-dhcp lines
                    got = await asyncio.to_thread(udhcpc, link.right_ns, link.right_if,
                                                  tmp_path)
                    assert "bound 10.213.0.2" in got.stdout, got.stdout + got.stderr
                    if rotated.exists():
                        break
                assert rotated.exists() and 2000 <= rotated.stat().st_size < 2000 + 4096
                before = files.log.stat().st_size
                got = await asyncio.to_thread(udhcpc, link.right_ns, link.right_if, tmp_path)
                assert "bound 10.213.0.2" in got.stdout
                for _ in range(100):  # the new lines land in the fresh file
                    if files.log.stat().st_size > before or len(list(
                            files.dir.glob("dnsmasq.log*"))) > 2:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await d.stop()
            assert sorted(p.name for p in files.dir.glob("dnsmasq.log*")) == [
                "dnsmasq.log", "dnsmasq.log.1"]  # one older file, no more
            both = rotated.read_bytes() + files.log.read_bytes()
            assert b"DHCPACK" in both and b"dnsmasq" in both
            assert both.endswith(b"\n")  # whole lines
            # racker's file, not dnsmasq's (dnsmasq no longer runs as root)
            assert files.log.stat().st_uid == 0 and files.log.stat().st_mode & 0o777 == 0o640

        asyncio.run(scenario())


def test_a_dhcp_port_held_by_another_program_is_an_error_with_dnsmasqs_words(
        tmp_path: Path) -> None:
    require_root()
    require_tool("dnsmasq")
    files = DnsmasqFiles(tmp_path / "state")
    holder_code = ("import socket, sys, time\n"
                   "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   "s.bind(('0.0.0.0', 67))\n"
                   "print('bound', flush=True)\n"
                   "sys.stdin.read()\n")
    with veth_pair("rkp") as link:
        subprocess.run(["ip", "-n", link.left_ns, "addr", "add", "10.213.0.1/24", "dev",
                        link.left_if], check=True)
        write_conf(files, link.left_if)
        holder = subprocess.Popen(["ip", "netns", "exec", link.left_ns, sys.executable, "-c",
                                   holder_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "bound\n"

            async def scenario() -> str:
                d = Dnsmasq(files, netns=link.left_ns)
                with pytest.raises(ServiceError) as e:
                    await d.start()
                assert d.restarts == 0 and d.pid is not None and not running(d.pid)
                return str(e.value)

            message = asyncio.run(scenario())
        finally:
            holder.kill()
            holder.wait(timeout=10)
    assert "dnsmasq could not start" in message and "Address already in use" in message
    assert "ss -lunp" in message
