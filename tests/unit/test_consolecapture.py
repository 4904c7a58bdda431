"""The console capture of a run against fake consoles (the real SOL session is proven against
the virtual BMC in tests/integration/test_sol_capture.py): recorded per node, reopened after a
loss, a BMC without SOL said once, ready before power-on, stopped with the run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from racker.adapters.bmc.errors import BmcCommandFailed, Unsupported
from racker.adapters.fs.consolelog import read_lines
from racker.adapters.fs.store import Store
from racker.app.consolecapture import ConsoleCapture
from racker.core.events import EventKind
from racker.model import PlannedNode
from tests.unit.test_engine import planned


class FakeConsoles:
    """Node 0 prints two lines then its SOL session is lost once; node 1 has no SOL; node 2
    prints until the capture stops."""

    def __init__(self) -> None:
        self.opened: dict[str, int] = {}
        self.closed: list[str] = []
        self.take_over: list[tuple[str, bool]] = []

    async def open(self, node: PlannedNode, take_over: bool) -> AsyncIterator[bytes]:
        n = self.opened[node.mac] = self.opened.get(node.mac, 0) + 1
        self.take_over.append((node.name, take_over))
        if node.mac == planned(1).mac:
            raise Unsupported(node.name, "10.0.0.9", "serial console (redfish)")
        return self._stream(node, n)

    async def _stream(self, node: PlannedNode, n: int) -> AsyncIterator[bytes]:
        try:
            if node.mac == planned(0).mac:
                yield f"boot {n}\r\n".encode()
                yield b"kernel "
                if n == 1:
                    raise BmcCommandFailed(node.name, "10.0.0.8", "Serial over LAN ended")
                yield b"up\n"
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.01)
        finally:
            self.closed.append(node.mac)


def test_capture_records_reopens_and_says_when_there_is_no_console(tmp_path: Path) -> None:
    fakes = FakeConsoles()
    nodes = [planned(i) for i in range(3)]

    async def main(store: Store) -> None:
        cap = ConsoleCapture(fakes.open, tmp_path / "console", store, reopen_after=0.05)
        cap.start(nodes)
        for n in nodes:
            await asyncio.wait_for(cap.ready(n), 5)
        while fakes.opened.get(planned(0).mac, 0) < 2 or not any(
                t == "kernel up" for _, t in read_lines(tmp_path / "console", planned(0).mac)):
            await asyncio.sleep(0.01)
        assert "kernel up" in cap.last_lines(planned(0), 50)
        await cap.stop()

    with Store(tmp_path / "racker.db") as store:
        asyncio.run(asyncio.wait_for(main(store), 30))
        states = {n.mac: [e.detail.get("state") for e in store.events(n.mac)
                          if e.kind is EventKind.CONSOLE] for n in nodes}
    texts = [t for _, t in read_lines(tmp_path / "console", planned(0).mac)]
    assert texts[:5] == ["[racker] serial console captured (Serial over LAN)", "boot 1",
                         "kernel ",  # the unfinished line is kept when the session ends
                         "[racker] serial console not captured: BMC 10.0.0.8: command failed: "
                         "Serial over LAN ended; trying again every 0.05 s",
                         "[racker] serial console captured (Serial over LAN)"]
    assert texts[5:7] == ["boot 2", "kernel up"]
    assert states[planned(0).mac] == ["capturing", "lost", "capturing"]
    assert states[planned(1).mac] == ["unsupported"] and fakes.opened[planned(1).mac] == 1
    assert [t for _, t in read_lines(tmp_path / "console", planned(1).mac)] == [
        "[racker] no serial console: BMC 10.0.0.9: command not supported: serial console "
        "(redfish)"]
    assert states[planned(2).mac] == ["capturing"]
    assert sorted(set(fakes.closed)) == sorted({planned(0).mac, planned(2).mac})
    # a dangling session is taken over at first; after a loss, another client keeps it
    assert [t for n, t in fakes.take_over if n == "node-0"] == [True, False]


def test_ready_is_bounded_when_the_bmc_hangs(tmp_path: Path) -> None:
    async def never(node: PlannedNode, take_over: bool) -> AsyncIterator[bytes]:
        await asyncio.Event().wait()
        raise AssertionError

    async def main(store: Store) -> None:
        cap = ConsoleCapture(never, tmp_path, store, ready_wait=0.1)
        cap.start([planned(0)])
        await asyncio.wait_for(cap.ready(planned(0)), 5)  # returns after ready_wait
        await cap.stop()

    with Store(tmp_path / "racker.db") as store:
        asyncio.run(main(store))


def test_stopped_resolves_with_the_first_stop_line_seen_after_it_was_asked(
        tmp_path: Path) -> None:
    lines = asyncio.Queue[bytes]()

    async def console(node: PlannedNode, take_over: bool) -> AsyncIterator[bytes]:
        async def stream() -> AsyncIterator[bytes]:
            while True:
                yield await lines.get()
        return stream()

    async def main(store: Store) -> str:
        cap = ConsoleCapture(console, tmp_path / "console", store)
        cap.start([planned(0)])
        await asyncio.wait_for(cap.ready(planned(0)), 5)
        lines.put_nowait(b"You are in emergency mode (an earlier boot, nobody asked)\n")
        while not cap.last_lines(planned(0), 1)[-1].startswith("You are"):
            await asyncio.sleep(0.01)
        stopped = cap.stopped(planned(0))
        lines.put_nowait(b"[  OK  ] Reached target multi-user.target\r\n[    4.18] ignition")
        lines.put_nowait(b"[702]: CRITICAL : Ignition failed\r\nYou are in emergency mode.\r\n")
        line = await asyncio.wait_for(stopped, 5)
        await cap.stop()
        return line

    with Store(tmp_path / "racker.db") as store:
        assert asyncio.run(main(store)) == "You are in emergency mode."


class HoldingStream:
    """A console stream that has received output its reader has not taken yet (as SolStream
    holds up to DELIVER_AFTER of it)."""

    def __init__(self) -> None:
        self.held = b"[  OK  ] Reached target reboot.target\r\nreboot: Restarting"

    def __aiter__(self) -> HoldingStream:
        return self

    async def __anext__(self) -> bytes:
        await asyncio.sleep(3600)
        raise StopAsyncIteration

    def unread(self) -> bytes:
        held, self.held = self.held, b""
        return held


def test_stopping_records_what_the_stream_received_but_had_not_handed_over(
        tmp_path: Path) -> None:
    async def console(node: PlannedNode, take_over: bool) -> AsyncIterator[bytes]:
        return HoldingStream()

    async def main(store: Store) -> None:
        cap = ConsoleCapture(console, tmp_path / "console", store)
        cap.start([planned(0)])
        await asyncio.wait_for(cap.ready(planned(0)), 5)
        await cap.stop()

    with Store(tmp_path / "racker.db") as store:
        asyncio.run(main(store))
    texts = [t for _, t in read_lines(tmp_path / "console", planned(0).mac)]
    assert texts[-2:] == ["[  OK  ] Reached target reboot.target", "reboot: Restarting"]


def test_last_lines_include_what_the_stream_received_but_had_not_handed_over(
        tmp_path: Path) -> None:
    """A failing installer writes its error and reports at once: the failure report's console
    lines must have the error even when the report arrives before the stream hands it over."""
    stream = HoldingStream()
    stream.held = b"[FAILED] Failed to start installer.service.\r\nSee 'systemctl status'\r\n"

    async def console(node: PlannedNode, take_over: bool) -> AsyncIterator[bytes]:
        return stream

    async def main(store: Store) -> tuple[list[str], str]:
        cap = ConsoleCapture(console, tmp_path / "console", store)
        cap.start([planned(0)])
        await asyncio.wait_for(cap.ready(planned(0)), 5)
        stopped = cap.stopped(planned(0))
        stream.held += b"You are in emergency mode.\r\n"
        lines = cap.last_lines(planned(0), 3)
        line = await asyncio.wait_for(stopped, 5)
        await cap.stop()
        return lines, line

    with Store(tmp_path / "racker.db") as store:
        lines, line = asyncio.run(main(store))
    assert lines == ["[FAILED] Failed to start installer.service.", "See 'systemctl status'",
                     "You are in emergency mode."]
    assert line == "You are in emergency mode."
