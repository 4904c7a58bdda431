"""RMCP / IPMI 1.5 / RMCP+ (IPMI 2.0) framing and session crypto for both ends: racker's
Serial-over-LAN client and the simulator's virtual BMC. Pure.

Everything here turns bytes into small dataclasses and back, and derives the RAKP keys. No
sockets, no clocks: the caller passes randomness in where the protocol needs it.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

RMCP_HEADER = b"\x06\x00\xff\x07"
AUTHTYPE_NONE = 0x00
AUTHTYPE_RMCPPLUS = 0x06
BMC_ADDR = 0x20


class Payload(IntEnum):
    """RMCP+ payload types (IPMI 2.0 table 13-16)."""

    IPMI = 0x00
    SOL = 0x01
    OPEN_REQUEST = 0x10
    OPEN_RESPONSE = 0x11
    RAKP1 = 0x12
    RAKP2 = 0x13
    RAKP3 = 0x14
    RAKP4 = 0x15


class Rmcp(IntEnum):
    """RMCP+ status codes of the session set-up messages (IPMI 2.0 table 13-15)."""

    OK = 0x00
    INSUFFICIENT_RESOURCES = 0x01
    INVALID_SESSION_ID = 0x02
    INVALID_ROLE = 0x09
    UNAUTHORIZED_ROLE = 0x0A
    UNAUTHORIZED_NAME = 0x0D
    INVALID_INTEGRITY_CHECK = 0x0F
    NO_CIPHER_SUITE_MATCH = 0x11


@dataclass(frozen=True)
class CipherSuite:
    """One supported cipher suite: algorithm numbers and the hash they use."""

    ident: int
    auth: int
    integrity: int
    confidentiality: int
    digest: str
    icv_len: int
    """Length of the truncated HMAC in RAKP4 and in every authenticated packet."""

    def mac(self, key: bytes, data: bytes) -> bytes:
        """Full-length HMAC with this suite's hash."""
        return hmac.new(key, data, self.digest).digest()


SUITES: tuple[CipherSuite, ...] = (
    # suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128 (what racker and `ipmi` use, -C3)
    CipherSuite(3, 1, 1, 1, "sha1", 12),
    # suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128 (ipmitool's default)
    CipherSuite(17, 3, 4, 1, "sha256", 16),
)


def suite_for(auth: int, integrity: int, confidentiality: int) -> CipherSuite | None:
    """The supported suite with exactly these algorithms, if any."""
    for s in SUITES:
        if (s.auth, s.integrity, s.confidentiality) == (auth, integrity, confidentiality):
            return s
    return None


def cipher_suite_records() -> bytes:
    """The record list of Get Channel Cipher Suites (IPMI 2.0 table 22-18)."""
    out = bytearray()
    for s in SUITES:
        out += bytes([0xC0, s.ident, s.auth, 0x40 | s.integrity, 0x80 | s.confidentiality])
    return bytes(out)


def checksum(data: bytes) -> int:
    """IPMI two's complement checksum: the byte that makes the sum zero modulo 256."""
    return -sum(data) & 0xFF


def _well_framed(msg: bytes, least: int) -> bool:
    """An IPMI message of at least `least` bytes whose two checksums (of the header, and of
    the rest) are right."""
    return len(msg) >= least and checksum(msg[:2]) == msg[2] and checksum(msg[3:-1]) == msg[-1]


@dataclass(frozen=True)
class IpmiRequest:
    """An IPMI request message (IPMI 2.0 figure 13-4, request direction)."""

    rs_addr: int
    netfn: int
    rs_lun: int
    rq_addr: int
    rq_seq: int
    rq_lun: int
    cmd: int
    data: bytes


def parse_request(msg: bytes) -> IpmiRequest | None:
    """Decode an IPMI request; None when it is too short or a checksum is wrong."""
    if not _well_framed(msg, 7):
        return None
    return IpmiRequest(rs_addr=msg[0], netfn=msg[1] >> 2, rs_lun=msg[1] & 3, rq_addr=msg[3],
                       rq_seq=msg[4] >> 2, rq_lun=msg[4] & 3, cmd=msg[5], data=bytes(msg[6:-1]))


def build_response(req: IpmiRequest, code: int, data: bytes = b"") -> bytes:
    """The IPMI response message answering `req` with completion `code` and `data`."""
    head = bytes([req.rq_addr, ((req.netfn | 1) << 2) | req.rq_lun])
    body = bytes([req.rs_addr, (req.rq_seq << 2) | req.rs_lun, req.cmd, code]) + data
    return head + bytes([checksum(head)]) + body + bytes([checksum(body)])


def build_request(netfn: int, cmd: int, data: bytes = b"", seq: int = 1) -> bytes:
    """An IPMI request message as a remote console sends it (used by tests and tools)."""
    head = bytes([BMC_ADDR, netfn << 2])
    body = bytes([0x81, seq << 2, cmd]) + data
    return head + bytes([checksum(head)]) + body + bytes([checksum(body)])


@dataclass(frozen=True)
class Packet:
    """One received datagram, decoded up to (not including) decryption of the payload."""

    authtype: int
    payload_type: int
    encrypted: bool
    authenticated: bool
    session_id: int
    sequence: int
    payload: bytes
    signed: bytes = b""
    """The bytes the integrity code covers (authtype through next header)."""
    auth_code: bytes = b""


def parse_packet(data: bytes) -> Packet | None:
    """Decode RMCP + session header of an IPMI 1.5 (no auth) or RMCP+ datagram, else None."""
    if len(data) < 14 or data[0] != 0x06 or data[3] != 0x07:
        return None
    authtype = data[4] & 0x0F
    if authtype == AUTHTYPE_NONE:
        sequence, session_id = struct.unpack_from("<II", data, 5)
        length = data[13]
        if len(data) < 14 + length:
            return None
        return Packet(authtype, Payload.IPMI, False, False, session_id, sequence,
                      bytes(data[14:14 + length]))
    if authtype != AUTHTYPE_RMCPPLUS or len(data) < 16:
        return None
    ptype = data[5]
    if ptype & 0x3F == 0x02:  # OEM explicit payloads carry extra header fields we never need
        return None
    session_id, sequence, length = struct.unpack_from("<IIH", data, 6)
    end = 16 + length
    if len(data) < end:
        return None
    authenticated = bool(ptype & 0x40)
    signed = auth_code = b""
    if authenticated:
        if len(data) < end + 2:
            return None
        pad = data[end:].find(b"\x07")  # next header byte follows the 0xff pad and pad length
        if pad < 1:
            return None
        signed = bytes(data[4:end + pad + 1])
        auth_code = bytes(data[end + pad + 1:])
    return Packet(AUTHTYPE_RMCPPLUS, ptype & 0x3F, bool(ptype & 0x80), authenticated,
                  session_id, sequence, bytes(data[16:end]), signed, auth_code)


def build_v15(msg: bytes) -> bytes:
    """An unauthenticated IPMI 1.5 datagram (session-less replies)."""
    return RMCP_HEADER + bytes([AUTHTYPE_NONE]) + bytes(8) + bytes([len(msg)]) + msg


def build_v20(payload_type: int, payload: bytes, session_id: int = 0, sequence: int = 0,
              keys: SessionKeys | None = None, encrypt: bool = False,
              random: Callable[[int], bytes] | None = None) -> bytes:
    """An RMCP+ datagram; with `keys` it is signed, with `encrypt` also AES-encrypted."""
    ptype = payload_type
    if keys is not None and encrypt:
        if random is None:
            raise ValueError("encryption needs a source of random IVs")
        payload = keys.encrypt(payload, random(16))
        ptype |= 0x80
    if keys is not None:
        ptype |= 0x40
    body = bytes([AUTHTYPE_RMCPPLUS, ptype]) + struct.pack("<IIH", session_id, sequence,
                                                           len(payload)) + payload
    if keys is None:
        return RMCP_HEADER + body
    pad = (4 - (len(body) + 2) % 4) % 4
    body += b"\xff" * pad + bytes([pad, 0x07])
    return RMCP_HEADER + body + keys.sign(body)


@dataclass(frozen=True)
class SessionKeys:
    """The keys of an established RMCP+ session (IPMI 2.0 section 13.31/13.32)."""

    suite: CipherSuite
    sik: bytes
    k1: bytes
    k2: bytes

    @classmethod
    def derive(cls, suite: CipherSuite, key: bytes, rm: bytes, rc: bytes, role: int,
               username: bytes) -> SessionKeys:
        """SIK from Kg (or Kuid) and the RAKP nonces; K1 for integrity, K2 for AES."""
        sik = suite.mac(key, rm + rc + bytes([role, len(username)]) + username)
        # NOTE: the constants are 20 bytes for every suite; ipmitool and BMCs agree on that
        return cls(suite, sik, suite.mac(sik, b"\x01" * 20), suite.mac(sik, b"\x02" * 20))

    def sign(self, signed: bytes) -> bytes:
        """The truncated integrity code over the bytes from authtype through next header."""
        return self.suite.mac(self.k1, signed)[: self.suite.icv_len]

    def verify(self, pkt: Packet) -> bool:
        """True when the packet carries a valid integrity code for this session."""
        return pkt.authenticated and hmac.compare_digest(self.sign(pkt.signed), pkt.auth_code)

    def encrypt(self, data: bytes, iv: bytes) -> bytes:
        """AES-CBC-128 with the confidentiality trailer pad 01 02 03 ... n, n."""
        pad = (16 - (len(data) + 1) % 16) % 16
        plain = data + bytes(range(1, pad + 1)) + bytes([pad])
        enc = Cipher(algorithms.AES(self.k2[:16]), modes.CBC(iv)).encryptor()
        return iv + enc.update(plain) + enc.finalize()

    def decrypt(self, data: bytes) -> bytes | None:
        """The plain payload, or None when the ciphertext is malformed."""
        if len(data) < 32 or len(data) % 16:
            return None
        dec = Cipher(algorithms.AES(self.k2[:16]), modes.CBC(data[:16])).decryptor()
        plain = dec.update(data[16:]) + dec.finalize()
        pad = plain[-1]
        if pad > 15:
            return None
        return plain[: -1 - pad]


@dataclass(frozen=True)
class OpenRequest:
    """RMCP+ Open Session Request (IPMI 2.0 table 13-9)."""

    tag: int
    privilege: int
    console_sid: bytes
    auth: int
    integrity: int
    confidentiality: int


def parse_open_request(p: bytes) -> OpenRequest | None:
    """Decode an Open Session Request; None when it is truncated."""
    if len(p) < 32:
        return None
    return OpenRequest(p[0], p[1] & 0x0F, bytes(p[4:8]), p[12] & 0x3F, p[20] & 0x3F, p[28] & 0x3F)


def build_open_response(req: OpenRequest, status: int, privilege: int = 0,
                        managed_sid: bytes = b"", suite: CipherSuite | None = None) -> bytes:
    """Open Session Response; on an error status only the fixed part (table 13-10)."""
    head = bytes([req.tag, status, privilege, 0]) + req.console_sid
    if status != Rmcp.OK or suite is None:
        return head
    return head + managed_sid + bytes([
        0, 0, 0, 8, suite.auth, 0, 0, 0,
        1, 0, 0, 8, suite.integrity, 0, 0, 0,
        2, 0, 0, 8, suite.confidentiality, 0, 0, 0,
    ])


@dataclass(frozen=True)
class Rakp1:
    """RAKP Message 1 (IPMI 2.0 table 13-11)."""

    tag: int
    managed_sid: bytes
    rm: bytes
    role: int
    username: bytes


def parse_rakp1(p: bytes) -> Rakp1 | None:
    """Decode RAKP1; None when truncated or the name is longer than 16 bytes."""
    if len(p) < 28 or p[27] > 16 or len(p) < 28 + p[27]:
        return None
    return Rakp1(p[0], bytes(p[4:8]), bytes(p[8:24]), p[24], bytes(p[28:28 + p[27]]))


def rakp2_code(suite: CipherSuite, kuid: bytes, console_sid: bytes, managed_sid: bytes,
               rm: bytes, rc: bytes, guid: bytes, role: int, username: bytes) -> bytes:
    """The key exchange authentication code the BMC sends in RAKP2."""
    return suite.mac(kuid, console_sid + managed_sid + rm + rc + guid
                     + bytes([role, len(username)]) + username)


def rakp3_code(suite: CipherSuite, kuid: bytes, rc: bytes, console_sid: bytes, role: int,
               username: bytes) -> bytes:
    """The code a console that knows the password sends in RAKP3."""
    return suite.mac(kuid, rc + console_sid + bytes([role, len(username)]) + username)


def rakp4_code(keys: SessionKeys, rm: bytes, managed_sid: bytes, guid: bytes) -> bytes:
    """The integrity check value of RAKP4."""
    return keys.suite.mac(keys.sik, rm + managed_sid + guid)[: keys.suite.icv_len]


@dataclass(frozen=True)
class SolPacket:
    """A Serial-over-LAN payload (IPMI 2.0 table 15-2)."""

    seq: int
    ack_seq: int
    accepted: int
    status: int
    data: bytes


def parse_sol(p: bytes) -> SolPacket | None:
    """Decode a SOL payload; None when shorter than its 4-byte header."""
    if len(p) < 4:
        return None
    return SolPacket(p[0] & 0x0F, p[1] & 0x0F, p[2], p[3], bytes(p[4:]))


def build_sol(pkt: SolPacket) -> bytes:
    """Encode a SOL payload."""
    return bytes([pkt.seq, pkt.ack_seq, pkt.accepted, pkt.status]) + pkt.data


# -- the remote console's side of the session set-up (racker's SOL client) -----------------


@dataclass(frozen=True)
class IpmiResponse:
    """An IPMI response message (IPMI 2.0 figure 13-4, response direction)."""

    netfn: int
    rq_seq: int
    cmd: int
    code: int
    data: bytes


def parse_response(msg: bytes) -> IpmiResponse | None:
    """Decode an IPMI response message; None when it is too short or a checksum is wrong."""
    if not _well_framed(msg, 8):
        return None
    return IpmiResponse(netfn=msg[1] >> 2, rq_seq=msg[4] >> 2, cmd=msg[5], code=msg[6],
                        data=bytes(msg[7:-1]))


def build_open_request(tag: int, console_sid: bytes, suite: CipherSuite,
                       privilege: int = 0) -> bytes:
    """RMCP+ Open Session Request (table 13-9); privilege 0: the highest the user has."""
    return bytes([tag, privilege, 0, 0]) + console_sid + bytes([
        0, 0, 0, 8, suite.auth, 0, 0, 0,
        1, 0, 0, 8, suite.integrity, 0, 0, 0,
        2, 0, 0, 8, suite.confidentiality, 0, 0, 0,
    ])


@dataclass(frozen=True)
class SetupReply:
    """The fixed head of the BMC's set-up replies (Open Session Response, RAKP2, RAKP4): the
    message tag, the RMCP+ status and the console's session ID, then the rest."""

    tag: int
    status: int
    console_sid: bytes
    rest: bytes


def parse_setup_reply(p: bytes) -> SetupReply | None:
    """Decode the head of an Open Session Response, RAKP2 or RAKP4; None when truncated."""
    if len(p) < 8:
        return None
    return SetupReply(p[0], p[1], bytes(p[4:8]), bytes(p[8:]))


def build_rakp1(tag: int, managed_sid: bytes, rm: bytes, role: int, username: bytes) -> bytes:
    """RAKP Message 1 (table 13-11): the console's random number, role and user name."""
    return bytes([tag, 0, 0, 0]) + managed_sid + rm + bytes([role, 0, 0, len(username)]) \
        + username


def build_rakp3(tag: int, managed_sid: bytes, code: bytes, status: int = Rmcp.OK) -> bytes:
    """RAKP Message 3 (table 13-13): the proof that the console knows the password."""
    return bytes([tag, status, 0, 0]) + managed_sid + code
