"""TFTP codec of the simulated PXE ROM."""

from __future__ import annotations

import pytest

from racker.sim.net import tftp_packet as tp


@pytest.mark.parametrize(
    ("packet", "wire"),
    [
        (tp.ReadRequest("ipxe.efi", "octet", (("blksize", "1408"), ("tsize", "0"))),
         b"\x00\x01ipxe.efi\x00octet\x00blksize\x001408\x00tsize\x000\x00"),
        (tp.ReadRequest("undionly.kpxe"), b"\x00\x01undionly.kpxe\x00octet\x00"),
        (tp.Data(1, b"abc"), b"\x00\x03\x00\x01abc"),
        (tp.Ack(0), b"\x00\x04\x00\x00"),
        (tp.Error(1, "File not found"), b"\x00\x05\x00\x01File not found\x00"),
        (tp.OptionAck((("blksize", "1408"),)), b"\x00\x06blksize\x001408\x00"),
    ],
)
def test_encode_decode(packet: tp.Packet, wire: bytes) -> None:
    assert tp.encode(packet) == wire
    assert tp.decode(wire) == packet


def test_block_numbers_wrap() -> None:
    assert tp.encode(tp.Ack(65536)) == b"\x00\x04\x00\x00"


def test_option_ack_lookup_ignores_case() -> None:
    assert tp.OptionAck((("BLKSIZE", "512"),)).get("blksize") == "512"
    assert tp.OptionAck(()).get("tsize") is None


@pytest.mark.parametrize("wire", [b"", b"\x00", b"\x00\x09xx", b"\x00\x03\x00",
                                  b"\x00\x01only\x00", b"\x00\x06blksize\x00"])
def test_decode_rejects_garbage(wire: bytes) -> None:
    with pytest.raises(tp.TftpDecodeError):
        tp.decode(wire)
