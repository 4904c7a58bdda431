"""One RMCP+ (IPMI 2.0 "lanplus") session to a BMC, run on the event loop: racker's own client
for Serial over LAN.

NOTE: racker first captured consoles with pyghmi's console. Each SOL packet then crossed three
threads (pyghmi's I/O thread, racker's SOL pump, the event loop), each login took a thread of
its own, and pyghmi's process-wide session tables and locks were touched at every step: capturing
48 consoles cost more CPU than the goal of 5 % of a core allowed (bench/console.py). Here a
packet is read, checked, decrypted and acknowledged in one callback of the event loop.

Cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), as racker's command sessions and the
`ipmi` helper use. The set-up is Open Session, RAKP 1-4 and Set Session Privilege Level
(administrator); every request is sent again after RESEND_FIRST seconds, doubling up to
RESEND_MOST, until its deadline (a lossy link loses datagrams, not sessions).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Callable
from typing import Any, cast

from racker.adapters.bmc.errors import (
    BmcAuthFailed,
    BmcCommandFailed,
    BmcFailure,
    BmcNoFreeSession,
    BmcUnreachable,
)
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi import wire
from racker.adapters.bmc.ipmi.codec import (
    CMD_CLOSE_SESSION,
    CMD_SET_SESSION_PRIVILEGE,
    NETFN_APP,
)
from racker.adapters.bmc.ipmi.wire import Payload, Rmcp

SUITE = wire.SUITES[0]
"""Cipher suite 3."""
assert SUITE.ident == 3
ROLE = 0x14
"""RAKP1's requested role: administrator, the user looked up by name only."""
RESEND_FIRST = 0.5
RESEND_MOST = 2.0
PRIV_ADMIN = 0x04

Match = Callable[[wire.Packet, bytes], Any]
"""A reply's test: what a waiting request takes from a datagram (its packet, and its payload
decrypted), or None when the datagram is not its reply."""

_REFUSALS: dict[int, type[BmcFailure]] = {
    Rmcp.INSUFFICIENT_RESOURCES: BmcNoFreeSession,
    Rmcp.UNAUTHORIZED_NAME: BmcAuthFailed,
    Rmcp.INVALID_INTEGRITY_CHECK: BmcAuthFailed,
    Rmcp.UNAUTHORIZED_ROLE: BmcAuthFailed,
    Rmcp.INVALID_ROLE: BmcAuthFailed,
}


class LanSession(asyncio.DatagramProtocol):
    """An RMCP+ session: `open` logs in, `command` sends a request and waits for its answer,
    `send_sol` sends a SOL payload, `close` logs out. SOL payloads from the BMC go to `on_sol`
    (called on the event loop, with the session's signature checked and the payload
    decrypted)."""

    def __init__(self, target: BmcTarget, on_sol: Callable[[bytes], None]) -> None:
        self.target = target
        self.on_sol = on_sol
        self.managed_sid = b""
        """The BMC's ID of this session (what a payload's owner is reported as)."""
        self._console_sid = int.from_bytes(os.urandom(4), "little") | 1
        self._keys: wire.SessionKeys | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._waiting: list[tuple[Match, asyncio.Future[Any]]] = []
        self._seq = 0
        self._rq_seq = 0
        self._tag = 0

    # -- transport ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for a datagram (the BMC's port closed): a lost datagram, sent again."""

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        pkt = wire.parse_packet(data)
        if pkt is None:
            return
        payload = pkt.payload
        if pkt.authenticated:
            keys = self._keys
            if keys is None or pkt.session_id != self._console_sid or not keys.verify(pkt):
                return
            if pkt.encrypted:
                plain = keys.decrypt(pkt.payload)
                if plain is None:
                    return
                payload = plain
            if pkt.payload_type == Payload.SOL:
                self.on_sol(payload)
                return
        for match, reply in self._waiting:
            if not reply.done():
                got = match(pkt, payload)
                if got is not None:
                    reply.set_result(got)
                    return

    def _send(self, datagram: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(datagram)

    def _signed(self, ptype: int, payload: bytes) -> bytes:
        """A datagram of this session, signed and encrypted."""
        self._seq = self._seq % 0xFFFFFFFF + 1
        return wire.build_v20(ptype, payload, int.from_bytes(self.managed_sid, "little"),
                              self._seq, self._keys, encrypt=True, random=os.urandom)

    def send_sol(self, payload: bytes) -> None:
        """Send a SOL payload (e.g. an acknowledgement) without waiting for anything."""
        if self._keys is not None:
            self._send(self._signed(Payload.SOL, payload))

    async def _exchange(self, datagram: Callable[[], bytes], match: Match,
                        deadline: float) -> Any:
        """Send `datagram()` until `match` takes a reply; TimeoutError at `deadline`."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        entry = (match, reply)
        self._waiting.append(entry)
        wait = RESEND_FIRST
        try:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError
                self._send(datagram())
                await asyncio.wait([reply], timeout=min(wait, left))
                if reply.done():
                    return reply.result()
                wait = min(wait * 2, RESEND_MOST)
        finally:
            self._waiting.remove(entry)

    # -- the session ----------------------------------------------------------------------

    async def open(self, deadline: float) -> None:
        """Log in (TimeoutError at `deadline` of the event loop's clock; BmcFailure when the
        BMC refuses)."""
        loop = asyncio.get_running_loop()
        t = self.target
        try:
            await loop.create_datagram_endpoint(lambda: self, remote_addr=(t.address, t.port))
        except OSError as e:  # an address that does not resolve, no route to it
            raise BmcUnreachable(t.node, self._where(), str(e)) from None
        console_sid = self._console_sid.to_bytes(4, "little")
        opened = await self._setup(
            lambda tag: wire.build_v20(Payload.OPEN_REQUEST,
                                       wire.build_open_request(tag, console_sid, SUITE)),
            Payload.OPEN_RESPONSE, deadline)
        offered = opened.rest[8:9] + opened.rest[16:17] + opened.rest[24:25]
        if len(opened.rest) < 28 or offered != bytes([SUITE.auth, SUITE.integrity,
                                                      SUITE.confidentiality]):
            raise BmcCommandFailed(t.node, self._where(), "the BMC did not agree to cipher "
                                   "suite 3 (HMAC-SHA1 and AES-128)")
        managed = opened.rest[:4]
        rm, user, kuid = os.urandom(16), t.user.encode(), t.password.encode()
        rakp2 = await self._setup(
            lambda tag: wire.build_v20(Payload.RAKP1,
                                       wire.build_rakp1(tag, managed, rm, ROLE, user)),
            Payload.RAKP2, deadline)
        rc, guid, code = rakp2.rest[:16], rakp2.rest[16:32], rakp2.rest[32:52]
        if not hmac.compare_digest(code, wire.rakp2_code(SUITE, kuid, console_sid, managed, rm,
                                                         rc, guid, ROLE, user)):
            self._send(wire.build_v20(Payload.RAKP3, wire.build_rakp3(
                self._tag, managed, b"", Rmcp.INVALID_INTEGRITY_CHECK)))
            raise BmcAuthFailed(t.node, self._where(), "wrong password")
        keys = wire.SessionKeys.derive(SUITE, kuid, rm, rc, ROLE, user)
        proof = wire.rakp3_code(SUITE, kuid, rc, console_sid, ROLE, user)
        rakp4 = await self._setup(
            lambda tag: wire.build_v20(Payload.RAKP3, wire.build_rakp3(tag, managed, proof)),
            Payload.RAKP4, deadline)
        if not hmac.compare_digest(rakp4.rest[:SUITE.icv_len],
                                   wire.rakp4_code(keys, rm, managed, guid)):
            raise BmcAuthFailed(t.node, self._where(), "the BMC's session proof is wrong")
        self._keys, self.managed_sid = keys, managed
        answer = await self.command(NETFN_APP, CMD_SET_SESSION_PRIVILEGE, bytes([PRIV_ADMIN]),
                                    deadline)
        if answer.code:
            raise BmcAuthFailed(t.node, self._where(), "no administrator privilege (completion "
                                f"code 0x{answer.code:02x})")

    async def _setup(self, message: Callable[[int], bytes], reply: Payload,
                     deadline: float) -> wire.SetupReply:
        """One step of the session set-up: each sending has a new tag, and only the reply to
        the last one counts (a late RAKP2 answers an earlier RAKP1 with another random
        number; using it failed the login)."""
        def datagram() -> bytes:
            self._tag = (self._tag + 1) % 256
            return message(self._tag)

        def match(pkt: wire.Packet, payload: bytes) -> wire.SetupReply | None:
            if pkt.authenticated or pkt.payload_type != reply:
                return None
            got = wire.parse_setup_reply(payload)
            if got is None or got.tag != self._tag \
                    or got.console_sid != self._console_sid.to_bytes(4, "little"):
                return None
            return got

        got: wire.SetupReply = await self._exchange(datagram, match, deadline)
        if got.status != Rmcp.OK:
            refusal = _REFUSALS.get(got.status, BmcCommandFailed)
            raise refusal(self.target.node, self._where(),
                          f"session set-up refused (RMCP+ status 0x{got.status:02x})")
        return got

    async def command(self, netfn: int, cmd: int, data: bytes,
                      deadline: float) -> wire.IpmiResponse:
        """Send a request in the session until it is answered (TimeoutError at `deadline`);
        the answer, whatever its completion code."""
        sent: set[int] = set()

        def datagram() -> bytes:
            self._rq_seq = self._rq_seq % 63 + 1
            sent.add(self._rq_seq)
            return self._signed(Payload.IPMI, wire.build_request(netfn, cmd, data,
                                                                 self._rq_seq))

        def match(pkt: wire.Packet, payload: bytes) -> wire.IpmiResponse | None:
            if not pkt.authenticated or pkt.payload_type != Payload.IPMI:
                return None
            answer = wire.parse_response(payload)
            if answer is None or answer.cmd != cmd or answer.rq_seq not in sent:
                return None
            return answer

        answer: wire.IpmiResponse = await self._exchange(datagram, match, deadline)
        return answer

    async def close(self, within: float) -> None:
        """Log out (which ends the session's SOL payload too: IPMI 2.0 §24.3), waiting at most
        `within` seconds for the BMC's answer; then close the socket."""
        try:
            if self._keys is not None:
                deadline = asyncio.get_running_loop().time() + within
                await self.command(NETFN_APP, CMD_CLOSE_SESSION, self.managed_sid, deadline)
        except TimeoutError:
            pass  # the BMC forgets an idle session by itself
        finally:
            self._keys = None
            if self._transport is not None:
                self._transport.close()

    def _where(self) -> str:
        return where(self.target)


def where(target: BmcTarget) -> str:
    """The BMC as a console's errors name it: address and port."""
    return f"{target.address}:{target.port}"
