"""Serving the boot server's ASGI app with uvicorn, with zero-copy file responses.

Forty-eight nodes pulling a several-hundred-megabyte initrd at once is the boot server's
heaviest moment. Uvicorn copies file bodies through Python; this module's HTTP/1.1 protocol
(uvicorn's h11 protocol plus the ASGI `http.response.pathsend` extension) hands whole-file
responses to the kernel with sendfile(2) instead, as nginx does. Everything else is uvicorn's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, BinaryIO

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from racker.errors import ServiceError

PATHSEND = "http.response.pathsend"


class _Sized:
    """Stands in for the body in h11's bookkeeping: h11 only asks for its length.

    NOTE: h11 supports this on purpose (`send_with_data_passthrough`, its sendfile recipe).
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


@dataclass(frozen=True)
class Limits:
    """What one client may hold of the boot server (stalled clients must not stop it)."""

    header_timeout: float = 10.0
    """Seconds from a connection's first byte (or its opening) to a complete request, headers
    and body: a half-sent request is closed after it."""
    send_wait: float = 60.0
    """Seconds a client may leave its receive window closed before its download is dropped."""
    transfer_deadline: float = 1800.0
    """Seconds one file download may take in all (a client reading a byte now and then)."""
    concurrency: int = 1024
    """Connections plus running requests at most; beyond, uvicorn answers 503."""


def _enable_pathsend(cycle: RequestResponseCycle, loop: asyncio.AbstractEventLoop,
                     limits: Limits, closing: asyncio.Event) -> None:
    scope: dict[str, Any] = cycle.scope  # type: ignore[assignment]
    scope["extensions"] = {**scope.get("extensions", {}), PATHSEND: {}}
    original = cycle.send

    async def send(message: Any) -> None:
        if message["type"] != PATHSEND:
            await original(message)
            return
        with open(message["path"], "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if cycle.flow.write_paused and not cycle.disconnected:
                await cycle.flow.drain()
            if cycle.disconnected:
                return
            cycle.conn.send_with_data_passthrough(h11.Data(data=_Sized(size)))  # type: ignore[arg-type]
            try:
                await _send_file(loop, cycle.transport, f, size, limits, closing)
            except (ConnectionError, RuntimeError, OSError, TimeoutError):
                cycle.disconnected = True
                cycle.transport.abort()  # close() would wait for a client that does not read
                return
        await original({"type": "http.response.body", "body": b"", "more_body": False})

    cycle.send = send  # type: ignore[method-assign]


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="sendfile")
WAIT_CHUNK = 1 << 16
"""Bytes the event loop sends once a client's socket was full (it waits for the socket to take
more), before threads take over again: small, so that the threads send the bulk."""
BURST = 64 << 20
"""Bytes one thread sends at most before the deadline is checked again."""


async def _send_file(loop: asyncio.AbstractEventLoop, transport: asyncio.Transport,
                     f: BinaryIO, size: int, limits: Limits, closing: asyncio.Event) -> None:
    """The whole file into the transport's socket; ConnectionAbortedError once `closing` is
    set (the server stops: it must not wait for clients that do not read).

    NOTE: sendfile(2) runs in worker threads while the socket takes data (several downloads
    use several cores; sendfile runs without the GIL), but a thread never waits for a client:
    once the socket is full, the event loop's own sendfile waits for it. Eight clients that
    stopped reading held all eight threads before, and every other download waited for them.
    """
    sock = transport.get_extra_info("socket")
    deadline = loop.time() + limits.transfer_deadline
    offset = 0
    while offset < size:
        # NOTE: the deadline is checked between steps, never by cancelling a thread's burst: the
        # socket it writes to must not be closed (and its number reused) under it
        if loop.time() > deadline:
            raise TimeoutError("the download took longer than its deadline")
        if sock is not None:
            target = min(size, offset + BURST)
            offset = await loop.run_in_executor(_POOL, _send_burst, sock.fileno(), f.fileno(),
                                                offset, target)
            if offset == target:
                continue
        if offset < size:  # the socket is full: the event loop waits for the client
            count = min(size - offset, WAIT_CHUNK)
            wait = max(0.0, min(limits.send_wait, deadline - loop.time()))
            sent = await _until(loop.sendfile(transport, f, offset, count), closing, wait)
            if sent == 0:
                raise ConnectionError("the client closed the connection")
            offset += sent


async def _until(step: Coroutine[Any, Any, int], closing: asyncio.Event, timeout: float) -> int:
    """`step`'s result, unless `closing` is set or `timeout` passes first (then it is
    cancelled: TimeoutError or ConnectionAbortedError)."""
    inner = asyncio.ensure_future(step)
    stop = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({inner, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not inner.done():
            inner.cancel()
            await asyncio.wait({inner})  # never raises: the outer task's own cancel stays
    if inner.cancelled():
        if closing.is_set():
            raise ConnectionAbortedError("the server stops")
        raise TimeoutError("the client stopped reading")
    return inner.result()


def _send_burst(sock_fd: int, file_fd: int, offset: int, size: int) -> int:
    """sendfile(2) into a non-blocking socket until it is full or `size` is reached; the new
    offset."""
    while offset < size:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, size - offset)
        except BlockingIOError:
            return offset
        if sent == 0:
            raise ConnectionError("the client closed the connection")
        offset += sent
    return offset


class _Config(uvicorn.Config):
    limits: Limits = Limits()


class SendfileH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, advertising and serving `http.response.pathsend`, and
    closing connections whose request does not arrive in time.

    NOTE: uvicorn bounds only the idle time between requests (keep-alive); a client that sends
    half a request line, or nothing at all, held its connection for ever.
    """

    _read_timer: asyncio.TimerHandle | None = None
    _closing: asyncio.Event | None = None

    @property
    def limits(self) -> Limits:
        return getattr(self.config, "limits", Limits())

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._closing = asyncio.Event()
        self._arm_read_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # the first bytes of a request
            self._arm_read_timer()
        super().data_received(data)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not before:
            assert self._closing is not None
            _enable_pathsend(self.cycle, self.loop, self.limits, self._closing)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm_read_timer()  # the whole request is in (or the connection is done)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_timer()
        if self._closing is not None:
            self._closing.set()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server stops: a download in progress is dropped rather than waited for."""
        super().shutdown()
        if self._closing is not None:
            self._closing.set()

    def _arm_read_timer(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.loop.call_later(self.limits.header_timeout,
                                                    self._read_timed_out)

    def _disarm_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        self.transport.abort()


def server(app: Any, host: str, port: int, *, log_level: str = "warning",
           limits: Limits | None = None, graceful_shutdown: int | None = None
           ) -> uvicorn.Server:
    """A uvicorn server for `app` using the sendfile protocol; run it with `await s.serve()`.
    `graceful_shutdown` bounds the wait for open requests at exit (event streams never end)."""
    lim = limits or Limits()
    config = _Config(app, host=host, port=port, http=SendfileH11Protocol,
                     log_level=log_level, access_log=False, lifespan="off",
                     timeout_keep_alive=30, limit_concurrency=lim.concurrency,
                     timeout_graceful_shutdown=graceful_shutdown)
    config.limits = lim
    return uvicorn.Server(config)


def listen(host: str, port: int) -> socket.socket:
    """The boot server's listening socket, bound here so that a port in use is a ServiceError
    naming it (uvicorn would only log its raw "[Errno 98]" and exit)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ServiceError(f"the boot server could not listen on {host}:{port}: {e.strerror}",
                           hint="another program holds the port: stop it (a 'racker serve' "
                                "would have handed it over; see 'ss -ltnp')") from e
    sock.set_inheritable(True)
    return sock
