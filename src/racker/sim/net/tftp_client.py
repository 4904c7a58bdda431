"""A TFTP client (read only) for lite nodes: what a PXE ROM does to fetch iPXE."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import time
import typing
from dataclasses import dataclass

from racker.sim.net import tftp_packet as tp
from racker.sim.net.netns import asocket_in_netns

BLKSIZE = 1408
MAX_BYTES = 64 * 1024 * 1024


class TftpFailed(Exception):
    """The transfer failed: timeout, an ERROR packet, or a protocol violation."""


@dataclass(frozen=True)
class TftpResult:
    size: int
    sha256: str
    retransmits: int = 0


class _Transfer(asyncio.DatagramProtocol):
    """One read transfer, driven by the loop's datagram callbacks: lock-step, as PXE ROMs do.

    NOTE: a coroutine step per block (a recv future and a timeout for each) cost more CPU than
    the transfer itself once 48 nodes fetched iPXE at once; callbacks and one timer do not.
    """

    def __init__(self, server: str, filename: str, timeout: float, retries: int,
                 loss: float = 0.0) -> None:
        self.loss = loss
        self.server, self.filename = server, filename
        self.timeout, self.retries = timeout, retries
        self.done: asyncio.Future[TftpResult] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None
        self.last_sent = tp.encode(tp.ReadRequest(filename, "octet", (
            ("blksize", str(BLKSIZE)), ("tsize", "0"))))
        self.dest: tuple[str, int] = (server, 69)
        self.peer: tuple[str, int] | None = None
        self.blksize, self.expected, self.size, self.tries = 512, 1, 0, 0
        self.retransmits = 0
        self.digest = hashlib.sha256()
        self.progress = time.monotonic()
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._arm(self.timeout)
        # NOTE: the selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = typing.cast(asyncio.DatagramTransport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.transport.sendto(self.last_sent, self.dest)

    def _arm(self, delay: float) -> None:
        self.timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        """Retransmit when nothing usable came for `timeout` seconds; give up after `retries`."""
        if self.done.done():
            return
        waited = time.monotonic() - self.progress
        if waited < self.timeout:
            self._arm(self.timeout - waited)
            return
        self.tries += 1
        if self.tries > self.retries:
            self._finish(TftpFailed(f"no answer from {self.server} for {self.filename}"))
            return
        self.progress = time.monotonic()
        self.retransmits += 1
        self._send()
        self._arm(self.timeout)

    def _finish(self, outcome: TftpResult | Exception) -> None:
        if self.done.done():
            return
        if isinstance(outcome, Exception):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)
        self.stop()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def error_received(self, exc: Exception) -> None:
        self._finish(TftpFailed(f"{self.filename} from {self.server}: {exc}"))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.done.done() or (self.loss and random.random() < self.loss):
            return  # done, or lost on a lossy link (the timer resends)
        if addr[0] != self.server or (self.peer is not None and addr != self.peer):
            return  # a stray packet, not from our transfer
        try:
            pkt = tp.decode(data)
        except tp.TftpDecodeError:
            return
        self.tries = 0
        self.progress = time.monotonic()
        self.peer = self.dest = addr
        if isinstance(pkt, tp.Error):
            self._finish(TftpFailed(f"TFTP error {pkt.code}: {pkt.message}"))
        elif isinstance(pkt, tp.OptionAck) and self.expected == 1:
            self.blksize = int(pkt.get("blksize") or 512)
            self.last_sent = tp.encode(tp.Ack(0))
            self._send()
        elif isinstance(pkt, tp.Data) and pkt.block == self.expected & 0xFFFF:
            self.digest.update(pkt.payload)
            self.size += len(pkt.payload)
            if self.size > MAX_BYTES:
                self._finish(TftpFailed(f"{self.filename} is larger than {MAX_BYTES} bytes"))
                return
            self.last_sent = tp.encode(tp.Ack(pkt.block))
            self.expected += 1
            self._send()
            if len(pkt.payload) < self.blksize:
                self._finish(TftpResult(self.size, self.digest.hexdigest(), self.retransmits))
        # NOTE: a duplicate block is not ACKed again (the timer resends): answering duplicates
        # is how both ends of a transfer start sending everything twice.


async def tftp_get(ns: str, server: str, filename: str, *, timeout: float = 2.0,
                   retries: int = 5, loss: float = 0.0) -> TftpResult:
    """Fetch `filename` from `server` in namespace `ns`; bounded by `retries` per packet.
    `loss`: the share of received datagrams dropped, as on a lossy link."""
    sock = await asocket_in_netns(ns, socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    transport, transfer = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Transfer(server, filename, timeout, retries, loss), sock=sock)
    try:
        return await transfer.done
    finally:
        transfer.stop()
        transport.close()
