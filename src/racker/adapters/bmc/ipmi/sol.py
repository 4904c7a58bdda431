"""Serial over LAN on pyghmi's console: one SOL session per BMC as a stream of bytes.

pyghmi's `Console` logs in on a session of its own (not the driver's pooled one, so the pool's
re-logins never cut a console) and hands what the host writes to a callback, but only while
somebody runs pyghmi's event loop (`Session.wait_for_rsp`). One thread of this module runs that
loop while any console is open; the callback moves bytes into the console's asyncio queue.
A SOL payload left active by another client (a crashed tool) is deactivated first when asked
(`take_over`: pyghmi's `force`, as the `ipmi` helper does with `sol deactivate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from racker.adapters.bmc.errors import BmcCommandFailed, BmcTimeout
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi import pyghmi_glue as glue
from racker.adapters.bmc.ipmi.daemonpool import DaemonPool

PUMP_POLL = 0.01
"""Seconds between two looks at the packets that came for the consoles (an acknowledgement
waits this long at most: a BMC sends the next packet of output once it has one)."""
TIMERS_EVERY = 0.1
"""Seconds between two runs of pyghmi's timers (retransmits, keepalives: seconds apart)."""
QUEUE_LIMIT = 4096
"""Chunks a console buffers for a slow reader before it drops the oldest."""
DELIVER_AFTER = 0.1
"""Seconds the host's output gathers before it reaches the reader as one chunk (a recorder's
latency: a booting host sends a SOL packet per line, and handing each to the event loop on
its own cost more than the capture's file writes)."""


class _Delivery:
    """Hands every console's gathered output to one event loop in one wake-up per
    DELIVER_AFTER. NOTE: one wake-up per console cost the loop a self-pipe write, a select
    and two callbacks for each of 48 consoles ten times a second while nodes booted."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._due: list[SolStream] = []

    def due(self, stream: SolStream) -> None:
        """`stream` has output to hand over (pyghmi's loop thread)."""
        with self._lock:
            self._due.append(stream)
            first = len(self._due) == 1
        if first:
            # its event loop may have ended (asyncio.run returned): nobody reads then
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.call_later, DELIVER_AFTER,
                                                self._deliver)

    def _deliver(self) -> None:
        with self._lock:
            due, self._due = self._due, []
        for stream in due:
            stream._drain()


_DELIVERIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Delivery] = \
    weakref.WeakKeyDictionary()
_DELIVERIES_LOCK = threading.Lock()


def _delivery(loop: asyncio.AbstractEventLoop) -> _Delivery:
    with _DELIVERIES_LOCK:
        found = _DELIVERIES.get(loop)
        if found is None:
            found = _DELIVERIES[loop] = _Delivery(loop)
        return found


class _Pump:
    """The one thread that runs pyghmi's event loop while consoles are open."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="racker-sol",
                                                daemon=True)
                self._thread.start()

    def release(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)

    def _run(self) -> None:
        """pyghmi's loop, its two halves at their own pace. NOTE: `Session.wait_for_rsp`
        returns for every packet of the process, and each round also walked every session's
        retransmit and keepalive timers and woke pyghmi's I/O thread to wait again: a
        48-node bootstrap ran ~600 such rounds for its consoles (this thread's CPU: 0.08-0.16 s
        then, 0.05-0.06 s now). Packets are handled in batches every PUMP_POLL, timers every
        TIMERS_EVERY."""
        timers_at = 0.0
        while True:
            with self._lock:
                if self._users == 0:
                    self._thread = None
                    return
            try:
                glue.handle_queued_packets()
                now = time.monotonic()
                if now >= timers_at:
                    timers_at = now + TIMERS_EVERY
                    glue.run_timers()
            except glue.PYGHMI_ERRORS:  # one BMC's broken session must not stop the others
                pass
            time.sleep(PUMP_POLL)


_PUMP = _Pump()
_THREADS: DaemonPool | None = None


def _threads() -> DaemonPool:
    """Threads for pyghmi's blocking login and logout: one per BMC of a 64-server rack at once
    (asyncio's default pool has 6 on a small management node, and a run closes every console
    at its end: 48 consoles closed 6 at a time held the run's end up by seconds)."""
    global _THREADS
    if _THREADS is None:
        _THREADS = DaemonPool(64, "racker-sol-io")
    return _THREADS


class SolStream(AsyncIterator[bytes]):
    """The host's serial output over one SOL session; `aclose` deactivates it and logs out.

    Iteration ends with BmcCommandFailed when the BMC ends the session (another client took
    SOL over, the BMC reset, the session was lost).
    """

    def __init__(self, target: BmcTarget, timeout: float, take_over: bool = True) -> None:
        self.target = target
        self.timeout = timeout
        self.take_over = take_over
        self._loop = asyncio.get_running_loop()
        self._delivery = _delivery(self._loop)
        self._queue: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._console: Any = None
        self._closed = False
        self._inbox: list[bytes | str] = []
        self._inbox_lock = threading.Lock()

    def _where(self) -> str:
        return f"{self.target.address}:{self.target.port}"

    def _received(self, data: Any) -> None:
        """pyghmi's callback (its loop's thread): bytes, or a dict with an error or info."""
        if self._closed:  # NOTE: a console whose logout was lost still receives until it ends
            return
        item: bytes | str | None
        if isinstance(data, dict):
            if "error" not in data:
                return
            item = str(data["error"])
        elif isinstance(data, str):
            item = data.encode("utf-8", errors="replace")
        else:
            item = bytes(data)
        # NOTE: one wake-up of the event loop per DELIVER_AFTER, not per SOL packet (a booting
        # host sends hundreds of small packets; each wake-up costs more than the bytes)
        with self._inbox_lock:
            self._inbox.append(item)
            first = len(self._inbox) == 1
        if first:
            self._delivery.due(self)

    def _drain(self) -> None:
        with self._inbox_lock:
            items, self._inbox = self._inbox, []
        run: list[bytes] = []
        for item in items:  # consecutive bytes as one chunk
            if isinstance(item, bytes):
                run.append(item)
                continue
            if run:
                self._put(b"".join(run))
                run = []
            self._put(item)
        if run:
            self._put(b"".join(run))

    def _put(self, item: bytes | str | None) -> None:
        if self._queue.qsize() >= QUEUE_LIMIT:  # a stalled reader loses the oldest output
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def start(self) -> SolStream:
        """Log in and activate SOL (a dangling payload is deactivated first)."""
        t = self.target

        def connect() -> Any:
            return glue.new_console(t.address, t.user, t.password, t.port, self._received,
                                    self.take_over, self.timeout + glue.GRACE)

        _PUMP.acquire()
        try:
            login = _threads().submit(connect)
            try:
                self._console = await asyncio.wait_for(asyncio.wrap_future(login),
                                                       self.timeout)
            except TimeoutError:
                # NOTE: the login goes on in its thread; one that completes after racker gave
                # up is logged out there, or its session (and SOL payload) stayed up, kept
                # alive by the pump: on a lossy link each retry added one, until the BMC had
                # no session slot left for racker's own calls
                login.add_done_callback(functools.partial(glue.forget_login, end=_close))
                # NOTE: a lossy link loses the login's datagrams; this must reach the capture
                # as a BMC failure it retries, never as a bare TimeoutError that ends the run
                raise BmcTimeout(t.node, self._where(),
                                 f"no Serial-over-LAN session within {self.timeout:g} s",
                                 ) from None
            except glue.PYGHMI_ERRORS as e:
                raise BmcCommandFailed(t.node, self._where(),
                                       f"Serial over LAN not activated: {e}") from None
            deadline = self._loop.time() + self.timeout
            while not self._console.connected:
                if not self._queue.empty():
                    first = self._queue.get_nowait()
                    if isinstance(first, str):
                        raise BmcCommandFailed(t.node, self._where(),
                                               f"Serial over LAN not activated: {first}")
                    self._queue.put_nowait(first)
                if self._loop.time() >= deadline:
                    raise BmcTimeout(t.node, self._where(),
                                     f"Serial over LAN not activated within {self.timeout:g} s")
                await asyncio.sleep(0.05)
        except BaseException:
            await self.aclose()
            raise
        return self

    def unread(self) -> bytes:
        """What the host wrote that arrived but was not read yet (a reader that stops takes
        it: the last DELIVER_AFTER of a console is otherwise lost). The stream's end (the
        session's error, or its close) stays for the reader, with whatever came after it."""
        with self._inbox_lock:
            items, self._inbox = self._inbox, []
        pending: list[bytes | str | None] = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        pending += items
        taken: list[bytes] = []
        for i, item in enumerate(pending):
            if not isinstance(item, bytes):
                # NOTE: this runs while the capture still reads too (a failure's last lines):
                # an end dropped here left the reader waiting for good, never reopening
                for rest in pending[i:]:
                    self._put(rest)
                break
            taken.append(item)
        return b"".join(taken)

    def __aiter__(self) -> SolStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, str):
            raise BmcCommandFailed(self.target.node, self._where(),
                                   f"Serial over LAN ended: {item}")
        return item

    async def aclose(self) -> None:
        """Deactivate SOL and log out (once)."""
        if self._closed:
            return
        self._closed = True
        cons, self._console = self._console, None
        try:
            if cons is not None:
                await asyncio.wait_for(self._loop.run_in_executor(_threads(), _close, cons),
                                       self.timeout)
        except (TimeoutError, *glue.PYGHMI_ERRORS):
            pass  # the BMC forgets an idle session by itself
        finally:
            _PUMP.release()
            self._queue.put_nowait(None)


def _close(cons: Any) -> None:
    """End the console's session. NOTE: a logout alone: closing a session deactivates the
    payloads it holds (IPMI 2.0 §24.3), so pyghmi's own `close` (a Deactivate Payload first)
    would only add a round trip, and a run closes every node's console at its end."""
    session = cons.ipmi_session
    if session is None:
        return
    session.unregister_keepalive(cons.keepaliveid)
    session.sol_handler = None
    session.logout()


async def open_sol(target: BmcTarget, timeout: float, *, take_over: bool = True) -> SolStream:
    """A started SOL stream to `target` (BmcFailure when SOL cannot be activated; without
    `take_over`, also when another client holds it)."""
    return await SolStream(target, timeout, take_over).start()
