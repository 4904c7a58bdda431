"""racker's Serial-over-LAN client (its own RMCP+ session, `lanplus`, through the IPMI driver)
against real BMC servers: OpenIPMI's `ipmi_sim` with its SOL wired to a TCP "serial port" this
test writes to, and the project's virtual BMC (which `racker-sim` nodes write their consoles
to).

Found about ipmi_sim here (OpenIPMI 2.0.x, Debian): it supports SOL when its MC is given
`sol "tcp:ADDRESS:PORT" BAUD` (ipmi_lan(5)); it connects to that TCP port as the host's serial
port, and the bytes written there arrive over SOL.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from racker.adapters.bmc.errors import BmcAuthFailed, BmcCommandFailed, BmcTimeout
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi.driver import IpmiDriver, IpmiSettings
from racker.adapters.bmc.ipmi.sol import open_sol
from racker.sim.vbmc.chassis import MemoryChassis
from racker.sim.vbmc.server import BmcRunner, serve
from tests.conftest import require_tool
from tests.integration.ipmisim import start_ipmi_sim

SETTINGS = IpmiSettings(timeout=3.0, retries=1)


class SerialPort:
    """The host side of ipmi_sim's SOL: a TCP server that ipmi_sim connects to; `say` writes
    a line to it as a host's serial port would."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.connected = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.server.accept()
        self.connected.set()

    def say(self, text: str) -> None:
        assert self.conn is not None
        self.conn.sendall(text.encode() + b"\r\n")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def serial_port() -> Iterator[SerialPort]:
    p = SerialPort()
    yield p
    p.close()


async def read_until(stream: object, marker: bytes, timeout: float = 20.0) -> bytes:
    got = b""

    async def read() -> None:
        nonlocal got
        async for chunk in stream:  # type: ignore[attr-defined]
            got += chunk
            if marker in got:
                return

    await asyncio.wait_for(read(), timeout)
    return got


def test_the_console_reads_ipmi_sims_serial_port(tmp_path: Path,
                                                    serial_port: SerialPort) -> None:
    require_tool("ipmi_sim")
    with start_ipmi_sim(tmp_path, sol=f"tcp:127.0.0.1:{serial_port.port}") as sim:
        assert serial_port.connected.wait(15), sim.log()

        async def main() -> bytes:
            async with IpmiDriver(SETTINGS) as driver:
                bmc = await driver.open(sim.target())
                stream = await bmc.serial_console()
                try:
                    # the host keeps writing until racker has seen its line: SOL carries only
                    # what is written while a session is active
                    async def host() -> None:
                        for i in range(200):
                            serial_port.say(f"Linux version 6.6 line {i}")
                            await asyncio.sleep(0.1)

                    writer = asyncio.create_task(host())
                    got = await read_until(stream, b"Linux version 6.6 line")
                    writer.cancel()
                    # power commands go on beside the console (its own session)
                    assert (await bmc.power_status()).value in ("on", "off")
                    return got
                finally:
                    await stream.aclose()  # type: ignore[attr-defined]

        got = asyncio.run(main())
    assert b"Linux version 6.6 line " in got


def _target(port: int) -> BmcTarget:
    return BmcTarget(node="node-1", address="127.0.0.1", user="admin", password="vbmc-pass-1",
                     port=port)


def test_a_dangling_sol_session_is_taken_over_and_closing_deactivates_it() -> None:
    chassis = MemoryChassis()
    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", chassis,
                                      runner=runner) as b:
        async def main() -> tuple[bytes, bool]:
            async with IpmiDriver(SETTINGS) as first, IpmiDriver(SETTINGS) as second:
                # a client that activated SOL and went away without deactivating it
                dangling = await (await first.open(_target(b.port))).serial_console()
                stream = await (await second.open(_target(b.port))).serial_console()
                chassis.emit_console(b"BdsDxe: loading Boot0001\r\n")
                got = await read_until(stream, b"Boot0001")
                await stream.aclose()  # type: ignore[attr-defined]
                # deactivated: the payload status says so, and output has nowhere to go
                status = await (await second.open(_target(b.port))).raw(0x06, 0x4A, b"\x01")
                await dangling.aclose()  # type: ignore[attr-defined]
                return got, bool(status.data[1] & 1)

        got, active = asyncio.run(main())
    # NOTE: the dangling client learns it lost SOL only at its next keepalive (pyghmi's,
    # tens of seconds), as a crashed tool never does: what matters is that racker took over
    assert b"BdsDxe: loading Boot0001" in got
    assert not active and not chassis.emit_console(b"lost\r\n")


def test_a_console_closed_and_opened_again_comes_up_each_time() -> None:
    """The capture opens a BMC's console again after losing it (and a retry round after the
    last one closed): each opening logs in anew. pyghmi left the closed console's login in its
    table and handed it to the next console of the same credentials, which waited on it."""
    chassis = MemoryChassis()
    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", chassis,
                                      runner=runner) as b:
        async def main() -> list[bytes]:
            got = []
            async with IpmiDriver(SETTINGS) as driver:
                bmc = await driver.open(_target(b.port))
                for i in range(3):
                    stream = await bmc.serial_console()
                    try:
                        chassis.emit_console(b"opening %d\r\n" % i)
                        got.append(await read_until(stream, b"opening %d" % i))
                    finally:
                        await stream.aclose()  # type: ignore[attr-defined]
            return got

        got = asyncio.run(main())
    assert [b"opening %d" % i in chunk for i, chunk in enumerate(got)] == [True] * 3


def test_a_console_racker_gave_up_on_after_its_login_is_logged_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow BMC (every answer 0.3 s late): racker gives up on the console once its session is
    up, while it asks for its privilege or activates SOL. The session must not stay up (with
    the payload): each such retry took one of the BMC's few session slots."""
    from racker.adapters.bmc.ipmi import lanplus

    monkeypatch.setattr(lanplus, "RESEND_FIRST", 1.0)  # no request sent twice: 0.3 s answers
    with BmcRunner() as runner, \
            serve("127.0.0.1", 0, "admin", "vbmc-pass-1", MemoryChassis(), runner=runner) as b:
        engine = b.engine
        assert engine is not None
        b.faults.delay = 0.3

        async def state() -> tuple[int, bool]:
            return engine.active_sessions(), engine.sol is not None

        async def main() -> tuple[list[tuple[int, bool]], BaseException]:
            seen: list[tuple[int, bool]] = []

            async def watch() -> None:
                while True:
                    seen.append(await asyncio.wrap_future(
                        asyncio.run_coroutine_threadsafe(state(), runner.loop)))
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            # the session is up after three round trips (open, RAKP 1 and 3: 0.9 s); the
            # privilege and the activation take 0.3 s each after that
            try:
                stream = await open_sol(_target(b.port), 1.4)
            except BmcTimeout as e:
                gave_up = e
            else:
                await stream.aclose()
                raise AssertionError("the console came up within its time")
            await asyncio.sleep(1.0)
            watcher.cancel()
            return seen, gave_up

        seen, gave_up = asyncio.run(main())
    assert "no Serial-over-LAN session within 1.4 s" in str(gave_up)
    assert any(sessions == 1 for sessions, _ in seen), seen  # the login was through
    assert seen[-5:] == [(0, False)] * 5, seen


def test_a_sol_session_outlives_its_keepalives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console asks who holds its payload every KEEPALIVE_EVERY seconds (shortened here);
    past several of those, output still flows (an install takes minutes, and a silent console
    is the usual case)."""
    from racker.adapters.bmc.ipmi import sol

    monkeypatch.setattr(sol, "KEEPALIVE_EVERY", 0.3)
    chassis = MemoryChassis()
    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", chassis,
                                      runner=runner) as b:
        async def main() -> bytes:
            async with IpmiDriver(SETTINGS) as driver:
                stream = await (await driver.open(_target(b.port))).serial_console()
                try:
                    chassis.emit_console(b"before\r\n")
                    await read_until(stream, b"before")
                    await asyncio.sleep(1.5)  # NOTE: the point: five keepalive rounds
                    assert chassis.emit_console(b"after the keepalives\r\n")
                    return await read_until(stream, b"after the keepalives")
                finally:
                    await stream.aclose()  # type: ignore[attr-defined]

        assert b"after the keepalives" in asyncio.run(main())


def test_a_console_another_client_took_over_ends_at_its_next_keepalive(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator takes SOL over (deactivate, activate): racker's console learns it at its
    next keepalive and ends as a BMC failure (the capture then waits and does not take it
    back)."""
    from racker.adapters.bmc.ipmi import sol

    monkeypatch.setattr(sol, "KEEPALIVE_EVERY", 0.3)
    chassis = MemoryChassis()
    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", chassis,
                                      runner=runner) as b:
        async def main() -> tuple[str, bytes]:
            racker = await open_sol(_target(b.port), 5.0)
            operator = await open_sol(_target(b.port), 5.0)  # takes over
            try:
                with pytest.raises(BmcCommandFailed) as ended:
                    await asyncio.wait_for(read_until(racker, b"never"), 5)
                chassis.emit_console(b"for the operator\r\n")
                return str(ended.value), await read_until(operator, b"for the operator")
            finally:
                await racker.aclose()
                await operator.aclose()

        ended, got = asyncio.run(main())
    assert "Serial over LAN ended: SOL deactivated (another client holds it now)" in ended
    assert b"for the operator" in got


def test_a_console_with_a_wrong_password_fails_as_an_authentication_failure() -> None:
    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", MemoryChassis(),
                                      runner=runner) as b:
        async def main() -> BaseException:
            target = BmcTarget(node="node-1", address="127.0.0.1", user="admin",
                               password="not-the-password", port=b.port)
            with pytest.raises(BmcAuthFailed) as failed:
                await open_sol(target, 5.0)
            return failed.value

        failed = asyncio.run(main())
    assert "authentication failed" in str(failed) and "node-1" in str(failed)


def test_a_bmc_that_stops_answering_fails_the_console_as_a_bmc_error() -> None:
    """A lossy or dead link during the SOL login is a BMC failure naming the node (the capture
    retries those), never a bare TimeoutError: one ended a bootstrap with an empty error."""
    from racker.adapters.bmc.errors import BmcFailure

    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", MemoryChassis(),
                                      runner=runner) as b:
        async def main() -> BaseException | None:
            async with IpmiDriver(IpmiSettings(timeout=1.0, retries=0)) as driver:
                bmc = await driver.open(_target(b.port))
                b.faults.drop = True
                try:
                    stream = await bmc.serial_console()
                except Exception as e:  # the point: which exception
                    return e
                await stream.aclose()  # type: ignore[attr-defined]
                return None

        error = asyncio.run(main())
    assert isinstance(error, BmcFailure), repr(error)
    assert "node-1" in str(error) and f"127.0.0.1:{b.port}" in str(error)


def test_a_slow_consoles_activation_does_not_hold_up_the_other_consoles() -> None:
    """A console opened on a slow BMC (every answer 1.5 s late) while another console streams:
    its SOL activation waits on the thread that opens it, not on the thread that delivers every
    console's output. NOTE: pyghmi ran it there, and the other console stood still for two of
    the slow BMC's round trips (3.1 s); one is left (1.6 s): pyghmi's login asks for its
    privilege level on the thread that reads the login's last reply."""
    fast, slow = MemoryChassis(), MemoryChassis()
    with BmcRunner() as runner, \
            serve("127.0.0.1", 0, "admin", "vbmc-pass-1", fast, runner=runner) as a, \
            serve("127.0.0.1", 0, "admin", "vbmc-pass-1", slow, runner=runner) as b:
        b.faults.delay = 1.5

        async def main() -> tuple[float, bytes]:
            streaming = await open_sol(_target(a.port), 5.0)
            stop = threading.Event()

            def talk() -> None:
                n = 0
                while not stop.wait(0.02):
                    n += 1
                    fast.emit_console(b"[%6d] booting\r\n" % n)

            talker = threading.Thread(target=talk, daemon=True)
            talker.start()
            longest = 0.0

            async def read() -> None:
                nonlocal longest
                last = time.monotonic()
                async for _ in streaming:
                    now = time.monotonic()
                    longest = max(longest, now - last)
                    last = now

            reader = asyncio.create_task(read())
            await asyncio.sleep(0.5)
            longest = 0.0  # from here on: while the slow one opens
            other = await open_sol(_target(b.port), 30.0)
            slow.emit_console(b"slow host\r\n")
            said = await read_until(other, b"slow host")
            stop.set()
            talker.join()
            reader.cancel()
            await other.aclose()
            await streaming.aclose()
            return longest, said

        longest, said = asyncio.run(main())
    assert b"slow host" in said
    assert longest < 1.5 * b.faults.delay, f"the streaming console stood still {longest:.1f} s"


def test_four_consoles_streaming_at_once_get_every_line() -> None:
    """Four consoles streaming a line every 10 ms each: every line arrives, in order, each
    packet acknowledged (the BMC sends the next one only then)."""
    hosts = [MemoryChassis() for _ in range(4)]
    lines = 150
    with BmcRunner() as runner, contextlib.ExitStack() as bmcs:
        ports = [bmcs.enter_context(serve("127.0.0.1", 0, "admin", "vbmc-pass-1", h,
                                          runner=runner)).port for h in hosts]

        async def main() -> list[bytes]:
            streams = [await open_sol(_target(p), 5.0) for p in ports]
            for i in range(lines):
                for h in hosts:
                    h.emit_console(b"[%6d] booting\r\n" % i)
                await asyncio.sleep(0.01)
            got = [await read_until(s, b"[%6d] booting" % (lines - 1)) for s in streams]
            for s in streams:
                await s.aclose()
            return got

        got = asyncio.run(main())
    for seen in got:
        assert seen == b"".join(b"[%6d] booting\r\n" % i for i in range(lines)), seen[-200:]


def test_a_console_to_an_address_it_cannot_send_to_is_an_unreachable_bmc() -> None:
    """A name that does not resolve, a link-local address without its interface: a BMC failure
    naming the node (the capture retries those), never an OSError that ends the capture."""
    from racker.adapters.bmc.errors import BmcUnreachable

    async def main() -> list[BaseException]:
        failures: list[BaseException] = []
        for address in ("fe80::1", "bmc-that-does-not-exist.invalid"):
            with pytest.raises(BmcUnreachable) as failed:
                await open_sol(BmcTarget("node-1", address, "admin", "x", 623), 2.0)
            failures.append(failed.value)
        return failures

    for failure in asyncio.run(main()):
        assert "node-1" in str(failure) and "unreachable" in str(failure)


def test_a_bmc_slower_than_the_first_resend_brings_the_console_up() -> None:
    """Every answer 0.6 s late, after racker sent each request again (at 0.5 s): the login
    takes the answer to its last RAKP1 only (the BMC draws a new random number for each; the
    answer to the first one failed RAKP3), and the Activate Payload sent twice (the BMC answers
    the second one "already active") brings the console up without taking anything over."""
    chassis = MemoryChassis()
    with BmcRunner() as runner, serve("127.0.0.1", 0, "admin", "vbmc-pass-1", chassis,
                                      runner=runner) as b:
        b.faults.delay = 0.6

        async def main() -> bytes:
            stream = await open_sol(_target(b.port), 20.0, take_over=False)
            try:
                chassis.emit_console(b"slow but there\r\n")
                return await read_until(stream, b"slow but there")
            finally:
                await stream.aclose()

        assert b"slow but there" in asyncio.run(main())
