"""The protocol engine of a virtual BMC: RMCP+ sessions, SOL, and dispatch to the commands.

No sockets here: `handle` takes a datagram and returns the datagrams to send; the clock and
the random source are injected. The transport (`racker.sim.vbmc.server`) owns the socket and the one
timer SOL needs for retransmits. Idle sessions expire lazily (checked whenever a packet
arrives), so an idle BMC costs nothing.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable

from racker.adapters.bmc.ipmi import wire as wire
from racker.adapters.bmc.ipmi.wire import Payload, Rmcp
from racker.sim.vbmc.chassis import Chassis, ConsoleSink
from racker.sim.vbmc.commands import channel_auth_cap, cipher_suites, dispatch
from racker.sim.vbmc.sessions import (
    SOL_ACCUMULATE_INTERVAL,
    SOL_SEND_THRESHOLD,
    Addr,
    Faults,
    Outbound,
    Session,
    SolLink,
)
from racker.sim.vbmc.state import (
    PRIV_ADMIN,
    PRIV_CALLBACK,
    PRIV_OEM,
    PRIV_USER,
    BootOptions,
    UserTable,
)

SOL_MAX_PAYLOAD = 200
SOL_RETRY_INTERVAL = 1.0
SOL_RETRIES = 5
SOL_BUFFER_LIMIT = 64 * 1024


class BmcEngine:
    """Sessions, handshake, SOL and command dispatch of one virtual BMC."""

    def __init__(self, *, users: UserTable, boot: BootOptions, chassis: Chassis, port: int,
                 console_sink: ConsoleSink, faults: Faults | None = None,
                 session_limit: int = 4, session_timeout: float = 60.0,
                 handshake_timeout: float = 5.0, guid: uuid.UUID | None = None,
                 clock: Callable[[], float], random: Callable[[int], bytes],
                 log: Callable[[str], None] | None = None) -> None:
        self.users = users
        self.boot = boot
        self.chassis = chassis
        self.port = port
        self.console_sink = console_sink
        self.faults = faults or Faults()
        self.session_limit = session_limit
        self.session_timeout = session_timeout
        self.handshake_timeout = handshake_timeout
        self.guid = (guid or uuid.uuid4()).bytes_le  # IPMI sends GUIDs in this byte order
        self.clock = clock
        self.random = random
        self._log = log
        self.sessions: dict[int, Session] = {}
        self.sol: SolLink | None = None
        self.restore_policy = 0
        self.last_power_event = 0
        self.restart_cause = 0

    def log(self, message: str) -> None:
        """Report a state change (power, boot flags) to whoever runs this BMC."""
        if self._log is not None:
            self._log(message)

    # -- sessions -------------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """Forget sessions idle for longer than their timeout (set-up ones expire sooner)."""
        now = self.clock()
        for sid, s in list(self.sessions.items()):
            limit = self.session_timeout if s.active else self.handshake_timeout
            if now - s.last_seen > limit:
                self.close(sid)

    def close(self, sid: int) -> None:
        """End a session and the SOL payload it holds."""
        session = self.sessions.pop(sid, None)
        if session is not None and self.sol is not None and self.sol.session is session:
            self.deactivate_sol()

    def active_sessions(self) -> int:
        """Number of established sessions (after expiring idle ones)."""
        self.expire_sessions()
        return sum(1 for s in self.sessions.values() if s.active)

    def _new_sid(self) -> bytes:
        while True:
            sid = self.random(4)
            if sid != b"\0\0\0\0" and int.from_bytes(sid, "little") not in self.sessions:
                return sid

    # -- datagrams ------------------------------------------------------------------------

    def handle(self, data: bytes, addr: Addr) -> list[Outbound]:
        """Handle one received datagram; returns the datagrams to send back."""
        pkt = wire.parse_packet(data)
        if pkt is None:
            return []
        self.expire_sessions()
        if pkt.authtype == wire.AUTHTYPE_NONE:
            reply = self._sessionless(pkt.payload)
            return [(wire.build_v15(reply), addr)] if reply else []
        if pkt.session_id == 0:
            return self._presession(pkt, addr)
        session = self.sessions.get(pkt.session_id)
        if session is None or not session.active or session.addr != addr:
            return []  # NOTE: real BMCs silently drop packets of unknown sessions too
        keys = session.keys
        if keys is None or not keys.verify(pkt):
            return []
        payload: bytes | None = pkt.payload
        if pkt.encrypted:
            payload = keys.decrypt(pkt.payload)
        if payload is None:
            return []
        session.last_seen = self.clock()
        if pkt.payload_type == Payload.IPMI:
            return self._session_ipmi(session, payload)
        if pkt.payload_type == Payload.SOL:
            return self._sol_received(session, payload)
        return []

    def send(self, session: Session, ptype: int, payload: bytes,
             encrypt: bool = True) -> Outbound:
        """A datagram for an established session (signed, encrypted unless told not to)."""
        session.out_seq = session.out_seq % 0xFFFFFFFF + 1
        console = int.from_bytes(session.console_sid, "little")
        return (wire.build_v20(ptype, payload, console, session.out_seq, session.keys,
                               encrypt, self.random), session.addr)

    def _sessionless(self, msg: bytes) -> bytes | None:
        req = wire.parse_request(msg)
        if req is None or req.netfn != 6 or req.cmd not in (0x38, 0x54):
            return None
        code, data = channel_auth_cap(req.data) if req.cmd == 0x38 else cipher_suites(req.data)
        return wire.build_response(req, code, data)

    def _presession(self, pkt: wire.Packet, addr: Addr) -> list[Outbound]:
        if pkt.payload_type == Payload.IPMI:
            reply = self._sessionless(pkt.payload)
            return [(wire.build_v20(Payload.IPMI, reply), addr)] if reply else []
        if pkt.payload_type == Payload.OPEN_REQUEST:
            out = self._open(pkt.payload, addr)
            return [(wire.build_v20(Payload.OPEN_RESPONSE, out), addr)] if out else []
        if pkt.payload_type == Payload.RAKP1:
            out = self._rakp1(pkt.payload, addr)
            return [(wire.build_v20(Payload.RAKP2, out), addr)] if out else []
        if pkt.payload_type == Payload.RAKP3:
            out = self._rakp3(pkt.payload, addr)
            return [(wire.build_v20(Payload.RAKP4, out), addr)] if out else []
        return []

    # -- RMCP+ session set-up ---------------------------------------------------------------

    def _open(self, p: bytes, addr: Addr) -> bytes | None:
        req = wire.parse_open_request(p)
        if req is None:
            return None
        for s in self.sessions.values():  # a retransmitted request: answer it again
            if not s.active and s.addr == addr and s.console_sid == req.console_sid:
                return wire.build_open_response(req, Rmcp.OK, s.max_priv, s.managed_sid, s.suite)
        if self.faults.no_session or len(self.sessions) >= self.session_limit:
            return wire.build_open_response(req, Rmcp.INSUFFICIENT_RESOURCES)
        suite = wire.suite_for(req.auth, req.integrity, req.confidentiality)
        if suite is None:
            return wire.build_open_response(req, Rmcp.NO_CIPHER_SUITE_MATCH)
        privilege = req.privilege or PRIV_ADMIN
        if privilege > PRIV_OEM:
            return wire.build_open_response(req, Rmcp.INVALID_ROLE)
        session = Session(self._new_sid(), req.console_sid, addr, suite, self.clock(),
                          max_priv=privilege)
        self.sessions[session.sid] = session
        return wire.build_open_response(req, Rmcp.OK, privilege, session.managed_sid, suite)

    def _rakp1(self, p: bytes, addr: Addr) -> bytes | None:
        msg = wire.parse_rakp1(p)
        if msg is None:
            return None
        session = self.sessions.get(int.from_bytes(msg.managed_sid, "little"))
        if session is None or session.active or session.addr != addr:
            return bytes([msg.tag, Rmcp.INVALID_SESSION_ID, 0, 0]) + bytes(4)

        def refuse(status: int) -> bytes:
            self.close(session.sid)  # a refused set-up frees its slot at once
            return bytes([msg.tag, status, 0, 0]) + session.console_sid

        found = self.users.login(msg.username)
        if found is None:
            return refuse(Rmcp.UNAUTHORIZED_NAME)
        role = msg.role & 0x0F
        if not PRIV_CALLBACK <= role <= PRIV_OEM:
            return refuse(Rmcp.INVALID_ROLE)
        if role > found[1].privilege:
            return refuse(Rmcp.UNAUTHORIZED_ROLE)
        session.rm, session.rc, session.role = msg.rm, self.random(16), msg.role
        session.username, session.kuid = msg.username, found[1].password
        session.max_priv = min(role, found[1].privilege)
        session.last_seen = self.clock()
        # NOTE: a BMC cannot tell a wrong password before RAKP3; with the fault on it signs
        # with a key nobody knows, so the console sees exactly what a wrong password gives.
        session.rejected = self.faults.reject_auth
        key = self.random(20) if session.rejected else session.kuid
        code = wire.rakp2_code(session.suite, key, session.console_sid, session.managed_sid,
                               session.rm, session.rc, self.guid, session.role, session.username)
        return (bytes([msg.tag, Rmcp.OK, 0, 0]) + session.console_sid + session.rc + self.guid
                + code)

    def _rakp3(self, p: bytes, addr: Addr) -> bytes | None:
        if len(p) < 8:
            return None
        session = self.sessions.get(int.from_bytes(p[4:8], "little"))
        if session is None or session.addr != addr or not session.rc:
            return None
        if p[1] != Rmcp.OK:  # the console rejected our RAKP2 (e.g. wrong password)
            self.close(session.sid)
            return None
        expected = wire.rakp3_code(session.suite, session.kuid, session.rc, session.console_sid,
                                   session.role, session.username)
        if session.rejected or bytes(p[8:]) != expected:
            self.close(session.sid)
            return bytes([p[0], Rmcp.INVALID_INTEGRITY_CHECK, 0, 0]) + session.console_sid
        keys = wire.SessionKeys.derive(session.suite, session.kuid, session.rm, session.rc,
                                       session.role, session.username)
        session.keys, session.active = keys, True
        session.priv = min(PRIV_USER, session.max_priv)
        session.last_seen = self.clock()
        return (bytes([p[0], Rmcp.OK, 0, 0]) + session.console_sid
                + wire.rakp4_code(keys, session.rm, session.managed_sid, self.guid))

    # -- IPMI messages in a session -------------------------------------------------------

    def _session_ipmi(self, session: Session, payload: bytes) -> list[Outbound]:
        req = wire.parse_request(payload)
        if req is None:
            return []
        code, data, after = dispatch(self, session, req)
        out = [self.send(session, Payload.IPMI, wire.build_response(req, code, data))]
        if after is not None:
            after()  # e.g. Close Session: the reply still goes out under the session's keys
        return out

    # -- Serial over LAN ------------------------------------------------------------------

    def activate_sol(self, session: Session, encrypt: bool) -> None:
        """Start the SOL payload on `session` and connect the chassis's serial port."""
        self.sol = SolLink(session, encrypt)
        self.chassis.attach_console(self.console_sink)

    def deactivate_sol(self) -> None:
        """Stop the SOL payload, whoever holds it."""
        self.sol = None
        self.chassis.attach_console(None)

    def _sol_received(self, session: Session, payload: bytes) -> list[Outbound]:
        sol = self.sol
        pkt = wire.parse_sol(payload)
        if sol is None or sol.session is not session or pkt is None:
            return []
        out: list[Outbound] = []
        pending = sol.pending
        nack = bool(pkt.status & 0x40)  # the console cannot take data now: retry on the timer
        if pkt.ack_seq and pending is not None and pkt.ack_seq == pending.seq and not nack:
            if pkt.accepted < len(pending.data):  # partial ack: resend the rest first
                sol.out_buf[:0] = pending.data[pkt.accepted:]
            sol.pending = None
        if pkt.seq:
            if pkt.data and pkt.seq != sol.last_in_seq:
                self.chassis.console_input(pkt.data)
            sol.last_in_seq = pkt.seq
            ack = wire.SolPacket(0, pkt.seq, len(pkt.data), 0, b"")
            out.append(self.send(session, Payload.SOL, wire.build_sol(ack), sol.encrypt))
        out += self._sol_send_next()
        return out

    def sol_output(self, data: bytes) -> list[Outbound]:
        """Serial output from the chassis: queue it and send what the window allows."""
        sol = self.sol
        if sol is None:
            return []
        if not sol.out_buf:
            sol.buffered_at = self.clock()
        sol.out_buf += data
        if len(sol.out_buf) > SOL_BUFFER_LIMIT:  # a console that stopped acking loses the oldest
            del sol.out_buf[: len(sol.out_buf) - SOL_BUFFER_LIMIT]
        return self._sol_send_next()

    def _sol_send_next(self) -> list[Outbound]:
        """The next packet of output, once none is unacknowledged and the output has reached
        the send threshold or waited the accumulate interval (IPMI 2.0 §26.7, parameter 3:
        what this BMC reports; a host that writes a line at a time fills packets as on a real
        BMC, not one packet per line)."""
        sol = self.sol
        if sol is None or sol.pending is not None or not sol.out_buf:
            return []
        if (len(sol.out_buf) < SOL_SEND_THRESHOLD
                and self.clock() < sol.buffered_at + SOL_ACCUMULATE_INTERVAL * 0.005):
            return []
        chunk = bytes(sol.out_buf[:SOL_MAX_PAYLOAD])
        del sol.out_buf[:SOL_MAX_PAYLOAD]
        sol.next_seq = sol.next_seq % 15 + 1
        sol.pending = wire.SolPacket(sol.next_seq, 0, 0, 0, chunk)
        sol.sent_at, sol.retries = self.clock(), 0
        return [self.send(sol.session, Payload.SOL, wire.build_sol(sol.pending), sol.encrypt)]

    def sol_deadline(self) -> float | None:
        """Clock time at which `sol_tick` must run (an unacknowledged packet, or output that
        waits out the accumulate interval), else None."""
        sol = self.sol
        if sol is None:
            return None
        if sol.pending is not None:
            return sol.sent_at + SOL_RETRY_INTERVAL
        if sol.out_buf:
            return sol.buffered_at + SOL_ACCUMULATE_INTERVAL * 0.005
        return None

    def sol_tick(self) -> list[Outbound]:
        """Retransmit the unacknowledged SOL packet, or give it up after a few tries."""
        self.expire_sessions()
        sol = self.sol
        if sol is None:
            return []
        if sol.pending is None:
            return self._sol_send_next()  # the accumulate interval is over
        if self.clock() - sol.sent_at < SOL_RETRY_INTERVAL:
            return []
        if sol.retries >= SOL_RETRIES:
            sol.pending = None
            return self._sol_send_next()
        sol.retries += 1
        sol.sent_at = self.clock()
        return [self.send(sol.session, Payload.SOL, wire.build_sol(sol.pending), sol.encrypt)]

    def sol_activation_data(self) -> bytes:
        """Activate Payload response data: sizes, our UDP port (LSB first), no VLAN."""
        return bytes(4) + struct.pack("<HHH", SOL_MAX_PAYLOAD, SOL_MAX_PAYLOAD,
                                      self.port) + b"\xff\xff"
