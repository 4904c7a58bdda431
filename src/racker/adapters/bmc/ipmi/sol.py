"""Serial over LAN: one SOL session per BMC as a stream of bytes, on racker's own RMCP+ client
(`lanplus`), in the event loop.

Each console logs in on a session of its own (not the driver's pooled one, so the pool's
re-logins never cut a console), activates the SOL payload, acknowledges every packet of the
host's output and hands it to the reader in chunks. A SOL payload left active by another client
(a crashed tool) is deactivated first when asked (`take_over`, as the `ipmi` helper does with
`sol deactivate`). A keepalive every KEEPALIVE_EVERY seconds asks who holds the payload: another
client that took it over, or a BMC that stopped answering, ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from racker.adapters.bmc.errors import BmcCommandFailed, BmcTimeout
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi import wire
from racker.adapters.bmc.ipmi.codec import (
    CMD_ACTIVATE_PAYLOAD,
    CMD_DEACTIVATE_PAYLOAD,
    CMD_GET_PAYLOAD_INSTANCE_INFO,
    NETFN_APP,
)
from racker.adapters.bmc.ipmi.lanplus import LanSession, where

QUEUE_LIMIT = 4096
"""Chunks a console buffers for a slow reader before it drops the oldest."""
DELIVER_AFTER = 0.1
"""Seconds the host's output gathers before it reaches the reader as one chunk (a recorder's
latency: a booting host sends a SOL packet per line, and waking the reader for each cost more
than the capture's file writes)."""
KEEPALIVE_EVERY = 20.0
"""Seconds between two checks that the session still holds the SOL payload (also what keeps a
silent console's session from expiring on the BMC: most expire after 60 s idle)."""
CLOSE_WITHIN = 2.0
"""Seconds a closing console waits at most for the BMC to confirm its logout."""

SOL_INSTANCE = bytes([wire.Payload.SOL, 1])
ACTIVATE_SOL = SOL_INSTANCE + bytes([0xC0, 0, 0, 0])
"""Activate Payload: SOL instance 1, encrypted and authenticated, serial alerts deferred."""
DEACTIVATE_SOL = SOL_INSTANCE + bytes(4)
SOL_DEACTIVATING = 0x10
"""Status bit of a SOL packet from the BMC: it is deactivating the payload (IPMI 2.0 table
15-2)."""
ALREADY_ACTIVE = 0x80
_NOT_ACTIVATED = {
    ALREADY_ACTIVE: "SOL Session active for another client",
    0x81: "SOL is disabled",
    0x82: "Maximum SOL session count reached",
    0x83: "Cannot activate payload with encryption",
    0x84: "Cannot activate payload without encryption",
}


class SolStream(AsyncIterator[bytes]):
    """The host's serial output over one SOL session; `aclose` logs out (which deactivates it).

    Iteration ends with BmcCommandFailed when the session ends (another client took SOL over,
    the BMC reset or stopped answering).
    """

    def __init__(self, target: BmcTarget, timeout: float, take_over: bool = True) -> None:
        self.target = target
        self.timeout = timeout
        self.take_over = take_over
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._session = LanSession(target, self._sol)
        self._closed = False
        self._inbox: list[bytes | str] = []
        self._last_seq = 0
        self._keepalive: asyncio.Task[None] | None = None

    def _where(self) -> str:
        return where(self.target)

    def _sol(self, payload: bytes) -> None:
        """A SOL payload from the BMC: acknowledge the host's output, keep it once."""
        pkt = wire.parse_sol(payload)
        if pkt is None or self._closed:
            return
        if pkt.seq:
            if pkt.seq != self._last_seq:  # else sent again: our acknowledgement was lost
                self._last_seq = pkt.seq
                if pkt.data:
                    self._received(pkt.data)
            accepted = min(len(pkt.data), 0xFF)
            self._session.send_sol(wire.build_sol(wire.SolPacket(0, pkt.seq, accepted, 0, b"")))
        if pkt.status & SOL_DEACTIVATING:
            self._received("the BMC deactivated Serial over LAN")

    def _received(self, item: bytes | str) -> None:
        """Output (bytes) or the session's end (its reason), handed over within DELIVER_AFTER.
        NOTE: one wake-up of the reader per DELIVER_AFTER, not per SOL packet."""
        self._inbox.append(item)
        if len(self._inbox) == 1:
            self._loop.call_later(DELIVER_AFTER, self._drain)

    def _drain(self) -> None:
        items, self._inbox = self._inbox, []
        run: list[bytes] = []
        for item in items:  # consecutive bytes as one chunk
            if isinstance(item, bytes):
                run.append(item)
                continue
            if run:
                self._put(b"".join(run))
                run = []
            self._put(item)
        if run:
            self._put(b"".join(run))

    def _put(self, item: bytes | str | None) -> None:
        if self._queue.qsize() >= QUEUE_LIMIT:  # a stalled reader loses the oldest output
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def start(self) -> SolStream:
        """Log in and activate SOL (a dangling payload is deactivated first)."""
        deadline = self._loop.time() + self.timeout
        try:
            await self._session.open(deadline)
            await self._activate(deadline)
        except TimeoutError:
            await self.aclose()
            # NOTE: a lossy link loses the login's datagrams; this must reach the capture as a
            # BMC failure it retries, never as a bare TimeoutError that ends the run
            raise BmcTimeout(self.target.node, self._where(),
                             f"no Serial-over-LAN session within {self.timeout:g} s") from None
        except BaseException:
            await self.aclose()
            raise
        self._keepalive = asyncio.create_task(self._keep(), name=f"sol-{self.target.node}")
        return self

    async def _activate(self, deadline: float) -> None:
        s = self._session
        answer = await s.command(NETFN_APP, CMD_ACTIVATE_PAYLOAD, ACTIVATE_SOL, deadline)
        if answer.code == ALREADY_ACTIVE and await self._owner(deadline) == s.managed_sid:
            return  # our activation's answer was lost and the request sent again
        if answer.code == ALREADY_ACTIVE and self.take_over:
            await s.command(NETFN_APP, CMD_DEACTIVATE_PAYLOAD, DEACTIVATE_SOL, deadline)
            answer = await s.command(NETFN_APP, CMD_ACTIVATE_PAYLOAD, ACTIVATE_SOL, deadline)
        if answer.code:
            why = _NOT_ACTIVATED.get(answer.code, f"completion code 0x{answer.code:02x}")
            raise BmcCommandFailed(self.target.node, self._where(),
                                   f"Serial over LAN not activated: {why}")

    async def _owner(self, deadline: float) -> bytes | None:
        """The BMC's ID of the session holding the SOL payload (None: it did not say)."""
        answer = await self._session.command(NETFN_APP, CMD_GET_PAYLOAD_INSTANCE_INFO, SOL_INSTANCE,
                                             deadline)
        return answer.data[:4] if answer.code == 0 and len(answer.data) >= 4 else None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY)
            try:
                owner = await self._owner(self._loop.time() + self.timeout)
            except TimeoutError:
                self._received(f"the BMC stopped answering (no answer within "
                               f"{self.timeout:g} s)")
                return
            if owner is not None and owner != self._session.managed_sid:
                self._received("SOL deactivated (another client holds it now)")
                return

    def unread(self) -> bytes:
        """What the host wrote that arrived but was not read yet (a reader that stops takes
        it: the last DELIVER_AFTER of a console is otherwise lost). The stream's end (the
        session's error, or its close) stays for the reader, with whatever came after it."""
        items, self._inbox = self._inbox, []
        pending: list[bytes | str | None] = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        pending += items
        taken: list[bytes] = []
        for i, item in enumerate(pending):
            if not isinstance(item, bytes):
                # NOTE: this runs while the capture still reads too (a failure's last lines):
                # an end dropped here left the reader waiting for good, never reopening
                for rest in pending[i:]:
                    self._put(rest)
                break
            taken.append(item)
        return b"".join(taken)

    def __aiter__(self) -> SolStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, str):
            raise BmcCommandFailed(self.target.node, self._where(),
                                   f"Serial over LAN ended: {item}")
        return item

    async def aclose(self) -> None:
        """Log out (once): the BMC ends the SOL payload with the session."""
        if self._closed:
            return
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        try:
            await self._session.close(min(self.timeout, CLOSE_WITHIN))
        finally:
            self._queue.put_nowait(None)


async def open_sol(target: BmcTarget, timeout: float, *, take_over: bool = True) -> SolStream:
    """A started SOL stream to `target` (BmcFailure when SOL cannot be activated; without
    `take_over`, also when another client holds it)."""
    return await SolStream(target, timeout, take_over).start()
