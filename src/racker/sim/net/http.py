"""An httpx client whose TCP connections are opened inside a network namespace."""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import typing

import httpcore
import httpx

from racker.sim.net.netns import asocket_in_netns


class _SocketStream(httpcore.AsyncNetworkStream):
    """An httpcore stream over a connected non-blocking socket, driven by the asyncio loop."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.sock_recv(self._sock, max_bytes), timeout)
        except TimeoutError:
            raise httpcore.ReadTimeout("read timed out") from None
        except OSError as e:
            raise httpcore.ReadError(str(e)) from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_sendall(self._sock, buffer), timeout)
        except TimeoutError:
            raise httpcore.WriteTimeout("write timed out") from None
        except OSError as e:
            raise httpcore.WriteError(str(e)) from None

    async def aclose(self) -> None:
        self._sock.close()

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "socket":
            return self._sock
        return None


class NetnsBackend(httpcore.AsyncNetworkBackend):
    """Opens each TCP connection from inside network namespace `ns`."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        sock = await asocket_in_netns(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        except TimeoutError:
            sock.close()
            raise httpcore.ConnectTimeout(f"connect to {host}:{port} timed out") from None
        except OSError as e:
            sock.close()
            raise httpcore.ConnectError(f"connect to {host}:{port}: {e.strerror}") from None
        return _SocketStream(sock)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by simulated nodes")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context shared by every simulated node's client."""
    return ssl.create_default_context()


class NetnsTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool using a `NetnsBackend`."""

    def __init__(self, ns: str) -> None:
        # NOTE: every node makes clients; loading the CA bundle for each cost ~20 ms of CPU.
        super().__init__(verify=_ssl_context())
        # NOTE: httpx does not expose the pool's network backend; replacing the pool keeps
        # httpx's request mapping and exception translation intact.
        self._pool = httpcore.AsyncConnectionPool(network_backend=NetnsBackend(ns),
                                                  max_connections=4)


def client_in_netns(ns: str, timeout: float = 10.0) -> httpx.AsyncClient:
    """An AsyncClient for a simulated node in `ns`: bounded timeouts, no environment proxies."""
    return httpx.AsyncClient(transport=NetnsTransport(ns), timeout=httpx.Timeout(timeout),
                             trust_env=False, follow_redirects=True, max_redirects=5)
