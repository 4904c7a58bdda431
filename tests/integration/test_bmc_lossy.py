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
LAST_CHANCE = 30.0
"""Seconds past the stress a BMC may take to answer its first call."""
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
    """Power queries until `until` and one answer at least (by LAST_CHANCE at most), a new
    driver (so new logins) every few calls; answers. NOTE: on a starved CPU (the suite run
    twice at once on two cores) one BMC's logins at 30 % loss could all fail within 15 s."""
    answers = 0
    last_chance = until + LAST_CHANCE
    while time.monotonic() < until or (answers == 0 and time.monotonic() < last_chance):
        async with IpmiDriver(SETTINGS) as driver:
            for _ in range(3):
                try:
                    await (await driver.open(_target(b, i))).power_status()
                    answers += 1
                except BmcFailure:
                    pass
    return answers


async def _fresh_status(b: VirtualBmc, i: int) -> PowerState:
    """The BMC's power state over a new session, asked again for up to LAST_CHANCE (a
    starved CPU can miss a 2 s login three times; a deadlocked pyghmi never answers)."""
    give_up = time.monotonic() + LAST_CHANCE
    while True:
        try:
            async with IpmiDriver(SETTINGS) as driver:
                return await (await driver.open(_target(b, i))).power_status()
        except BmcFailure:
            if time.monotonic() > give_up:
                raise


async def _fresh_console(b: VirtualBmc, i: int) -> int:
    """Bytes of the host's output over a new console, opened again for up to LAST_CHANCE
    until some arrive (a deadlocked pyghmi never brings one up)."""
    give_up = time.monotonic() + LAST_CHANCE
    async with IpmiDriver(SETTINGS) as driver:
        while True:
            try:
                stream: AsyncIterator[bytes] = await (
                    await driver.open(_target(b, i))).serial_console()
                try:
                    async with asyncio.timeout(SETTINGS.timeout * 2):
                        return len(await anext(stream))
                finally:
                    await stream.aclose()  # type: ignore[attr-defined]
            except (TimeoutError, StopAsyncIteration, BmcFailure):
                if time.monotonic() > give_up:
                    raise


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

        async def after() -> tuple[list[PowerState | BaseException],
                                   list[int | BaseException]]:
            states = asyncio.gather(*(_fresh_status(b, i) for i, b in enumerate(bmcs)),
                                    return_exceptions=True)
            consoles = asyncio.gather(*(_fresh_console(b, i) for i, b in enumerate(bmcs)),
                                      return_exceptions=True)
            return await states, await consoles

        with _talking(chassis):
            # NOTE: what the consoles read under the loss is left unchecked: a console's login
            # and activation take seven round trips, each lost half the time at 30 % loss each
            # way, within its 4 s; in 15 s all three consoles got nothing in one CI run (here
            # one or two of three often do); the capture survives that by opening them again
            _, answered = asyncio.run(stress())
            for b in bmcs:
                b.faults.loss = 0.0
            # NOTE: the point: once the link is good again, every BMC answers a new session and
            # brings up a new console with the host's output; a deadlocked pyghmi does neither,
            # whatever the link
            states, consoles = asyncio.run(after())
    assert states == [PowerState.OFF] * BMCS, states
    assert all(n > 0 for n in answered), answered
    assert all(isinstance(n, int) and n > 0 for n in consoles), consoles


OUTAGE_SEC = 7.0
"""Long enough for pyghmi to spend a request's retransmits (about 10 s from the first send)
while the BMC is away, and to see it answer again inside the call."""


def test_a_bmc_that_stops_answering_holds_up_neither_the_other_bmcs_nor_the_consoles() -> None:
    """One BMC stops answering for OUTAGE_SEC, twice, while a call to it is in flight and every
    BMC's console is open: calls to the others go on (a short timeout and no retries, so any
    stall fails one), every console's output keeps coming, the stuck call ends with a BMC
    error within its attempts, and the BMC answers a call once it is back."""
    chassis = [MemoryChassis() for _ in range(BMCS)]
    quick = IpmiSettings(timeout=2.0, retries=0, probe_timeout=1.0)
    with BmcRunner() as runner, contextlib.ExitStack() as stack:
        bmcs = [stack.enter_context(serve("127.0.0.1", 0, USER, PASSWORD, c, runner=runner))
                for c in chassis]
        away = bmcs[0]

        async def run() -> tuple[list[str], list[float], list[str], PowerState]:
            async with IpmiDriver() as slow, IpmiDriver(quick) as fast:
                handles = [await slow.open(_target(b, i)) for i, b in enumerate(bmcs)]
                consoles = [await h.serial_console() for h in handles]
                others = [await fast.open(_target(b, i)) for i, b in enumerate(bmcs)][1:]
                done = asyncio.Event()
                failures: list[str] = []
                gaps = [0.0] * BMCS

                async def read(i: int) -> None:
                    last = time.monotonic()
                    with contextlib.suppress(BmcFailure):
                        async for _ in consoles[i]:
                            now = time.monotonic()
                            gaps[i] = max(gaps[i], now - last)
                            last = now
                            if done.is_set():
                                return

                async def call_others() -> None:
                    while not done.is_set():
                        for h in others:
                            try:
                                await h.power_status()
                            except BmcFailure as e:
                                failures.append(str(e))
                        await asyncio.sleep(0.05)

                async def outages() -> list[str]:
                    ended = []  # NOTE: a call that never ends fails the test here (wait_for)
                    for _ in range(2):
                        away.faults.drop = True
                        stuck = asyncio.create_task(handles[0].power_status())
                        await asyncio.sleep(OUTAGE_SEC)
                        away.faults.drop = False
                        try:
                            await asyncio.wait_for(stuck, 60)
                            ended.append("answered")
                        except BmcFailure as e:
                            ended.append(type(e).__name__)
                    return ended

                readers = [asyncio.create_task(read(i)) for i in range(BMCS)]
                caller = asyncio.create_task(call_others())
                ended = await outages()
                # NOTE: within one call's attempts (3 of 5 s): pyghmi held on to the session
                # of the stuck call and this took 40 s
                back = await asyncio.wait_for(handles[0].power_status(), 20)
                done.set()
                await caller
                for c in consoles:
                    await c.aclose()  # type: ignore[attr-defined]
                await asyncio.gather(*readers)
                return failures, gaps, ended, back

        with _talking(chassis):
            failures, gaps, ended, back = asyncio.run(run())
    assert failures == [], failures
    # NOTE: a host writes a line every 20 ms; the console of the BMC that was away may wait
    # for its session to be opened again, the others never
    assert max(gaps[1:]) < 3.0, gaps
    assert len(ended) == 2, ended
    assert back is PowerState.OFF
