"""A TFTP client (read only) for lite nodes: what a PXE ROM does to fetch iPXE."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from dataclasses import dataclass

from racker.sim import tftp_packet as tp
from racker.sim.netns import asocket_in_netns

BLKSIZE = 1408
MAX_BYTES = 64 * 1024 * 1024


class TftpFailed(Exception):
    """The transfer failed: timeout, an ERROR packet, or a protocol violation."""


@dataclass(frozen=True)
class TftpResult:
    size: int
    sha256: str


async def tftp_get(ns: str, server: str, filename: str, *, timeout: float = 2.0,
                   retries: int = 5) -> TftpResult:
    """Fetch `filename` from `server` in namespace `ns`; bounded by `retries` per packet."""
    sock = await asocket_in_netns(ns, socket.AF_INET, socket.SOCK_DGRAM)
    loop = asyncio.get_running_loop()
    try:
        sock.bind(("0.0.0.0", 0))
        rrq = tp.encode(tp.ReadRequest(filename, "octet", (("blksize", str(BLKSIZE)),
                                                           ("tsize", "0"))))
        last_sent, dest = rrq, (server, 69)
        peer: tuple[str, int] | None = None
        blksize, expected, size = 512, 1, 0
        digest = hashlib.sha256()
        tries = 0
        while True:
            await loop.sock_sendto(sock, last_sent, dest)
            try:
                data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 65536), timeout)
            except TimeoutError:
                tries += 1
                if tries > retries:
                    raise TftpFailed(f"no answer from {server} for {filename}") from None
                continue
            if addr[0] != server or (peer is not None and addr != peer):
                continue  # a stray packet, not from our transfer
            try:
                pkt = tp.decode(data)
            except tp.TftpDecodeError:
                continue
            tries = 0
            peer = addr
            dest = addr
            if isinstance(pkt, tp.Error):
                raise TftpFailed(f"TFTP error {pkt.code}: {pkt.message}")
            if isinstance(pkt, tp.OptionAck) and expected == 1:
                blksize = int(pkt.get("blksize") or 512)
                last_sent = tp.encode(tp.Ack(0))
                continue
            if isinstance(pkt, tp.Data):
                if pkt.block == expected & 0xFFFF:
                    digest.update(pkt.payload)
                    size += len(pkt.payload)
                    if size > MAX_BYTES:
                        raise TftpFailed(f"{filename} is larger than {MAX_BYTES} bytes")
                    last_sent = tp.encode(tp.Ack(pkt.block))
                    expected += 1
                    if len(pkt.payload) < blksize:
                        await loop.sock_sendto(sock, last_sent, dest)
                        return TftpResult(size, digest.hexdigest())
                continue
    finally:
        sock.close()


