"""A virtual BMC: an IPMI 2.0 (RMCP+, "lanplus") server in front of a pluggable chassis.

`VirtualBmc` owns one UDP socket and runs on an asyncio event loop; many of them share one loop
(the simulator runs 48 in one process) and an idle one costs nothing: there is no polling,
only the socket in the loop's selector. Timers exist only while there is traffic: one per
request for the simulated latency, one while a SOL packet awaits its ack.

Use it from asyncio (`await bmc.astart()`), or from plain code with a `BmcRunner` (an event loop
in a background thread shared by many BMCs), or in one line with `serve(...)`.

NOTE: pyghmi's server side (`pyghmi.ipmi.bmc.Bmc`, used by virtualbmc) was the starting point,
but it routes every server session through a process-wide table keyed by the client's address
and the BMC's *port*, so two BMCs on port 623 (different addresses or namespaces) talking to one
client socket -- racker's pooled pyghmi client does exactly that -- overwrite each other's
sessions. It also never frees a session, has no session limit or idle timeout, answers an
unknown user with silence and encodes the SOL port big-endian. The protocol engine here
(`vbmc_engine`, `vbmc_wire`) keeps all state per BMC instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from racker.sim.vbmc.chassis import Chassis
from racker.sim.vbmc.engine import BmcEngine
from racker.sim.vbmc.sessions import Addr, Faults, Outbound
from racker.sim.vbmc.state import BootOptions, UserTable

_LOSS = random.Random()
"""Which datagrams a lossy BMC drops (not a secret: plain `random`)."""

T = TypeVar("T")

CLONE_NEWNET = 0x40000000

# NOTE: real BMCs take milliseconds per command. Answering within microseconds trips a race in
# pyghmi's client (a reply that lands before its waiter is registered is only noticed at the
# retry timeout, stalling for seconds), so the virtual BMC takes 2 ms too.
DEFAULT_LATENCY = 0.002


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, bmc: VirtualBmc) -> None:
        self.bmc = bmc

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.bmc._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable from a console that went away: nothing to do


class VirtualBmc:
    """One virtual BMC. Configure, then `astart()` in a running loop (or `start()`)."""

    def __init__(self, chassis: Chassis, *, address: str = "127.0.0.1", port: int = 623,
                 user: str = "admin", password: str = "", users: UserTable | None = None,
                 session_limit: int = 4, session_timeout: float = 60.0,
                 boot_valid_timeout: float = 60.0, max_users: int = 10,
                 guid: uuid.UUID | None = None, sock: socket.socket | None = None,
                 name: str = "", log: Callable[[str], None] | None = None,
                 latency: float = DEFAULT_LATENCY) -> None:
        self.chassis = chassis
        self.address = address
        self.port = port
        self.name = name or address
        self.faults = Faults()
        self.lan_enabled = True
        """IPMI over LAN answers (off: a Redfish-only BMC, as many ship today)."""
        self.users = users if users is not None else UserTable.with_admin(user, password,
                                                                          max_users)
        self.boot = BootOptions(valid_timeout=boot_valid_timeout)
        self.session_limit = session_limit
        self.session_timeout = session_timeout
        self.guid = guid or uuid.uuid4()
        self.log = log
        self.latency = latency
        self._sock = sock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._runner: BmcRunner | None = None
        self._owns_runner = False
        self.engine: BmcEngine | None = None

    # -- asyncio API ----------------------------------------------------------------------

    async def astart(self) -> None:
        """Bind the socket (unless one was given) and start answering, in the running loop."""
        loop = asyncio.get_running_loop()
        sock = self._sock or bind_udp(self.address, self.port)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._loop, self._transport = loop, transport
        self.port = sock.getsockname()[1]
        self.engine = BmcEngine(users=self.users, boot=self.boot, chassis=self.chassis,
                                port=self.port, console_sink=self._console_sink,
                                faults=self.faults, session_limit=self.session_limit,
                                session_timeout=self.session_timeout, guid=self.guid,
                                clock=loop.time, random=os.urandom, log=self.log)

    async def astop(self) -> None:
        """Stop answering and close the socket; the SOL console is detached."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.engine is not None and self.engine.sol is not None:
            self.engine.deactivate_sol()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- thread API -----------------------------------------------------------------------

    def start(self, runner: BmcRunner | None = None) -> VirtualBmc:
        """Start on `runner`'s loop (a private runner thread when None); returns self."""
        owns = runner is None
        if runner is None:
            runner = BmcRunner().start()
        try:
            runner.call(self.astart())
        except BaseException:
            if owns:
                runner.stop()
            raise
        self._runner, self._owns_runner = runner, owns
        return self

    def stop(self) -> None:
        """Stop a BMC started with `start()`."""
        runner = self._runner
        if runner is None:
            return
        runner.call(self.astop())
        if self._owns_runner:
            runner.stop()
        self._runner = None

    def __enter__(self) -> VirtualBmc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- run-time state -------------------------------------------------------------------

    def session_count(self) -> int:
        """Established sessions right now (idle ones expired first)."""
        engine = self.engine
        if engine is None:
            return 0
        if self._loop is not None and self._runner is not None:
            return self._runner.call(_in_loop(engine.active_sessions))
        return engine.active_sessions()

    # -- datagrams ------------------------------------------------------------------------

    def _received(self, data: bytes, addr: Addr) -> None:
        faults = self.faults
        lost = faults.loss and _LOSS.random() < faults.loss
        if faults.drop or not self.lan_enabled or lost:
            return
        delay = faults.delay + self.latency
        if delay > 0 and self._loop is not None:
            self._loop.call_later(delay, self._process, data, addr)
            return
        self._process(data, addr)

    def _process(self, data: bytes, addr: Addr) -> None:
        if self.faults.drop or self.engine is None:
            return
        self._send(self.engine.handle(data, addr))

    def _send(self, packets: list[Outbound]) -> None:
        transport = self._transport
        if transport is not None:
            for data, addr in packets:
                transport.sendto(data, addr)
        self._arm_sol_timer()

    def _console_sink(self, data: bytes) -> None:
        """Serial output of the chassis, from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._console_output, bytes(data))

    def _console_output(self, data: bytes) -> None:
        if self.engine is not None:
            self._send(self.engine.sol_output(data))

    def _arm_sol_timer(self) -> None:
        engine, loop = self.engine, self._loop
        deadline = engine.sol_deadline() if engine is not None else None
        if self._timer is not None and (deadline is None or self._timer.when() != deadline):
            self._timer.cancel()
            self._timer = None
        if deadline is not None and self._timer is None and loop is not None:
            self._timer = loop.call_at(deadline, self._sol_tick)

    def _sol_tick(self) -> None:
        self._timer = None
        if self.engine is not None:
            self._send(self.engine.sol_tick())


async def _in_loop(fn: Callable[[], T]) -> T:
    return fn()


class BmcRunner:
    """An asyncio event loop in a daemon thread, shared by any number of BMCs."""

    def __init__(self, name: str = "vbmc") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> BmcRunner:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the runner's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop the loop and join the thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> BmcRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bind_udp(address: str, port: int) -> socket.socket:
    """A UDP socket bound to (address, port), IPv4 or IPv6 as the address says."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(address, port, 0, socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def bind_udp_in_netns(netns: str, address: str, port: int) -> socket.socket:
    """A UDP socket bound inside the named network namespace (`ip netns add NAME`)."""
    return in_netns(netns, lambda: bind_udp(address, port))


def in_netns(netns: str, make: Callable[[], T]) -> T:
    """`make()` run inside the named network namespace, for sockets that must live there.

    The socket stays in that namespace while this process and its other sockets stay where
    they are: only a short-lived helper thread switches namespace (needs root).
    """
    result: list[T | BaseException] = []

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}", "rb") as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            result.append(make())
        except BaseException as e:  # handed to the calling thread below
            result.append(e)

    thread = threading.Thread(target=work, name=f"netns-{netns}")
    thread.start()
    thread.join()
    first = result[0]
    if isinstance(first, BaseException):
        raise first
    return first


async def aserve(address: str, port: int, user: str, password: str, chassis: Chassis,
                 **options: Any) -> VirtualBmc:
    """Like `serve`, on the running event loop: `await bmc.astop()` ends it."""
    bmc = VirtualBmc(chassis, address=address, port=port, user=user, password=password,
                     **options)
    await bmc.astart()
    return bmc


def serve(address: str, port: int, user: str, password: str, chassis: Chassis, *,
          runner: BmcRunner | None = None, **options: Any) -> VirtualBmc:
    """Start a virtual BMC on (address, port) and return it; `bmc.stop()` ends it.

    `options` go to `VirtualBmc` (session_limit, session_timeout, boot_valid_timeout, sock,
    log, ...). Pass a shared `runner` when starting many.
    """
    bmc = VirtualBmc(chassis, address=address, port=port, user=user, password=password,
                     **options)
    return bmc.start(runner)
