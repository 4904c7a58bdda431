"""The remote console's half of the RMCP+ codec (racker's SOL client), read back by the BMC's
half that the simulator's virtual BMC answers with (both in `racker.adapters.bmc.ipmi.wire`)."""

from __future__ import annotations

from racker.adapters.bmc.ipmi import wire
from racker.adapters.bmc.ipmi.wire import Rmcp

SUITE = wire.SUITES[0]


def test_an_open_session_request_reads_back_as_sent() -> None:
    msg = wire.build_open_request(7, b"\x01\x02\x03\x04", SUITE)
    req = wire.parse_open_request(msg)
    assert req == wire.OpenRequest(7, 0, b"\x01\x02\x03\x04", SUITE.auth, SUITE.integrity,
                                   SUITE.confidentiality)


def test_the_open_session_response_head_and_its_algorithms() -> None:
    req = wire.parse_open_request(wire.build_open_request(9, b"\xaa" * 4, SUITE))
    assert req is not None
    reply = wire.parse_setup_reply(wire.build_open_response(req, Rmcp.OK, 4, b"\x10\x20\x30\x40",
                                                            SUITE))
    assert reply is not None
    assert (reply.tag, reply.status, reply.console_sid) == (9, Rmcp.OK, b"\xaa" * 4)
    assert reply.rest[:4] == b"\x10\x20\x30\x40"
    assert (reply.rest[8], reply.rest[16], reply.rest[24]) == (
        SUITE.auth, SUITE.integrity, SUITE.confidentiality)
    refused = wire.parse_setup_reply(wire.build_open_response(req, Rmcp.INSUFFICIENT_RESOURCES))
    assert refused is not None and refused.status == Rmcp.INSUFFICIENT_RESOURCES
    assert wire.parse_setup_reply(b"\x01\x00\x00") is None


def test_rakp1_reads_back_and_rakp3_carries_the_proof() -> None:
    msg = wire.build_rakp1(3, b"\x05\x06\x07\x08", b"r" * 16, 0x14, b"admin")
    rakp1 = wire.parse_rakp1(msg)
    assert rakp1 == wire.Rakp1(3, b"\x05\x06\x07\x08", b"r" * 16, 0x14, b"admin")
    proof = wire.rakp3_code(SUITE, b"secret", b"c" * 16, b"\xaa" * 4, 0x14, b"admin")
    rakp3 = wire.build_rakp3(4, b"\x05\x06\x07\x08", proof)
    assert rakp3[:2] == bytes([4, Rmcp.OK]) and rakp3[4:8] == b"\x05\x06\x07\x08"
    assert rakp3[8:] == proof and len(proof) == 20
    refusal = wire.build_rakp3(4, b"\x05\x06\x07\x08", b"", Rmcp.INVALID_INTEGRITY_CHECK)
    assert refusal[1] == Rmcp.INVALID_INTEGRITY_CHECK and len(refusal) == 8


def test_a_response_reads_back_with_its_sequence_and_completion_code() -> None:
    req = wire.parse_request(wire.build_request(0x06, 0x48, b"\x01\x01\xc0\x00\x00\x00", seq=37))
    assert req is not None
    answer = wire.parse_response(wire.build_response(req, 0x80, b"\x01\x02"))
    assert answer == wire.IpmiResponse(netfn=0x07, rq_seq=37, cmd=0x48, code=0x80,
                                       data=b"\x01\x02")
    broken = bytearray(wire.build_response(req, 0))
    broken[-1] ^= 0xFF
    assert wire.parse_response(bytes(broken)) is None
    assert wire.parse_response(b"\x81\x1c") is None


def test_a_signed_encrypted_datagram_reads_back_with_the_same_keys_only() -> None:
    keys = wire.SessionKeys.derive(SUITE, b"secret", b"m" * 16, b"c" * 16, 0x14, b"admin")
    other = wire.SessionKeys.derive(SUITE, b"wrong", b"m" * 16, b"c" * 16, 0x14, b"admin")
    sol = wire.build_sol(wire.SolPacket(0, 5, 12, 0, b""))
    datagram = wire.build_v20(wire.Payload.SOL, sol, 0x11223344, 9, keys, encrypt=True,
                              random=lambda n: b"\x07" * n)
    pkt = wire.parse_packet(datagram)
    assert pkt is not None and pkt.session_id == 0x11223344 and pkt.sequence == 9
    assert keys.verify(pkt) and not other.verify(pkt)
    assert keys.decrypt(pkt.payload) == sol
