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
import select
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

PATHSEND = "http.response.pathsend"


class _Sized:
    """Stands in for the body in h11's bookkeeping: h11 only asks for its length.

    NOTE: h11 supports this on purpose (`send_with_data_passthrough`, its sendfile recipe).
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def _enable_pathsend(cycle: RequestResponseCycle, loop: asyncio.AbstractEventLoop) -> None:
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
            sock = cycle.transport.get_extra_info("socket")
            try:
                if sock is None:
                    await loop.sendfile(cycle.transport, f, 0, size)
                else:
                    # NOTE: in a worker thread, so that several downloads use several cores
                    # (sendfile runs without the GIL); the transport is idle meanwhile
                    await loop.run_in_executor(_POOL, _send_all, sock.fileno(), f.fileno(), size)
            except (ConnectionError, RuntimeError, OSError):
                cycle.disconnected = True
                cycle.transport.close()
                return
        await original({"type": "http.response.body", "body": b"", "more_body": False})

    cycle.send = send  # type: ignore[method-assign]


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="sendfile")
SEND_WAIT = 60.0
"""Seconds a client may leave its receive window closed before the download is given up."""


def _send_all(sock_fd: int, file_fd: int, size: int) -> None:
    """sendfile(2) the whole file into a non-blocking socket, waiting while it is full."""
    offset = 0
    poll = select.poll()  # not select(): descriptors above 1024 are fine
    poll.register(sock_fd, select.POLLOUT)
    while offset < size:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, size - offset)
        except BlockingIOError:
            if not poll.poll(SEND_WAIT * 1000):
                raise TimeoutError("the client stopped reading") from None
            continue
        if sent == 0:
            raise ConnectionError("the client closed the connection")
        offset += sent


class SendfileH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, advertising and serving `http.response.pathsend`."""

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not before:
            _enable_pathsend(self.cycle, self.loop)


def server(app: Any, host: str, port: int, *, log_level: str = "warning",
           graceful_shutdown: int | None = None) -> uvicorn.Server:
    """A uvicorn server for `app` using the sendfile protocol; run it with `await s.serve()`.
    `graceful_shutdown` bounds the wait for open requests at exit (event streams never end)."""
    config = uvicorn.Config(app, host=host, port=port, http=SendfileH11Protocol,
                            log_level=log_level, access_log=False, lifespan="off",
                            timeout_keep_alive=30, timeout_graceful_shutdown=graceful_shutdown)
    return uvicorn.Server(config)
