"""`SolStream`'s hand-over from pyghmi's thread to the reader (pure: its callback is called as
pyghmi's loop thread calls it; the session itself is tested in tests/integration)."""

from __future__ import annotations

import asyncio
import threading

from racker.adapters.bmc.errors import BmcCommandFailed
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi import sol

TARGET = BmcTarget(node="node-1", address="10.0.0.8", user="admin", password="x", port=623)


def test_output_reaches_the_reader_as_one_chunk_and_unread_output_can_be_taken() -> None:
    async def main() -> tuple[bytes, bytes]:
        stream = sol.SolStream(TARGET, timeout=1.0)

        def pyghmi_thread(parts: list[bytes]) -> None:
            for part in parts:
                stream._received(part)

        t = threading.Thread(target=pyghmi_thread, args=([b"Boot", b"Dxe: ", b"loading\r\n"],))
        t.start()
        t.join()
        first = await asyncio.wait_for(stream.__anext__(), 5)  # after DELIVER_AFTER, at once
        t = threading.Thread(target=pyghmi_thread, args=([b"last ", b"words"],))
        t.start()
        t.join()
        return first, stream.unread()  # before it was handed over

    first, rest = asyncio.run(main())
    assert first == b"BootDxe: loading\r\n"
    assert rest == b"last words"


def test_unread_leaves_the_end_of_the_stream_for_the_reader() -> None:
    """A session that ended (an error item) while output was pending: `unread` takes the
    output before the end, and the reader still learns that the session ended."""
    async def main() -> tuple[bytes, str]:
        stream = sol.SolStream(TARGET, timeout=1.0)
        stream._received(b"last words\r\n")
        stream._received({"error": "session lost"})
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


def test_the_output_of_many_consoles_reaches_the_loop_in_one_wake_up() -> None:
    """48 consoles with output in the same window: one call into the event loop from pyghmi's
    thread, not one per console; each reader gets its own console's bytes."""
    async def main() -> tuple[int, list[bytes]]:
        loop = asyncio.get_running_loop()
        streams = [sol.SolStream(TARGET, timeout=1.0) for _ in range(48)]
        wakes = 0
        threadsafe = loop.call_soon_threadsafe

        def counting(*args: object) -> asyncio.Handle:
            nonlocal wakes
            wakes += 1
            return threadsafe(*args)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]

        def pyghmi_thread() -> None:
            for i, stream in enumerate(streams):
                stream._received(b"console %d line\r\n" % i)
                stream._received(b"more")

        t = threading.Thread(target=pyghmi_thread)
        t.start()
        t.join()
        got = [await asyncio.wait_for(s.__anext__(), 5) for s in streams]
        return wakes, got

    wakes, got = asyncio.run(main())
    assert wakes == 1
    assert got == [b"console %d line\r\nmore" % i for i in range(48)]
