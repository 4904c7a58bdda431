"""RMCP+ framing and session crypto of the virtual BMC."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.adapters.bmc.ipmi import wire as wire

SHA1 = wire.SUITES[0]
SHA256 = wire.SUITES[1]


@pytest.mark.parametrize(("data", "expected"), [
    (b"\x20\x18", 0xC8),  # header of a chassis request to the BMC
    (b"", 0x00),
    (b"\xff", 0x01),
    (b"\x81\x04\x01", 0x7A),
])
def test_checksum(data: bytes, expected: int) -> None:
    assert wire.checksum(data) == expected
    assert (sum(data) + expected) % 256 == 0


def test_request_response_round_trip() -> None:
    msg = wire.build_request(0x00, 0x09, b"\x05\x00\x00", seq=5)
    req = wire.parse_request(msg)
    assert req is not None
    assert (req.netfn, req.cmd, req.rq_seq, req.data) == (0x00, 0x09, 5, b"\x05\x00\x00")
    rsp = wire.build_response(req, 0x00, b"\x01\x05\xe0\x04\x00\x00\x00")
    # rqAddr, netFn 1 (chassis response) << 2, checksum, rsAddr, seq, cmd, cc, data, checksum
    assert rsp[:2] == b"\x81\x04" and rsp[3:7] == bytes([0x20, 5 << 2, 0x09, 0x00])
    assert wire.checksum(rsp[:2]) == rsp[2] and wire.checksum(rsp[3:-1]) == rsp[-1]


@pytest.mark.parametrize("msg", [
    b"",
    b"\x20\x18\xc8\x81\x04",  # too short
    b"\x20\x18\x00\x81\x04\x01\x7a",  # bad header checksum
    b"\x20\x18\xc8\x81\x04\x01\x00",  # bad body checksum
])
def test_parse_request_rejects(msg: bytes) -> None:
    assert wire.parse_request(msg) is None


def test_v15_packet_round_trip() -> None:
    msg = wire.build_request(0x06, 0x38, b"\x8e\x04")
    pkt = wire.parse_packet(wire.build_v15(msg))
    assert pkt is not None
    assert (pkt.authtype, pkt.session_id, pkt.payload) == (wire.AUTHTYPE_NONE, 0, msg)


def keys(suite: wire.CipherSuite) -> wire.SessionKeys:
    return wire.SessionKeys.derive(suite, b"password", bytes(range(16)), bytes(range(16, 32)),
                                   0x14, b"admin")


@pytest.mark.parametrize("suite", wire.SUITES, ids=lambda s: f"suite{s.ident}")
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 100])
def test_signed_encrypted_packet_round_trip(suite: wire.CipherSuite, size: int) -> None:
    k = keys(suite)
    payload = bytes(range(size))
    data = wire.build_v20(wire.Payload.IPMI, payload, 0x11223344, 7, k, True,
                          random=lambda n: b"\x42" * n)
    assert (len(data) - 4 - suite.icv_len) % 4 == 0  # integrity pad aligns the signed part
    pkt = wire.parse_packet(data)
    assert pkt is not None
    assert (pkt.session_id, pkt.sequence, pkt.encrypted, pkt.authenticated) == \
        (0x11223344, 7, True, True)
    assert k.verify(pkt)
    assert k.decrypt(pkt.payload) == payload
    tampered = bytearray(data)
    tampered[20] ^= 1
    bad = wire.parse_packet(bytes(tampered))
    assert bad is None or not k.verify(bad)


def test_unsigned_packet_is_not_verified() -> None:
    pkt = wire.parse_packet(wire.build_v20(wire.Payload.IPMI, b"abc", 1, 1))
    assert pkt is not None and not pkt.authenticated
    assert not keys(SHA1).verify(pkt)


def test_key_derivation_known_answer() -> None:
    # SIK = HMAC-SHA1(Kuid, Rm | Rc | role | ulen | name); K1/K2 from 20-byte constants,
    # the way ipmitool derives them for every suite.
    import hashlib
    import hmac

    rm, rc = bytes(range(16)), bytes(range(16, 32))
    sik = hmac.new(b"password", rm + rc + b"\x14\x05admin", hashlib.sha1).digest()
    k = keys(SHA1)
    assert k.sik == sik
    assert k.k1 == hmac.new(sik, b"\x01" * 20, hashlib.sha1).digest()
    assert k.k2 == hmac.new(sik, b"\x02" * 20, hashlib.sha1).digest()
    assert len(keys(SHA256).k1) == 32


@pytest.mark.parametrize(("algorithms", "ident"), [
    ((1, 1, 1), 3), ((3, 4, 1), 17), ((1, 1, 0), None), ((0, 0, 0), None), ((2, 2, 1), None),
])
def test_suite_for(algorithms: tuple[int, int, int], ident: int | None) -> None:
    suite = wire.suite_for(*algorithms)
    assert (suite.ident if suite else None) == ident


def test_cipher_suite_records() -> None:
    assert wire.cipher_suite_records() == bytes.fromhex("c003014181" "c011034481")


def test_open_request_and_response() -> None:
    p = bytes([7, 4, 0, 0]) + b"\x01\x02\x03\x04" + bytes([0, 0, 0, 8, 1, 0, 0, 0,
                                                          1, 0, 0, 8, 1, 0, 0, 0,
                                                          2, 0, 0, 8, 1, 0, 0, 0])
    req = wire.parse_open_request(p)
    assert req == wire.OpenRequest(7, 4, b"\x01\x02\x03\x04", 1, 1, 1)
    ok = wire.build_open_response(req, wire.Rmcp.OK, 4, b"\xaa\xbb\xcc\xdd", SHA1)
    assert ok[:12] == bytes([7, 0, 4, 0]) + b"\x01\x02\x03\x04\xaa\xbb\xcc\xdd"
    assert ok[12:] == p[8:]
    refused = wire.build_open_response(req, wire.Rmcp.INSUFFICIENT_RESOURCES)
    assert refused == bytes([7, 1, 0, 0]) + b"\x01\x02\x03\x04"
    assert wire.parse_open_request(p[:31]) is None


def test_rakp1_parse() -> None:
    p = bytes([9, 0, 0, 0]) + b"SIDM" + bytes(range(16)) + bytes([0x14, 0, 0, 5]) + b"admin"
    assert wire.parse_rakp1(p) == wire.Rakp1(9, b"SIDM", bytes(range(16)), 0x14, b"admin")
    assert wire.parse_rakp1(p[:-1]) is None
    assert wire.parse_rakp1(p[:27] + bytes([17]) + b"x" * 17) is None


@pytest.mark.parametrize("pkt", [
    wire.SolPacket(1, 0, 0, 0, b"hello"),
    wire.SolPacket(0, 3, 5, 0, b""),
    wire.SolPacket(15, 14, 200, 0x40, b"\x00\xff"),
])
def test_sol_round_trip(pkt: wire.SolPacket) -> None:
    assert wire.parse_sol(wire.build_sol(pkt)) == pkt


@given(st.binary(max_size=200))
def test_parse_packet_never_raises(data: bytes) -> None:
    wire.parse_packet(data)
    wire.parse_packet(b"\x06\x00\xff\x07\x06" + data)


@given(st.binary(max_size=100))
def test_decrypt_garbage_never_raises(data: bytes) -> None:
    keys(SHA1).decrypt(data)
