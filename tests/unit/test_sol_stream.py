"""`SolStream`'s handling of SOL payloads and its hand-over to the reader (pure: payloads are
given to it as its session's callback gives them; the session itself is tested against real
BMCs in tests/integration/test_sol_capture.py)."""

from __future__ import annotations

import asyncio

import pytest

from racker.adapters.bmc.errors import BmcCommandFailed
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi import codec, sol, wire

TARGET = BmcTarget(node="node-1", address="10.0.0.8", user="admin", password="x", port=623)


def _stream(sent: list[bytes]) -> sol.SolStream:
    """A stream whose acknowledgements are kept in `sent` instead of going out."""
    stream = sol.SolStream(TARGET, timeout=1.0)
    stream._session.send_sol = sent.append  # type: ignore[method-assign,assignment]
    return stream


def _output(seq: int, data: bytes, status: int = 0) -> bytes:
    return wire.build_sol(wire.SolPacket(seq, 0, 0, status, data))


def test_output_reaches_the_reader_as_one_chunk_each_packet_acknowledged() -> None:
    async def main() -> tuple[bytes, bytes, list[bytes]]:
        sent: list[bytes] = []
        stream = _stream(sent)
        for seq, part in enumerate([b"Boot", b"Dxe: ", b"loading\r\n"], 1):
            stream._sol(_output(seq, part))
        first = await asyncio.wait_for(stream.__anext__(), 5)  # after DELIVER_AFTER, at once
        stream._sol(_output(4, b"last "))
        stream._sol(_output(5, b"words"))
        return first, stream.unread(), sent  # unread: before it was handed over

    first, rest, sent = asyncio.run(main())
    assert first == b"BootDxe: loading\r\n"
    assert rest == b"last words"
    acks = [wire.parse_sol(p) for p in sent]
    assert [(a.seq, a.ack_seq, a.accepted) for a in acks if a] == \
        [(0, 1, 4), (0, 2, 5), (0, 3, 9), (0, 4, 5), (0, 5, 5)]


def test_a_packet_sent_again_is_acknowledged_again_and_kept_once() -> None:
    """The BMC sends a packet again when our acknowledgement was lost."""
    async def main() -> tuple[bytes, int]:
        sent: list[bytes] = []
        stream = _stream(sent)
        stream._sol(_output(7, b"once\r\n"))
        stream._sol(_output(7, b"once\r\n"))
        stream._sol(_output(8, b"then\r\n"))
        return await asyncio.wait_for(stream.__anext__(), 5), len(sent)

    got, acks = asyncio.run(main())
    assert got == b"once\r\nthen\r\n"
    assert acks == 3


def test_a_bmc_that_deactivates_sol_ends_the_stream_after_the_output_before_it() -> None:
    async def main() -> tuple[bytes, str]:
        stream = _stream([])
        stream._sol(_output(1, b"the end is near\r\n"))
        stream._sol(_output(0, b"", status=sol.SOL_DEACTIVATING))
        first = await asyncio.wait_for(stream.__anext__(), 5)
        with pytest.raises(BmcCommandFailed) as ended:
            await asyncio.wait_for(stream.__anext__(), 5)
        return first, str(ended.value)

    first, ended = asyncio.run(main())
    assert first == b"the end is near\r\n"
    assert "Serial over LAN ended: the BMC deactivated Serial over LAN" in ended
    assert "node-1" in ended and "10.0.0.8:623" in ended


def test_unread_leaves_the_end_of_the_stream_for_the_reader() -> None:
    """A session that ended while output was pending: `unread` takes the output before the
    end, and the reader still learns that the session ended."""
    async def main() -> tuple[bytes, str]:
        stream = _stream([])
        stream._received(b"last words\r\n")
        stream._received("session lost")
        stream._received(b"after the end")
        taken = stream.unread()
        try:
            await asyncio.wait_for(stream.__anext__(), 5)
        except BmcCommandFailed as e:
            return taken, str(e)
        raise AssertionError("the reader did not see the end of the session")

    taken, ended = asyncio.run(main())
    assert taken == b"last words\r\n"
    assert "Serial over LAN ended: session lost" in ended


def test_a_closed_stream_takes_no_more_output() -> None:
    async def main() -> tuple[list[bytes], list[bytes]]:
        sent: list[bytes] = []
        stream = _stream(sent)
        await stream.aclose()
        stream._sol(_output(1, b"too late\r\n"))
        return [chunk async for chunk in stream], sent

    read, sent = asyncio.run(main())
    assert read == [] and sent == []


class _Bmc:
    """A session whose BMC answers Activate Payload with `activate` codes in turn and says
    `owner` holds the payload."""

    def __init__(self, activate: list[int], owner: bytes) -> None:
        self.managed_sid = b"\x0a\x0b\x0c\x0d"
        self.activate = activate
        self.owner = owner
        self.asked: list[int] = []

    async def command(self, netfn: int, cmd: int, data: bytes,
                      deadline: float) -> wire.IpmiResponse:
        self.asked.append(cmd)
        if cmd == codec.CMD_ACTIVATE_PAYLOAD:
            return wire.IpmiResponse(netfn + 1, 1, cmd, self.activate.pop(0), b"")
        if cmd == codec.CMD_GET_PAYLOAD_INSTANCE_INFO:
            return wire.IpmiResponse(netfn + 1, 1, cmd, 0, self.owner + bytes(8))
        return wire.IpmiResponse(netfn + 1, 1, cmd, 0, b"")


@pytest.mark.parametrize(("take_over", "owner", "codes", "asked", "fails"), [
    # the answer to our activation was lost and the request sent again: it is ours already
    (False, b"\x0a\x0b\x0c\x0d", [0x80], [0x48, 0x4B], False),
    # a dangling payload of another session: taken over (deactivated, activated again)
    (True, b"\x01\x02\x03\x04", [0x80, 0x00], [0x48, 0x4B, 0x49, 0x48], False),
    # another client holds it and we must not take it: the console fails, naming why
    (False, b"\x01\x02\x03\x04", [0x80], [0x48, 0x4B], True),
])
def test_an_already_active_payload_is_ours_taken_over_or_refused(
        take_over: bool, owner: bytes, codes: list[int], asked: list[int], fails: bool) -> None:
    async def main() -> tuple[list[int], str]:
        stream = sol.SolStream(TARGET, timeout=1.0, take_over=take_over)
        bmc = _Bmc(codes, owner)
        stream._session = bmc  # type: ignore[assignment]
        try:
            await stream._activate(asyncio.get_running_loop().time() + 1)
        except BmcCommandFailed as e:
            return bmc.asked, str(e)
        return bmc.asked, ""

    got, error = asyncio.run(main())
    assert got == asked
    assert ("SOL Session active for another client" in error) is fails
