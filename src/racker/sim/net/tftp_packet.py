"""TFTP packets (RFC 1350 with the option extension of RFC 2347/2348/2349). Pure codec."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6


class TftpDecodeError(ValueError):
    """Bytes that are not a TFTP packet."""


@dataclass(frozen=True)
class ReadRequest:
    filename: str
    mode: str = "octet"
    options: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class Data:
    block: int
    payload: bytes


@dataclass(frozen=True)
class Ack:
    block: int


@dataclass(frozen=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True)
class OptionAck:
    options: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The value of option `name` (case-insensitive), or None."""
        for k, v in self.options:
            if k.lower() == name.lower():
                return v
        return None


Packet = ReadRequest | Data | Ack | Error | OptionAck


def encode(packet: Packet) -> bytes:
    """The wire form of `packet`."""
    if isinstance(packet, ReadRequest):
        out = struct.pack("!H", RRQ) + packet.filename.encode() + b"\0"
        out += packet.mode.encode() + b"\0"
        for k, v in packet.options:
            out += k.encode() + b"\0" + v.encode() + b"\0"
        return out
    if isinstance(packet, Data):
        return struct.pack("!HH", DATA, packet.block & 0xFFFF) + packet.payload
    if isinstance(packet, Ack):
        return struct.pack("!HH", ACK, packet.block & 0xFFFF)
    if isinstance(packet, Error):
        return struct.pack("!HH", ERROR, packet.code) + packet.message.encode() + b"\0"
    out = struct.pack("!H", OACK)
    for k, v in packet.options:
        out += k.encode() + b"\0" + v.encode() + b"\0"
    return out


def _strings(raw: bytes) -> list[str]:
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("ascii", errors="replace") for p in parts]


def _pairs(items: list[str]) -> tuple[tuple[str, str], ...]:
    if len(items) % 2:
        raise TftpDecodeError("option without a value")
    return tuple((items[i], items[i + 1]) for i in range(0, len(items), 2))


def decode(data: bytes) -> Packet:
    """Parse a TFTP packet; raise TftpDecodeError for anything else."""
    if len(data) < 2:
        raise TftpDecodeError("too short for a TFTP packet")
    (opcode,) = struct.unpack_from("!H", data)
    body = data[2:]
    if opcode == RRQ:
        items = _strings(body)
        if len(items) < 2:
            raise TftpDecodeError("read request without file name and mode")
        return ReadRequest(items[0], items[1].lower(), _pairs(items[2:]))
    if opcode in (DATA, ACK):
        if len(body) < 2:
            raise TftpDecodeError("no block number")
        (block,) = struct.unpack_from("!H", body)
        return Data(block, bytes(body[2:])) if opcode == DATA else Ack(block)
    if opcode == ERROR:
        if len(body) < 2:
            raise TftpDecodeError("no error code")
        (code,) = struct.unpack_from("!H", body)
        return Error(code, body[2:].split(b"\0", 1)[0].decode("utf-8", errors="replace"))
    if opcode == OACK:
        return OptionAck(_pairs(_strings(body)))
    raise TftpDecodeError(f"unknown TFTP opcode {opcode}")
