"""A DHCP client for lite nodes: DISCOVER/OFFER/REQUEST/ACK on a raw packet socket.

NOTE: the node has no address while it asks, so it sends from 0.0.0.0 to 255.255.255.255;
an AF_PACKET socket lets it do so without touching the namespace's routing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import time

from racker.sim import dhcp_packet as dp
from racker.sim.netns import asocket_in_netns

ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6


class DhcpTimeout(Exception):
    """No usable answer from any DHCP server within the attempts."""


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
                       deaf: bool = False) -> dp.DhcpMessage:
    """Run one DHCP exchange in namespace `ns` on `iface`; return the ACK.

    Bounded: `attempts` DISCOVERs, each waiting `wait` seconds (doubling, as PXE ROMs do).
    `deaf` drops every answer, as when replies are lost on the way (the dhcp-lost fault).
    """
    sock = await asocket_in_netns(ns, socket.AF_PACKET, socket.SOCK_DGRAM,
                                  socket.htons(ETH_P_IP))
    loop = asyncio.get_running_loop()
    try:
        sock.bind((iface, ETH_P_IP))
        started = time.monotonic()
        timeout = wait
        for _ in range(attempts):
            xid = random.getrandbits(32)
            secs = int(time.monotonic() - started)
            pkt = dp.ipv4_udp("0.0.0.0", "255.255.255.255", dp.CLIENT_PORT, dp.SERVER_PORT,
                              dp.encode(dp.discover(profile, xid, secs)))
            await loop.sock_sendto(sock, pkt, (iface, ETH_P_IP, 0, 0, BROADCAST_MAC))
            offer = await _recv_reply(sock, xid, profile.mac, dp.MessageType.OFFER,
                                      time.monotonic() + timeout)
            timeout *= 2
            if deaf or offer is None or offer.message_type is not dp.MessageType.OFFER:
                continue
            req = dp.ipv4_udp("0.0.0.0", "255.255.255.255", dp.CLIENT_PORT, dp.SERVER_PORT,
                              dp.encode(dp.request(profile, xid, offer, secs)))
            await loop.sock_sendto(sock, req, (iface, ETH_P_IP, 0, 0, BROADCAST_MAC))
            ack = await _recv_reply(sock, xid, profile.mac, dp.MessageType.ACK,
                                    time.monotonic() + wait)
            if ack is not None and ack.message_type is dp.MessageType.ACK:
                # Boot file and next server come with the OFFER; keep them if the ACK lacks them.
                if not ack.boot_file and offer.boot_file:
                    return dataclasses.replace(ack, file=offer.boot_file,
                                               siaddr=offer.siaddr)
                return ack
        raise DhcpTimeout(f"no DHCP answer after {attempts} attempts")
    finally:
        sock.close()
