"""The lite nodes' network clients against a real dnsmasq (DHCP + TFTP) across a veth pair:
the DHCP client and its kernel reply filter, rtnetlink addresses, the TFTP client."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from racker.sim.net import dhcp_packet as dp
from racker.sim.net.dhcp_client import ETH_P_IP, _attach_reply_filter, obtain_lease
from racker.sim.net.netlink import set_address
from racker.sim.net.netns import socket_in_netns
from racker.sim.net.tftp_client import TftpFailed, tftp_get
from tests.conftest import require_root, require_tool
from tests.netns import Link, ip, veth_pair

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq]

NODE_MAC = "52:54:00:aa:bb:12"
SERVER_IP = "10.214.0.1"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Link, bytes]]:
    """dnsmasq on the right end serving DHCP (fixed address for NODE_MAC) and a TFTP file."""
    require_root()
    require_tool("dnsmasq")
    root = tmp_path / "tftp"
    root.mkdir()
    payload = os.urandom(300_000)  # 214 blocks of 1408 bytes, the last one short
    (root / "boot.efi").write_bytes(payload)
    conf = tmp_path / "dnsmasq.conf"
    with veth_pair("rkc", left_mac=NODE_MAC) as link:
        ip("-n", link.right_ns, "addr", "add", f"{SERVER_IP}/24", "dev", link.right_if)
        conf.write_text(
            f"interface={link.right_if}\nbind-interfaces\nexcept-interface=lo\nport=0\n"
            "dhcp-range=10.214.0.128,10.214.0.254,255.255.255.0,2m\ndhcp-authoritative\n"
            f"dhcp-host={NODE_MAC},10.214.0.2,2m\ndhcp-boot=boot.efi\n"
            f"enable-tftp\ntftp-root={root}\ndhcp-leasefile={tmp_path / 'leases'}\n")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", link.right_ns, "dnsmasq", "--keep-in-foreground",
             f"--conf-file={conf}", "--user=root", f"--pid-file={tmp_path / 'pid'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(0.3)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            yield link, payload
        finally:
            proc.terminate()
            proc.wait(5)


def _addresses(ns: str, dev: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "-n", ns, "-4", "addr", "show", "dev", dev],
                         capture_output=True, text=True, check=True).stdout
    return [f"{a['local']}/{a['prefixlen']}" for i in json.loads(out) for a in i["addr_info"]]


def test_lease_address_and_tftp_against_dnsmasq(served: tuple[Link, bytes]) -> None:
    link, payload = served

    async def boot() -> None:
        rom = dp.ClientProfile(NODE_MAC, uuid=bytes(16), arch=7, client_id=False)
        ack = await obtain_lease(link.left_ns, link.left_if, rom)
        assert (ack.yiaddr, ack.prefix_len, ack.boot_file) == ("10.214.0.2", 24, "boot.efi")
        # an OS's client asks for unicast replies: dnsmasq sends them to the new address
        os_ack = await obtain_lease(link.left_ns, link.left_if,
                                    dp.ClientProfile(NODE_MAC, hostname="node1"))
        assert os_ack.yiaddr == "10.214.0.2"
        await set_address(link.left_ns, link.left_if, "10.214.0.99/24")
        await set_address(link.left_ns, link.left_if, f"{ack.yiaddr}/{ack.prefix_len}")
        assert _addresses(link.left_ns, link.left_if) == ["10.214.0.2/24"]
        got = await tftp_get(link.left_ns, SERVER_IP, "boot.efi")
        assert got.size == len(payload)
        assert got.sha256 == hashlib.sha256(payload).hexdigest()
        assert got.retransmits == 0
        with pytest.raises(TftpFailed, match="TFTP error"):
            await tftp_get(link.left_ns, SERVER_IP, "missing.efi")
        started = time.monotonic()
        with pytest.raises(TftpFailed, match=r"no answer from 10\.214\.0\.77"):
            await tftp_get(link.left_ns, "10.214.0.77", "boot.efi", timeout=0.2, retries=2)
        assert time.monotonic() - started < 3
        await set_address(link.left_ns, link.left_if, None)
        assert _addresses(link.left_ns, link.left_if) == []
        with pytest.raises(OSError, match="no interface nosuch0"):
            await set_address(link.left_ns, "nosuch0", "10.214.0.3/24")

    asyncio.run(boot())


def test_the_reply_filter_passes_only_dhcp_replies_for_the_node(
        served: tuple[Link, bytes]) -> None:
    link, _ = served
    rx = socket_in_netns(link.left_ns, socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    tx = socket_in_netns(link.right_ns, socket.AF_INET, socket.SOCK_DGRAM)
    try:
        _attach_reply_filter(rx, NODE_MAC)
        rx.bind((link.left_if, ETH_P_IP))
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, link.right_if.encode())
        tx.bind((SERVER_IP, 0))

        def reply(mac: str, xid: int) -> bytes:
            return dp.encode(dp.DhcpMessage(op=2, xid=xid, chaddr=mac, yiaddr="10.214.0.2"))

        tx.sendto(reply("52:54:00:aa:bb:99", 1), ("255.255.255.255", dp.CLIENT_PORT))
        tx.sendto(reply(NODE_MAC, 2), ("255.255.255.255", dp.SERVER_PORT))  # not a reply
        tx.sendto(reply(NODE_MAC, 3), ("255.255.255.255", dp.CLIENT_PORT))
        rx.settimeout(2)
        udp = dp.parse_ipv4_udp(rx.recv(4096))
        assert udp is not None and dp.decode(udp.payload).xid == 3
        rx.settimeout(0.3)
        with pytest.raises(TimeoutError):
            rx.recv(4096)
    finally:
        rx.close()
        tx.close()
