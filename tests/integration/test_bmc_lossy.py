"""racker's IPMI driver and Serial-over-LAN consoles together against lossy virtual BMCs.

A bootstrap holds a SOL console and a command session per BMC at once, from several threads
of pyghmi's process-wide state. On a link that loses datagrams, pyghmi's retransmit path runs
where its keepalive path does, and two of its locks were once taken in both orders: every BMC
call of the process then hung for good (a lossy-rack bootstrap stood still for 15 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator

from racker.adapters.bmc.errors import BmcFailure
from racker.adapters.bmc.interfaces import BmcTarget, PowerState
from racker.adapters.bmc.ipmi.driver import IpmiDriver, IpmiSettings
from racker.sim.vbmc.chassis import MemoryChassis
from racker.sim.vbmc.server import BmcRunner, VirtualBmc, serve

USER, PASSWORD = "admin", "lossy-pass-1"
BMCS = 3
STRESS_SEC = 15.0
LOSS = 0.3
SESSION_TIMEOUT = 6.0
"""The virtual BMCs' idle session timeout (60 s by the spec): sessions a lost logout left
behind are freed within the test."""
SETTINGS = IpmiSettings(timeout=2.0, retries=2, backoff=0.1, probe_timeout=1.0,
                        session_wait=SESSION_TIMEOUT + 5)


def _target(b: VirtualBmc, i: int) -> BmcTarget:
    return BmcTarget(node=f"node-{i}", address="127.0.0.1", user=USER, password=PASSWORD,
                     port=b.port)


@contextlib.contextmanager
def _talking(chassis: list[MemoryChassis]) -> Iterator[None]:
    """Every host writes a console line every 20 ms (SOL data and its acknowledgements)."""
    stop = threading.Event()

    def talk() -> None:
        n = 0
        while not stop.wait(0.02):
            n += 1
            for c in chassis:
                c.emit_console(f"[{n:6d}] a booting host says something\r\n".encode())

    t = threading.Thread(target=talk, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


async def _console_reader(b: VirtualBmc, i: int, until: float) -> int:
    """Hold a console open (opened again when lost) until `until`; bytes read."""
    got = 0
    async with IpmiDriver(SETTINGS) as driver:
        while time.monotonic() < until:
            try:
                stream: AsyncIterator[bytes] = await (
                    await driver.open(_target(b, i))).serial_console()
            except BmcFailure:
                await asyncio.sleep(0.5)
                continue
            try:
                async with asyncio.timeout(max(0.1, until - time.monotonic())):
                    async for chunk in stream:
                        got += len(chunk)
            except (TimeoutError, BmcFailure):
                pass
            finally:
                await stream.aclose()  # type: ignore[attr-defined]
    return got


async def _caller(b: VirtualBmc, i: int, until: float) -> int:
    """Power queries until `until`, a new driver (so new logins) every few calls; answers."""
    answers = 0
    while time.monotonic() < until:
        async with IpmiDriver(SETTINGS) as driver:
            for _ in range(3):
                try:
                    await (await driver.open(_target(b, i))).power_status()
                    answers += 1
                except BmcFailure:
                    pass
    return answers


async def _fresh_status(b: VirtualBmc, i: int) -> PowerState:
    async with IpmiDriver(SETTINGS) as driver:
        return await (await driver.open(_target(b, i))).power_status()


def test_sessions_and_consoles_survive_a_lossy_link_together() -> None:
    chassis = [MemoryChassis() for _ in range(BMCS)]
    with BmcRunner() as runner, contextlib.ExitStack() as stack:
        bmcs = [stack.enter_context(serve("127.0.0.1", 0, USER, PASSWORD, c, runner=runner,
                                                  session_timeout=SESSION_TIMEOUT))
                for c in chassis]
        for b in bmcs:
            b.faults.loss = LOSS

        async def stress() -> tuple[list[int], list[int]]:
            until = time.monotonic() + STRESS_SEC
            readers = [_console_reader(b, i, until) for i, b in enumerate(bmcs)]
            callers = [_caller(b, i, until) for i, b in enumerate(bmcs)]
            done = await asyncio.wait_for(asyncio.gather(*readers, *callers),
                                          STRESS_SEC + 60)
            return list(done[:BMCS]), list(done[BMCS:])

        with _talking(chassis):
            read, answered = asyncio.run(stress())
        for b in bmcs:
            b.faults.loss = 0.0

        async def after() -> list[PowerState | BaseException]:
            return await asyncio.gather(*(_fresh_status(b, i) for i, b in enumerate(bmcs)),
                                        return_exceptions=True)

        # NOTE: the point: once the link is good again, every BMC answers a new session; a
        # deadlocked pyghmi answers nothing, whatever the link
        states = asyncio.run(after())
    assert states == [PowerState.OFF] * BMCS, states
    assert all(n > 0 for n in answered), answered
    # NOTE: console output flowed (the SOL path ran beside the calls); one console may lose
    # every activation in 15 s at this loss, which the capture survives by opening it again
    assert sum(read) > 0, read
