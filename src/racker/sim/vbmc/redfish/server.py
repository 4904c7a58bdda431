"""A small HTTPS/1.1 server for one virtual BMC's Redfish resources, on asyncio.

Many of them share the simulator's event loop as the IPMI sides do; each request is parsed,
handed to `RedfishModel.handle` and answered with JSON. The BMC faults apply: `drop` (no
answer: the connection is held, then closed), `delay` (every answer late); `rotate_cert`
gives the BMC a new certificate (the bmc-cert-changed fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from http import HTTPStatus
from typing import Any

from racker.sim.vbmc.redfish import cert
from racker.sim.vbmc.redfish.model import RedfishModel, Response, error
from racker.sim.vbmc.server import VirtualBmc
from racker.sim.vbmc.sessions import Faults

MAX_BODY = 64 * 1024
IDLE = 30.0
"""Seconds a connection may sit between requests (and a dropped one is held)."""


class RedfishServer:
    """HTTPS in front of a `RedfishModel`; start with `astart(sock)` in a running loop."""

    def __init__(self, model: RedfishModel, faults: Faults, name: str) -> None:
        self.model = model
        self.faults = faults
        self.name = name
        self.cert_pem, key_pem = cert.self_signed(f"bmc-{name}")
        self.ctx = cert.server_context(self.cert_pem, key_pem)
        self._server: asyncio.base_events.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping = asyncio.Event()
        self.port = 0

    async def astart(self, sock: socket.socket) -> None:
        """Serve on the bound, listening-ready TCP socket `sock`."""
        self._server = await asyncio.start_server(self._connection, sock=sock, ssl=self.ctx,
                                                  ssl_handshake_timeout=10)
        self.port = sock.getsockname()[1]

    async def astop(self) -> None:
        """Stop listening and end the open connections."""
        if self._server is not None:
            self._server.close()
            self._server = None
        # NOTE: connections are closed, not their tasks cancelled: asyncio's stream callback
        # (3.11) reports a cancelled handler as an unhandled exception.
        self._stopping.set()
        connections, self._connections = dict(self._connections), {}
        for writer in connections.values():
            writer.transport.abort()  # no TLS close_notify exchange: the loop may be ending
        if connections:
            await asyncio.wait(list(connections), timeout=5)

    def rotate_cert(self) -> None:
        """A new certificate from now on (as after a BMC reset or firmware update)."""
        self.cert_pem, key_pem = cert.self_signed(f"bmc-{self.name}-renewed")
        cert.load(self.ctx, self.cert_pem, key_pem)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[task] = writer
        try:
            while True:
                request = await asyncio.wait_for(_read_request(reader), IDLE)
                if request is None:
                    break
                method, path, headers, body = request
                if self.faults.drop:  # no answer, as a hung BMC
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), IDLE)
                    break
                if self.faults.delay:
                    await asyncio.sleep(self.faults.delay)
                response = self._answer(method, path, headers, body)
                keep = headers.get("connection", "").lower() != "close"
                writer.write(_encode(response, keep, head_only=method == "HEAD"))
                await writer.drain()
                if not keep:
                    break
        except (TimeoutError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError,
                ValueError):
            pass
        finally:
            if task is not None:
                self._connections.pop(task, None)
            writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 5)

    def _answer(self, method: str, path: str, headers: dict[str, str],
                raw: bytes) -> Response:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            return error(400, "the body is not JSON", "Base.1.8.MalformedJSON")
        return self.model.handle("GET" if method == "HEAD" else method, path, headers, body)


async def _read_request(reader: asyncio.StreamReader
                        ) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError("bad request line")
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length < 0 or length > MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return parts[0].upper(), parts[1], headers, body


def _encode(r: Response, keep: bool, head_only: bool = False) -> bytes:
    body = b"" if r.body is None else json.dumps(r.body, indent=1).encode()
    reason = HTTPStatus(r.status).phrase
    lines = [f"HTTP/1.1 {r.status} {reason}", "Server: racker-sim vBMC",
             f"Content-Length: {len(body)}",
             f"Connection: {'keep-alive' if keep else 'close'}",
             "OData-Version: 4.0"]
    if r.body is not None:
        lines.append("Content-Type: application/json; charset=utf-8")
    lines += [f"{k}: {v}" for k, v in r.headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head if head_only else head + body


def bind_tcp(address: str, port: int) -> socket.socket:
    """A listening TCP socket on (address, port)."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(address, port, 0,
                                                          socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve_redfish(bmc: VirtualBmc, sock: socket.socket, *,
                        settings_only: bool = False) -> RedfishServer:
    """The Redfish side of a started virtual BMC, serving on `sock` (a bound TCP socket)."""
    assert bmc.engine is not None, "start the virtual BMC first"
    model = RedfishModel(bmc.engine, str(bmc.guid), settings_only=settings_only,
                         serial=f"SIM-{bmc.name}", clock=asyncio.get_running_loop().time)
    server = RedfishServer(model, bmc.faults, bmc.name)
    await server.astart(sock)
    return server
