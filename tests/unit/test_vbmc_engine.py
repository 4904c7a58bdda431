"""The virtual BMC's protocol engine, driven by a small RMCP+ console written from the spec.

No sockets: datagrams go into `BmcEngine.handle` and come back as a list; the clock is fake.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racker.adapters.bmc.ipmi import wire as wire
from racker.adapters.bmc.ipmi.wire import Payload
from racker.sim.vbmc.chassis import BootDevice, BootRequest, MemoryChassis, PowerAction
from racker.sim.vbmc.commands import COMMANDS
from racker.sim.vbmc.engine import SOL_MAX_PAYLOAD, SOL_RETRIES, BmcEngine
from racker.sim.vbmc.sessions import SOL_ACCUMULATE_INTERVAL, SOL_SEND_THRESHOLD, Faults
from racker.sim.vbmc.state import BootOptions, UserTable

ADDR = ("10.0.0.9", 40000)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_engine(**kw: object) -> tuple[BmcEngine, MemoryChassis, Clock]:
    chassis = MemoryChassis()
    clock = Clock()
    rng = random.Random(7)
    engine = BmcEngine(users=UserTable.with_admin("admin", "pw"), boot=BootOptions(),
                       chassis=chassis, port=623, console_sink=lambda data: None,
                       clock=clock, random=rng.randbytes, **kw)  # type: ignore[arg-type]
    return engine, chassis, clock


class Console:
    """A remote console: RMCP+ set-up and requests, built from vbmc_wire's codecs."""

    def __init__(self, engine: BmcEngine, addr: tuple[str, int] = ADDR, user: bytes = b"admin",
                 password: bytes = b"pw", suite: wire.CipherSuite = wire.SUITES[0]) -> None:
        self.engine, self.addr, self.user, self.password, self.suite = \
            engine, addr, user, password, suite
        self.console_sid = b"CSID"
        self.managed_sid = b""
        self.keys: wire.SessionKeys | None = None
        self.seq = 0
        self.rq_seq = 0
        self.status: dict[str, int] = {}

    def exchange(self, ptype: int, payload: bytes) -> list[wire.Packet]:
        out = self.engine.handle(wire.build_v20(ptype, payload), self.addr)
        pkts = [wire.parse_packet(d) for d, a in out if a == self.addr]
        return [p for p in pkts if p is not None]

    def open(self) -> int:
        s = self.suite
        req = (bytes([1, 4, 0, 0]) + self.console_sid
               + bytes([0, 0, 0, 8, s.auth, 0, 0, 0, 1, 0, 0, 8, s.integrity, 0, 0, 0,
                        2, 0, 0, 8, s.confidentiality, 0, 0, 0]))
        (rsp,) = self.exchange(Payload.OPEN_REQUEST, req)
        assert rsp.payload_type == Payload.OPEN_RESPONSE
        self.status["open"] = rsp.payload[1]
        if rsp.payload[1] == 0:
            self.managed_sid = rsp.payload[8:12]
        return rsp.payload[1]

    def login(self) -> int:
        """Open, RAKP1-4; returns the first non-zero status (or 0 when logged in)."""
        if self.open():
            return self.status["open"]
        rm = bytes(range(16))
        role = 0x14
        rakp1 = (bytes([2, 0, 0, 0]) + self.managed_sid + rm + bytes([role, 0, 0, len(self.user)])
                 + self.user)
        (r2,) = self.exchange(Payload.RAKP1, rakp1)
        if r2.payload[1]:
            return r2.payload[1]
        rc, guid, code = r2.payload[8:24], r2.payload[24:40], r2.payload[40:]
        expected = wire.rakp2_code(self.suite, self.password, self.console_sid, self.managed_sid,
                                   rm, rc, guid, role, self.user)
        self.status["rakp2_hmac_ok"] = int(code == expected)
        rakp3 = (bytes([3, 0, 0, 0]) + self.managed_sid
                 + wire.rakp3_code(self.suite, self.password, rc, self.console_sid, role,
                                   self.user))
        (r4,) = self.exchange(Payload.RAKP3, rakp3)
        if r4.payload[1]:
            return r4.payload[1]
        self.keys = wire.SessionKeys.derive(self.suite, self.password, rm, rc, role, self.user)
        assert r4.payload[8:] == wire.rakp4_code(self.keys, rm, self.managed_sid, guid)
        return 0

    def send(self, ptype: int, payload: bytes, addr: tuple[str, int] | None = None
             ) -> list[tuple[int, bytes]]:
        assert self.keys is not None
        self.seq += 1
        sid = int.from_bytes(self.managed_sid, "little")
        data = wire.build_v20(ptype, payload, sid, self.seq, self.keys, True,
                              random=lambda n: b"\x11" * n)
        out = []
        for d, _ in self.engine.handle(data, addr or self.addr):
            pkt = wire.parse_packet(d)
            assert pkt is not None and self.keys.verify(pkt)
            assert pkt.session_id == int.from_bytes(self.console_sid, "little")
            plain = self.keys.decrypt(pkt.payload)
            assert plain is not None
            out.append((pkt.payload_type, plain))
        return out

    def cmd(self, netfn: int, cmd: int, data: bytes = b"") -> tuple[int, bytes]:
        self.rq_seq = (self.rq_seq + 1) % 64
        replies = self.send(Payload.IPMI, wire.build_request(netfn, cmd, data, self.rq_seq))
        assert len(replies) == 1
        msg = replies[0][1]
        assert msg[5] == cmd and msg[4] >> 2 == self.rq_seq
        return msg[6], msg[7:-1]

    def admin(self) -> None:
        assert self.cmd(0x06, 0x3B, b"\x04") == (0, b"\x04")


@pytest.mark.parametrize("suite", wire.SUITES, ids=lambda s: f"suite{s.ident}")
def test_login_and_chassis_status(suite: wire.CipherSuite) -> None:
    engine, _chassis, _ = make_engine()
    c = Console(engine, suite=suite)
    assert c.login() == 0 and c.status["rakp2_hmac_ok"]
    assert c.cmd(0x00, 0x01) == (0, bytes([0, 0, 0, 0]))
    assert engine.active_sessions() == 1


def test_session_starts_at_user_privilege() -> None:
    engine, chassis, _ = make_engine()
    c = Console(engine)
    assert c.login() == 0
    assert c.cmd(0x00, 0x02, b"\x01") == (0xD4, b"")  # operator command at user level
    c.admin()
    assert c.cmd(0x00, 0x02, b"\x01") == (0, b"")
    assert chassis.actions == [PowerAction.ON]
    assert c.cmd(0x06, 0x3B, b"\x05")[0] == 0x81  # beyond the user's limit


@pytest.mark.parametrize(("user", "password", "status"), [
    (b"nobody", b"pw", wire.Rmcp.UNAUTHORIZED_NAME),
    (b"admin", b"wrong", wire.Rmcp.INVALID_INTEGRITY_CHECK),
])
def test_failed_login_frees_the_slot(user: bytes, password: bytes, status: int) -> None:
    engine, _, _ = make_engine(session_limit=1)
    assert Console(engine, user=user, password=password).login() == status
    assert not engine.sessions
    assert Console(engine).login() == 0


def test_session_limit_close_and_idle_expiry() -> None:
    engine, _, clock = make_engine(session_limit=2, session_timeout=60.0)
    a, b = Console(engine, addr=("10.0.0.1", 1)), Console(engine, addr=("10.0.0.2", 2))
    assert a.login() == 0 and b.login() == 0
    third = Console(engine, addr=("10.0.0.3", 3))
    assert third.open() == wire.Rmcp.INSUFFICIENT_RESOURCES
    assert a.cmd(0x06, 0x3C, a.managed_sid) == (0, b"")  # close session
    assert third.login() == 0
    clock.now += 30
    assert third.cmd(0x06, 0x01)[0] == 0  # activity keeps `third` alive
    clock.now += 31
    assert engine.active_sessions() == 1  # `b` idled out, `third` did not
    assert b.managed_sid and int.from_bytes(b.managed_sid, "little") not in engine.sessions


def test_half_open_sessions_expire_quickly() -> None:
    engine, _, clock = make_engine(session_limit=1, handshake_timeout=5.0)
    assert Console(engine, addr=("10.0.0.1", 1)).open() == 0
    assert Console(engine, addr=("10.0.0.2", 2)).open() == wire.Rmcp.INSUFFICIENT_RESOURCES
    clock.now += 6
    assert Console(engine, addr=("10.0.0.2", 2)).open() == 0


def test_faults_reject_auth_and_no_session() -> None:
    engine, _, _ = make_engine()
    engine.faults.reject_auth = True
    c = Console(engine)
    assert c.login() == wire.Rmcp.INVALID_INTEGRITY_CHECK
    assert c.status["rakp2_hmac_ok"] == 0  # the console sees a wrong-password RAKP2
    engine.faults = Faults(no_session=True)
    assert Console(engine).open() == wire.Rmcp.INSUFFICIENT_RESOURCES


def test_unknown_cipher_suite_refused() -> None:
    engine, _, _ = make_engine()
    c = Console(engine, suite=wire.CipherSuite(0, 0, 0, 0, "sha1", 12))
    assert c.open() == wire.Rmcp.NO_CIPHER_SUITE_MATCH


def test_foreign_or_forged_packets_are_dropped() -> None:
    engine, chassis, _ = make_engine()
    c = Console(engine)
    assert c.login() == 0
    c.admin()
    power_on = wire.build_request(0x00, 0x02, b"\x01")
    assert c.send(Payload.IPMI, power_on, addr=("10.6.6.6", 1)) == []
    assert c.keys is not None
    sid = int.from_bytes(c.managed_sid, "little")
    forged = bytearray(wire.build_v20(Payload.IPMI, power_on, sid, 99, c.keys, True, bytes))
    forged[-1] ^= 0xFF
    assert engine.handle(bytes(forged), ADDR) == []
    assert engine.handle(b"\x06\x00\xff\x07garbage", ADDR) == []
    assert chassis.actions == []


def test_unknown_command_is_c1() -> None:
    engine, _, _ = make_engine()
    c = Console(engine)
    assert c.login() == 0
    assert c.cmd(0x06, 0x99) == (0xC1, b"")
    assert c.cmd(0x2E, 0x01) == (0xC1, b"")


def test_sessionless_auth_cap_in_ipmi15_and_cipher_suites() -> None:
    engine, _, _ = make_engine()
    ((data, addr),) = engine.handle(wire.build_v15(wire.build_request(0x06, 0x38, b"\x8e\x04")),
                                    ADDR)
    pkt = wire.parse_packet(data)
    assert pkt is not None and pkt.authtype == wire.AUTHTYPE_NONE and addr == ADDR
    assert pkt.payload[6:-1] == bytes([0, 1, 0x80, 0x04, 0x02, 0, 0, 0, 0])
    ((data, _),) = engine.handle(
        wire.build_v20(Payload.IPMI, wire.build_request(0x06, 0x54, b"\x0e\x00\x80")), ADDR)
    pkt = wire.parse_packet(data)
    assert pkt is not None
    assert pkt.payload[6:-1] == b"\x00\x01" + wire.cipher_suite_records()


def test_boot_flags_and_power_on_through_engine() -> None:
    engine, _chassis, clock = make_engine(session_timeout=120.0)
    c = Console(engine)
    assert c.login() == 0
    c.admin()
    assert c.cmd(0x00, 0x08, bytes.fromhex("05e004000000")) == (0, b"")
    assert c.cmd(0x00, 0x09, b"\x05\x00\x00") == (0, bytes.fromhex("0105e004000000"))
    clock.now += 61
    assert c.cmd(0x00, 0x09, b"\x05\x00\x00")[1][2] == 0x60
    assert c.cmd(0x00, 0x02, b"\x02") == (0xD5, b"")  # cycle while off


def test_boot_flag_faults() -> None:
    engine, chassis, _ = make_engine()
    c = Console(engine)
    assert c.login() == 0
    c.admin()
    engine.faults.ignore_boot_flags = True
    assert c.cmd(0x00, 0x08, bytes.fromhex("05e004000000")) == (0, b"")  # acknowledged...
    assert c.cmd(0x00, 0x09, b"\x05\x00\x00")[1] == bytes.fromhex("01050000000000")  # not kept
    engine.faults = Faults(lose_boot_flags=True)
    assert c.cmd(0x00, 0x08, bytes.fromhex("05e004000000")) == (0, b"")
    assert c.cmd(0x00, 0x02, b"\x01") == (0, b"")
    assert chassis.last_boot == BootRequest(BootDevice.NONE)
    assert c.cmd(0x00, 0x09, b"\x05\x00\x00")[1] == bytes.fromhex("01050000000000")


def sol_console() -> tuple[BmcEngine, MemoryChassis, Clock, Console]:
    engine, chassis, clock = make_engine()
    c = Console(engine)
    assert c.login() == 0
    code, data = c.cmd(0x06, 0x48, bytes([1, 1, 0xC6, 0, 0, 0]))
    assert code == 0
    assert data == bytes(4) + struct.pack("<HHH", SOL_MAX_PAYLOAD, SOL_MAX_PAYLOAD, 623) \
        + b"\xff\xff"
    return engine, chassis, clock, c


def sol(c: Console, pkt: wire.SolPacket) -> list[wire.SolPacket]:
    out = []
    for ptype, payload in c.send(Payload.SOL, wire.build_sol(pkt)):
        assert ptype == Payload.SOL
        parsed = wire.parse_sol(payload)
        assert parsed is not None
        out.append(parsed)
    return out


def decode(engine: BmcEngine, c: Console, out: list[tuple[bytes, tuple[str, int]]]
           ) -> list[wire.SolPacket]:
    assert c.keys is not None
    result = []
    for data, _ in out:
        pkt = wire.parse_packet(data)
        assert pkt is not None and pkt.payload_type == Payload.SOL
        plain = c.keys.decrypt(pkt.payload)
        assert plain is not None
        parsed = wire.parse_sol(plain)
        assert parsed is not None
        result.append(parsed)
    return result


def test_sol_output_window_ack_and_retransmit() -> None:
    engine, _, clock, c = sol_console()
    (first,) = decode(engine, c, engine.sol_output(b"x" * (SOL_MAX_PAYLOAD + 10)))
    assert (first.seq, len(first.data)) == (1, SOL_MAX_PAYLOAD)
    assert engine.sol_output(b"more") == []  # one packet in flight at a time
    assert engine.sol_tick() == []  # not yet due
    clock.now += 1.0
    (again,) = decode(engine, c, engine.sol_tick())
    assert again == first
    (second,) = sol(c, wire.SolPacket(0, 1, SOL_MAX_PAYLOAD, 0, b""))
    assert (second.seq, second.data) == (2, b"x" * 10 + b"more")
    # a partial ack: the rest goes out again first
    (third,) = sol(c, wire.SolPacket(0, 2, 4, 0, b""))
    assert (third.seq, third.data) == (3, b"x" * 6 + b"more")


ACCUMULATE = SOL_ACCUMULATE_INTERVAL * 0.005


def test_sol_output_waits_the_accumulate_interval_unless_it_reaches_the_threshold() -> None:
    engine, _, clock, c = sol_console()
    assert engine.sol_output(b"line 1\r\n") == []  # gathered, as a serial controller does
    clock.now += ACCUMULATE / 2
    assert engine.sol_output(b"line 2\r\n") == []
    assert engine.sol_deadline() == pytest.approx(clock.now - ACCUMULATE / 2 + ACCUMULATE)
    assert engine.sol_tick() == []  # not yet due
    clock.now += ACCUMULATE / 2
    (first,) = decode(engine, c, engine.sol_tick())
    assert first.data == b"line 1\r\nline 2\r\n"  # two lines, one packet
    assert sol(c, wire.SolPacket(0, first.seq, len(first.data), 0, b"")) == []  # all sent
    assert engine.sol_deadline() is None
    # the threshold sends at once
    (full,) = decode(engine, c, engine.sol_output(b"y" * SOL_SEND_THRESHOLD))
    assert full.data == b"y" * SOL_SEND_THRESHOLD


def test_sol_nack_keeps_the_packet_for_the_timer() -> None:
    engine, _, clock, c = sol_console()
    engine.sol_output(b"data")
    clock.now += ACCUMULATE
    (first,) = decode(engine, c, engine.sol_tick())
    assert sol(c, wire.SolPacket(0, first.seq, 0, 0x40, b"")) == []
    clock.now += 1.0
    (again,) = decode(engine, c, engine.sol_tick())
    assert again == first


def test_sol_gives_up_after_retries() -> None:
    engine, _, clock, _c = sol_console()
    engine.sol_output(b"a")
    clock.now += ACCUMULATE
    assert len(engine.sol_tick()) == 1
    for _ in range(SOL_RETRIES):
        clock.now += 1.0
        assert len(engine.sol_tick()) == 1
    clock.now += 1.0
    assert engine.sol_tick() == []
    assert engine.sol_deadline() is None


def test_sol_input_delivered_once_and_acked() -> None:
    _engine, chassis, _, c = sol_console()
    (ack,) = sol(c, wire.SolPacket(1, 0, 0, 0, b"ls\r"))
    assert (ack.seq, ack.ack_seq, ack.accepted) == (0, 1, 3)
    (ack,) = sol(c, wire.SolPacket(1, 0, 0, 0, b"ls\r"))  # retransmission: ack, no duplicate
    assert ack.ack_seq == 1
    sol(c, wire.SolPacket(2, 0, 0, 0, b"x"))
    assert bytes(chassis.console_received) == b"ls\rx"


def test_sol_deactivated_by_another_session_and_by_close() -> None:
    engine, chassis, _, _c = sol_console()
    other = Console(engine, addr=("10.0.0.2", 2))
    assert other.login() == 0
    assert other.cmd(0x06, 0x48, bytes([1, 1, 0xC6, 0, 0, 0]))[0] == 0x80  # already active
    assert other.cmd(0x06, 0x4A, b"\x01") == (0, b"\x01\x01\x00")
    assert other.cmd(0x06, 0x49, bytes([1, 1, 0, 0, 0, 0])) == (0, b"")
    assert engine.sol is None and not chassis.emit_console(b"lost")
    assert other.cmd(0x06, 0x49, bytes([1, 1, 0, 0, 0, 0]))[0] == 0x80
    assert other.cmd(0x06, 0x48, bytes([1, 1, 0xC6, 0, 0, 0]))[0] == 0
    assert other.cmd(0x06, 0x3C, other.managed_sid) == (0, b"")
    assert engine.sol is None


def test_session_info_of_current_session() -> None:
    engine, _, _ = make_engine()
    c = Console(engine)
    assert c.login() == 0
    code, data = c.cmd(0x06, 0x3D, b"\x00")
    assert code == 0
    # handle 1, 4 slots, 1 active, user 2, user privilege, RMCP+ on channel 1, IP, MAC, port
    assert data == bytes([1, 4, 1, 2, 2, 0x11]) + bytes([10, 0, 0, 9]) + bytes(6) \
        + struct.pack(">H", 40000)
    assert c.cmd(0x06, 0x3D, b"\x02")[0] == 0xCC


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(COMMANDS)), st.binary(max_size=24))
def test_every_command_survives_any_request_data(command: tuple[int, int], data: bytes) -> None:
    engine, _, _ = make_engine()
    c = Console(engine)
    assert c.login() == 0
    c.admin()
    code, _ = c.cmd(command[0], command[1], data)
    assert 0 <= code <= 0xFF


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_engine_survives_any_datagram(data: bytes) -> None:
    engine, _, _ = make_engine()
    for prefix in (b"", b"\x06\x00\xff\x07\x06", b"\x06\x00\xff\x07\x06\x10\x00\x00\x00\x00",
                   b"\x06\x00\xff\x07\x00"):
        engine.handle(prefix + data, ADDR)
