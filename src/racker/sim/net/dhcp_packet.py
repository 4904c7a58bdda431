"""DHCP messages and their IPv4/UDP framing, as a PXE firmware, iPXE or an OS sends them.

Pure: no sockets. `dhcp_client` does the I/O on a raw packet socket, because a client without an
address must send from 0.0.0.0 to the broadcast address.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from enum import IntEnum

MAGIC_COOKIE = b"\x63\x82\x53\x63"
CLIENT_PORT = 68
SERVER_PORT = 67
BROADCAST_FLAG = 0x8000

OPT_PAD = 0
OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_REQUESTED_IP = 50
OPT_LEASE_TIME = 51
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_PARAM_REQUEST = 55
OPT_VENDOR_CLASS = 60
OPT_CLIENT_ID = 61
OPT_TFTP_SERVER = 66
OPT_BOOTFILE = 67
OPT_USER_CLASS = 77
OPT_CLIENT_ARCH = 93
OPT_CLIENT_NDI = 94
OPT_CLIENT_UUID = 97
OPT_END = 255

_FIXED = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


class MessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


class DhcpDecodeError(ValueError):
    """Bytes that are not a DHCP message."""


@dataclass(frozen=True)
class DhcpMessage:
    """One BOOTP/DHCP message. Addresses are dotted strings, `chaddr` a lower-case colon MAC."""

    op: int
    xid: int
    chaddr: str
    secs: int = 0
    flags: int = 0
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    giaddr: str = "0.0.0.0"
    sname: str = ""
    file: str = ""
    options: tuple[tuple[int, bytes], ...] = field(default=())

    def option(self, code: int) -> bytes | None:
        """The value of option `code` (the first occurrence), or None."""
        for c, v in self.options:
            if c == code:
                return v
        return None

    @property
    def message_type(self) -> MessageType | None:
        raw = self.option(OPT_MESSAGE_TYPE)
        if raw is None or len(raw) != 1:
            return None
        try:
            return MessageType(raw[0])
        except ValueError:
            return None

    def option_ip(self, code: int) -> str | None:
        """Option `code` read as one IPv4 address."""
        raw = self.option(code)
        if raw is None or len(raw) < 4:
            return None
        return str(ipaddress.IPv4Address(raw[:4]))

    def option_text(self, code: int) -> str | None:
        """Option `code` read as text (a trailing NUL, as some servers send, is dropped)."""
        raw = self.option(code)
        if raw is None:
            return None
        return raw.rstrip(b"\0").decode("utf-8", errors="replace")

    @property
    def boot_file(self) -> str:
        """The boot file name: option 67 when present, else the `file` header field."""
        return self.option_text(OPT_BOOTFILE) or self.file

    @property
    def next_server(self) -> str:
        """Where to fetch the boot file over TFTP: `siaddr`, else option 66, else the server."""
        if self.siaddr != "0.0.0.0":
            return self.siaddr
        return self.option_text(OPT_TFTP_SERVER) or self.option_ip(OPT_SERVER_ID) or "0.0.0.0"

    @property
    def prefix_len(self) -> int:
        """The subnet prefix length from option 1 (24 when absent)."""
        mask = self.option_ip(OPT_SUBNET_MASK)
        if mask is None:
            return 24
        prefix: int = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
        return prefix


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(p, 16) for p in mac.split(":"))


def _ip(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def encode(msg: DhcpMessage) -> bytes:
    """The wire form of `msg` (BOOTP header, magic cookie, options, end, padded to 300 bytes)."""
    fixed = _FIXED.pack(
        msg.op, 1, 6, 0, msg.xid, msg.secs, msg.flags,
        _ip(msg.ciaddr), _ip(msg.yiaddr), _ip(msg.siaddr), _ip(msg.giaddr),
        _mac_bytes(msg.chaddr).ljust(16, b"\0"),
        msg.sname.encode()[:63].ljust(64, b"\0"), msg.file.encode()[:127].ljust(128, b"\0"),
    )
    opts = bytearray()
    for code, value in msg.options:
        if len(value) > 255:
            raise ValueError(f"DHCP option {code} is longer than 255 bytes")
        opts += bytes((code, len(value))) + value
    opts.append(OPT_END)
    # NOTE: some BOOTP relays and servers drop messages shorter than the BOOTP minimum.
    return (fixed + MAGIC_COOKIE + bytes(opts)).ljust(300, b"\0")


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def decode(data: bytes) -> DhcpMessage:
    """Parse a DHCP message; raise DhcpDecodeError when `data` is not one."""
    if len(data) < _FIXED.size + 4:
        raise DhcpDecodeError("too short for a DHCP message")
    (op, htype, hlen, _hops, xid, secs, flags, ci, yi, si, gi, chaddr, sname,
     file) = _FIXED.unpack_from(data)
    if data[_FIXED.size:_FIXED.size + 4] != MAGIC_COOKIE:
        raise DhcpDecodeError("no DHCP magic cookie")
    if htype != 1 or hlen != 6:
        raise DhcpDecodeError("not an Ethernet hardware address")
    options: list[tuple[int, bytes]] = []
    i = _FIXED.size + 4
    while i < len(data):
        code = data[i]
        if code == OPT_END:
            break
        if code == OPT_PAD:
            i += 1
            continue
        if i + 1 >= len(data):
            raise DhcpDecodeError(f"option {code} is cut off")
        length = data[i + 1]
        value = data[i + 2:i + 2 + length]
        if len(value) != length:
            raise DhcpDecodeError(f"option {code} is cut off")
        options.append((code, bytes(value)))
        i += 2 + length
    return DhcpMessage(
        op=op, xid=xid, secs=secs, flags=flags,
        ciaddr=str(ipaddress.IPv4Address(ci)), yiaddr=str(ipaddress.IPv4Address(yi)),
        siaddr=str(ipaddress.IPv4Address(si)), giaddr=str(ipaddress.IPv4Address(gi)),
        chaddr=":".join(f"{b:02x}" for b in chaddr[:6]),
        sname=_cstr(sname), file=_cstr(file), options=tuple(options),
    )


@dataclass(frozen=True)
class ClientProfile:
    """Who is asking: a PXE ROM (`arch` set), iPXE (`user_class` `iPXE`) or a plain OS."""

    mac: str
    uuid: bytes | None = None
    """16 bytes of the SMBIOS system UUID (option 97)."""
    arch: int | None = None
    """Client system architecture (option 93): 0 BIOS, 7 x86-64 EFI."""
    user_class: str | None = None
    client_id: bool = True
    hostname: str | None = None

    @property
    def broadcast(self) -> bool:
        """Whether it asks for broadcast replies: PXE ROMs and iPXE do; an OS's client (as
        systemd-networkd's, by default) takes them as unicast to its new address."""
        return self.arch is not None or self.user_class is not None


PXE_PARAMS = bytes((1, 3, 6, 12, 15, 28, 43, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133,
                    134, 135, 175))
OS_PARAMS = bytes((1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59))


def _client_options(profile: ClientProfile) -> list[tuple[int, bytes]]:
    opts: list[tuple[int, bytes]] = []
    if profile.client_id:
        opts.append((OPT_CLIENT_ID, b"\x01" + _mac_bytes(profile.mac)))
    if profile.arch is not None:
        opts.append((OPT_PARAM_REQUEST, PXE_PARAMS))
        # PXE spec: "PXEClient:Arch:xxxxx:UNDI:yyyzzz", arch as five decimal digits.
        opts.append((OPT_VENDOR_CLASS, f"PXEClient:Arch:{profile.arch:05d}:UNDI:003016".encode()))
        opts.append((OPT_CLIENT_ARCH, struct.pack("!H", profile.arch)))
        opts.append((OPT_CLIENT_NDI, b"\x01\x03\x10"))
        if profile.uuid is not None:
            opts.append((OPT_CLIENT_UUID, b"\x00" + profile.uuid))
    else:
        opts.append((OPT_PARAM_REQUEST, OS_PARAMS))
    if profile.user_class is not None:
        # NOTE: iPXE sends its user class as the bare string, not in RFC 3004 form; dnsmasq's
        # dhcp-userclass matches that form too.
        opts.append((OPT_USER_CLASS, profile.user_class.encode()))
    if profile.hostname:
        opts.append((12, profile.hostname.encode()))
    return opts


def discover(profile: ClientProfile, xid: int, secs: int = 0) -> DhcpMessage:
    """A DHCPDISCOVER (broadcast replies asked for as the profile does)."""
    return DhcpMessage(
        op=1, xid=xid, chaddr=profile.mac, secs=secs, flags=_flags(profile),
        options=((OPT_MESSAGE_TYPE, bytes((MessageType.DISCOVER,))),
                 *_client_options(profile)),
    )


def request(profile: ClientProfile, xid: int, offer: DhcpMessage, secs: int = 0) -> DhcpMessage:
    """The DHCPREQUEST (SELECTING state) for `offer`."""
    server = offer.option(OPT_SERVER_ID)
    opts: list[tuple[int, bytes]] = [(OPT_MESSAGE_TYPE, bytes((MessageType.REQUEST,))),
                                     (OPT_REQUESTED_IP, _ip(offer.yiaddr))]
    if server is not None:
        opts.append((OPT_SERVER_ID, server))
    opts += _client_options(profile)
    return DhcpMessage(op=1, xid=xid, chaddr=profile.mac, secs=secs, flags=_flags(profile),
                       options=tuple(opts))


def _flags(profile: ClientProfile) -> int:
    return BROADCAST_FLAG if profile.broadcast else 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes,
             ident: int = 0) -> bytes:
    """An IPv4 packet (TTL 64, checksums filled in) carrying one UDP datagram."""
    udp_len = 8 + len(payload)
    pseudo = _ip(src) + _ip(dst) + struct.pack("!BBH", 0, 17, udp_len)
    udp_nocsum = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = _checksum(pseudo + udp_nocsum) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, udp_len, csum) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident & 0xFFFF, 0, 64, 17, 0,
                         _ip(src), _ip(dst))
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + udp


@dataclass(frozen=True)
class UdpDatagram:
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes


def parse_ipv4_udp(packet: bytes) -> UdpDatagram | None:
    """The UDP datagram inside an IPv4 packet, or None for anything else (or a fragment)."""
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    frag = struct.unpack_from("!H", packet, 6)[0]
    if packet[9] != 17 or frag & 0x3FFF or len(packet) < ihl + 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", packet, ihl)
    end = min(ihl + length, total, len(packet))
    return UdpDatagram(
        src=str(ipaddress.IPv4Address(packet[12:16])),
        dst=str(ipaddress.IPv4Address(packet[16:20])),
        sport=sport, dport=dport, payload=bytes(packet[ihl + 8:end]),
    )
