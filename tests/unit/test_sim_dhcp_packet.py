"""DHCP codec of the simulated nodes: options 53/60/77/93/55/61/97, framing, decoding."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.sim.net import dhcp_packet as dp

MAC = "02:aa:bb:cc:dd:01"
UUID = bytes(range(16))


def _opts(msg: dp.DhcpMessage) -> dict[int, bytes]:
    return dict(msg.options)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (dp.ClientProfile(MAC, uuid=UUID, arch=7, client_id=False),
         {53: b"\x01", 60: b"PXEClient:Arch:00007:UNDI:003016", 93: b"\x00\x07",
          97: b"\x00" + UUID}),
        (dp.ClientProfile(MAC, uuid=UUID, arch=7, user_class="iPXE"),
         {53: b"\x01", 77: b"iPXE", 93: b"\x00\x07", 61: b"\x01\x02\xaa\xbb\xcc\xdd\x01"}),
        (dp.ClientProfile(MAC, arch=0, client_id=False),
         {60: b"PXEClient:Arch:00000:UNDI:003016", 93: b"\x00\x00"}),
        (dp.ClientProfile(MAC, hostname="node1"),
         {53: b"\x01", 61: b"\x01\x02\xaa\xbb\xcc\xdd\x01", 12: b"node1"}),
    ],
)
def test_discover_carries_the_client_options(profile: dp.ClientProfile,
                                             expected: dict[int, bytes]) -> None:
    msg = dp.decode(dp.encode(dp.discover(profile, 0x1234)))
    opts = _opts(msg)
    for code, value in expected.items():
        assert opts[code] == value
    assert msg.message_type is dp.MessageType.DISCOVER
    # PXE ROMs and iPXE ask for broadcast replies, an OS's client for unicast ones
    assert msg.flags == (dp.BROADCAST_FLAG if profile.arch is not None
                         or profile.user_class else 0)
    assert (55 in opts and 66 in opts[55]) or profile.arch is None
    if profile.arch is None:
        assert 60 not in opts and 93 not in opts
    if not profile.client_id:
        assert 61 not in opts


def test_wire_layout() -> None:
    raw = dp.encode(dp.discover(dp.ClientProfile(MAC), 0xDEADBEEF, secs=3))
    assert len(raw) >= 300
    assert raw[0] == 1 and raw[1] == 1 and raw[2] == 6
    assert struct.unpack_from("!I", raw, 4)[0] == 0xDEADBEEF
    assert struct.unpack_from("!H", raw, 8)[0] == 3
    assert raw[28:34] == bytes.fromhex("02aabbccdd01")
    assert raw[236:240] == dp.MAGIC_COOKIE
    assert raw[240:243] == bytes((53, 1, 1))


def _offer(**over: object) -> dp.DhcpMessage:
    base = dict(op=2, xid=7, chaddr=MAC, yiaddr="172.24.213.21", siaddr="172.24.213.1",
                file="ipxe.efi",
                options=((53, b"\x02"), (54, bytes([172, 24, 213, 1])),
                         (1, bytes([255, 255, 255, 0])), (51, b"\x00\x00\x00\x78")))
    base.update(over)
    return dp.DhcpMessage(**base)  # type: ignore[arg-type]


def test_offer_fields_and_request() -> None:
    offer = dp.decode(dp.encode(_offer()))
    assert offer.message_type is dp.MessageType.OFFER
    assert (offer.yiaddr, offer.next_server, offer.boot_file) == (
        "172.24.213.21", "172.24.213.1", "ipxe.efi")
    assert offer.prefix_len == 24
    req = dp.decode(dp.encode(dp.request(dp.ClientProfile(MAC), 7, offer)))
    assert req.message_type is dp.MessageType.REQUEST
    assert req.option_ip(dp.OPT_REQUESTED_IP) == "172.24.213.21"
    assert req.option_ip(dp.OPT_SERVER_ID) == "172.24.213.1"


@pytest.mark.parametrize(
    ("over", "boot_file", "next_server"),
    [
        ({"file": "", "options": ((53, b"\x02"), (67, b"http://x/boot.ipxe\x00"))},
         "http://x/boot.ipxe", "172.24.213.1"),
        ({"siaddr": "0.0.0.0", "options": ((53, b"\x02"), (66, b"10.0.0.9"))},
         "ipxe.efi", "10.0.0.9"),
        ({"siaddr": "0.0.0.0", "options": ((53, b"\x02"), (54, bytes([10, 1, 1, 1])))},
         "ipxe.efi", "10.1.1.1"),
    ],
)
def test_boot_file_and_next_server_fallbacks(over: dict[str, object], boot_file: str,
                                             next_server: str) -> None:
    msg = dp.decode(dp.encode(_offer(**over)))
    assert (msg.boot_file, msg.next_server) == (boot_file, next_server)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x02" * 100, dp.encode(_offer())[:236] + b"XXXX",
     dp.encode(_offer())[:240] + bytes((53, 5, 1))],
)
def test_decode_rejects_garbage(data: bytes) -> None:
    with pytest.raises(dp.DhcpDecodeError):
        dp.decode(data)


def test_ipv4_udp_framing_round_trip_and_checksums() -> None:
    payload = dp.encode(_offer())
    pkt = dp.ipv4_udp("0.0.0.0", "255.255.255.255", 68, 67, payload)
    assert dp._checksum(pkt[:20]) == 0  # a valid header sums to zero
    udp = dp.parse_ipv4_udp(pkt)
    assert udp is not None
    assert (udp.src, udp.dst, udp.sport, udp.dport, udp.payload) == (
        "0.0.0.0", "255.255.255.255", 68, 67, payload)
    assert dp.parse_ipv4_udp(b"\x60" + pkt[1:]) is None  # not IPv4
    tcp = pkt[:9] + b"\x06" + pkt[10:]
    assert dp.parse_ipv4_udp(tcp) is None


@given(st.lists(st.tuples(st.integers(1, 254), st.binary(max_size=40)), max_size=8),
       st.integers(0, 2**32 - 1))
def test_round_trip(options: list[tuple[int, bytes]], xid: int) -> None:
    msg = dp.DhcpMessage(op=1, xid=xid, chaddr=MAC, options=tuple(options))
    assert dp.decode(dp.encode(msg)) == msg
