"""A DHCP client for lite nodes: DISCOVER/OFFER/REQUEST/ACK on a raw packet socket.

NOTE: the node has no address while it asks, so it sends from 0.0.0.0 to 255.255.255.255;
an AF_PACKET socket lets it do so without touching the namespace's routing.
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import random
import socket
import struct
import time

from racker.sim.net import dhcp_packet as dp
from racker.sim.net.netns import asocket_in_netns

ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6
SO_ATTACH_FILTER = 26


class DhcpTimeout(Exception):
    """No usable answer from any DHCP server within the attempts."""


def _reply_filter(mac: str) -> list[tuple[int, int, int, int]]:
    """A classic BPF program passing only DHCP replies (UDP to port 68) for `mac`.

    Offsets count from the IP header (a SOCK_DGRAM packet socket has no link header).
    """
    raw = bytes.fromhex(mac.replace(":", ""))
    hi, lo = struct.unpack("!IH", raw)
    chaddr = 8 + 28  # UDP header, then op … giaddr
    prog = [
        (0x30, 0, 0, 9),           # ldb [9]: IP protocol
        (0x15, 0, 0, 17),          # jeq UDP
        (0x28, 0, 0, 6),           # ldh [6]: flags and fragment offset
        (0x45, 0, 0, 0x1FFF),      # jset fragment: drop
        (0xB1, 0, 0, 0),           # ldxb 4*([0]&0xf): IP header length
        (0x48, 0, 0, 2),           # ldh [x+2]: UDP destination port
        (0x15, 0, 0, dp.CLIENT_PORT),
        (0x40, 0, 0, chaddr),      # ld [x+36]: chaddr, first four bytes
        (0x15, 0, 0, hi),
        (0x48, 0, 0, chaddr + 4),  # ldh [x+40]: chaddr, last two bytes
        (0x15, 0, 0, lo),
        (0x06, 0, 0, 0xFFFF),      # ret: accept
        (0x06, 0, 0, 0),           # ret: drop
    ]
    drop = len(prog) - 1
    out = []
    for i, (code, _, _, k) in enumerate(prog):
        if code == 0x15:  # jeq: next on match, else drop
            out.append((code, 0, drop - i - 1, k))
        elif code == 0x45:  # jset: drop on match, else next
            out.append((code, drop - i - 1, 0, k))
        else:
            out.append((code, 0, 0, k))
    return out


def _attach_reply_filter(sock: socket.socket, mac: str) -> None:
    """Let the kernel drop what is not ours: every node sees every broadcast on the segment.

    NOTE: the same test as `_recv_reply` makes (which stays), done before the packet wakes the
    simulator up; a real PXE ROM makes it in firmware, on a CPU of its own.
    """
    prog = _reply_filter(mac)
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


async def _recv_reply(sock: socket.socket, xid: int, mac: str, want: dp.MessageType,
                      deadline: float) -> dp.DhcpMessage | None:
    loop = asyncio.get_running_loop()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), left)
        except TimeoutError:
            return None
        udp = dp.parse_ipv4_udp(data)
        if udp is None or udp.dport != dp.CLIENT_PORT:
            continue
        try:
            msg = dp.decode(udp.payload)
        except dp.DhcpDecodeError:
            continue
        if msg.op != 2 or msg.xid != xid or msg.chaddr != mac:
            continue
        if msg.message_type in (want, dp.MessageType.NAK):
            return msg


async def obtain_lease(ns: str, iface: str, profile: dp.ClientProfile, *,
                       attempts: int = 4, wait: float = 2.0,
                       deaf: bool = False, loss: float = 0.0) -> dp.DhcpMessage:
    """Run one DHCP exchange in namespace `ns` on `iface`; return the ACK.

    Bounded: `attempts` DISCOVERs, each waiting `wait` seconds (doubling, as PXE ROMs do).
    `deaf` drops every answer, as when replies are lost on the way (the dhcp-lost fault);
    `loss` drops that share of the packets sent and received (the net-lossy fault).
    """
    def lost() -> bool:
        return loss > 0 and random.random() < loss

    # NOTE: a packet socket made for a protocol, then bound, and every packet socket closed,
    # waits for an RCU grace period in the kernel (10-25 ms here). Made for no protocol, bound
    # once and closed off the event loop, 48 nodes asking at once no longer wait for each other.
    sock = await asocket_in_netns(ns, socket.AF_PACKET, socket.SOCK_DGRAM, 0)
    loop = asyncio.get_running_loop()
    try:
        _attach_reply_filter(sock, profile.mac)
        sock.bind((iface, ETH_P_IP))
        started = time.monotonic()
        timeout = wait
        for _ in range(attempts):
            xid = random.getrandbits(32)
            secs = int(time.monotonic() - started)
            pkt = dp.ipv4_udp("0.0.0.0", "255.255.255.255", dp.CLIENT_PORT, dp.SERVER_PORT,
                              dp.encode(dp.discover(profile, xid, secs)))
            if not lost():
                await loop.sock_sendto(sock, pkt, (iface, ETH_P_IP, 0, 0, BROADCAST_MAC))
            offer = await _recv_reply(sock, xid, profile.mac, dp.MessageType.OFFER,
                                      time.monotonic() + timeout)
            timeout *= 2
            if deaf or offer is None or offer.message_type is not dp.MessageType.OFFER \
                    or lost():
                continue
            req = dp.ipv4_udp("0.0.0.0", "255.255.255.255", dp.CLIENT_PORT, dp.SERVER_PORT,
                              dp.encode(dp.request(profile, xid, offer, secs)))
            if not lost():
                await loop.sock_sendto(sock, req, (iface, ETH_P_IP, 0, 0, BROADCAST_MAC))
            ack = await _recv_reply(sock, xid, profile.mac, dp.MessageType.ACK,
                                    time.monotonic() + wait)
            if ack is not None and ack.message_type is dp.MessageType.ACK and not lost():
                # Boot file and next server come with the OFFER; keep them if the ACK lacks them.
                if not ack.boot_file and offer.boot_file:
                    return dataclasses.replace(ack, file=offer.boot_file,
                                               siaddr=offer.siaddr)
                return ack
        raise DhcpTimeout(f"no DHCP answer after {attempts} attempts")
    finally:
        await loop.run_in_executor(None, sock.close)
