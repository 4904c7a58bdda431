"""A TCP relay from the host's loopback into a namespace's loopback: how an operator's browser
on the host reaches the dashboard that racker serves inside the simulated management node."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from racker.sim.net.netns import asocket_in_netns

CONNECT_TIMEOUT = 5.0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def relay(netns: str, target_port: int, listen: str, port: int,
                ready: asyncio.Event | None = None) -> None:
    """Accept on `listen:port` and connect each client to 127.0.0.1:`target_port` inside
    `netns`, until cancelled."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = await asocket_in_netns(netns, socket.AF_INET, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", target_port)),
                                   CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            sock.close()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(sock=sock)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(client, listen, port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()
