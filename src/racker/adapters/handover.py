"""`racker serve`'s management socket: other racker commands borrow DHCP and the boot server.

Only one process can serve DHCP and the boot port on the PXE interface. While `racker serve`
runs (the service on a management node), `bootstrap`, `apply`, `node reprovision`, `pxe-boot`
and `replace` borrow the duty instead of refusing: they connect to `<state>/serve.sock`, send
`take`, and serve stops its dnsmasq and boot server and answers `ok`. The borrower runs its own
(with the configuration it just wrote) for as long as it keeps the connection open. When the
connection closes, for whatever reason (done, failed, Ctrl-C, killed), serve reads the
configuration again and takes the duty back: a borrower that dies cannot leave the rack
without DHCP. `reload` asks serve to restart its services with the configuration on disk
(after `node exclude`, `include` or `replace` wrote a new dnsmasq.conf).

The socket is root's alone (mode 0600 in racker's root-only state folder): whoever may write
racker's state may also stop its services.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from racker.errors import ServiceError, Where

SOCKET_NAME = "serve.sock"
ANSWER_SEC = 60.0
"""How long a borrower waits for serve to stop its services (dnsmasq stops within 5 s)."""


def socket_path(state_dir: Path) -> Path:
    """Where `racker serve` listens for other racker commands."""
    return state_dir / SOCKET_NAME


class Request(enum.Enum):
    """What a client asks of serve (the wire words are the values)."""

    TAKE = "take"
    RELOAD = "reload"


@dataclass
class Handover:
    """Serve's side of the socket. Serve waits on `requested`, stops its services, then calls
    `lend()` (a TAKE: returns when the borrower is done) or `reloaded()` (a RELOAD)."""

    path: Path
    requested: asyncio.Event = field(default_factory=asyncio.Event)
    kind: Request | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _returned: asyncio.Event = field(default_factory=asyncio.Event)
    _one: asyncio.Lock = field(default_factory=asyncio.Lock)
    _server: asyncio.AbstractServer | None = None

    @property
    def borrowing(self) -> bool:
        """True when the pending request is a TAKE (not a RELOAD)."""
        return self.kind is Request.TAKE

    async def start(self) -> None:
        """Listen; a socket file left by a serve that died is replaced, a live one is not."""
        if self.path.exists() or self.path.is_symlink():
            if await _answers(self.path):
                raise ServiceError("another 'racker serve' runs already",
                                   where=Where(file=str(self.path)),
                                   hint="stop it first (systemctl stop racker-serve)")
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        """Stop listening and remove the socket file. A borrower still waiting is answered:
        serve's services are stopped, so the duty is free to take."""
        self._ready.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def lend(self, stop: asyncio.Event) -> None:
        """Services are stopped: tell the borrower, wait until it gives them back (or `stop`)."""
        self._returned.clear()
        self._ready.set()
        await _first(self._returned, stop)

    def reloaded(self) -> None:
        """Services restarted with the configuration on disk: tell the client."""
        self._ready.set()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                word = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
                kind = Request(word)
            except (TimeoutError, ValueError, UnicodeDecodeError, ConnectionError):
                return
            if kind is Request.RELOAD and self._one.locked() and self.borrowing:
                # lent: the borrower runs the services with the new configuration, and serve
                # reads it when it takes them back (the borrower itself may be asking)
                writer.write(b"ok\n")
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                return
            async with self._one:  # one borrower at a time; the next waits its turn
                self._ready.clear()
                self.kind = kind
                self.requested.set()
                await self._ready.wait()
                writer.write(b"ok\n")
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                if kind is Request.TAKE:
                    with contextlib.suppress(ConnectionError):
                        while await reader.read(4096):  # until the borrower closes
                            pass
                    self._returned.set()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _answers(path: Path) -> bool:
    try:
        _, writer = await asyncio.open_unix_connection(str(path))
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return True


async def _ask(path: Path, kind: Request,
               timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """Send `kind` to a running serve and wait for its `ok`; None when no serve listens."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        return None  # no serve, or a socket file left by one that died
    writer.write(kind.value.encode() + b"\n")
    try:
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), timeout)
    except (TimeoutError, ConnectionError):
        answer = b""
    if answer.strip() != b"ok":
        writer.close()
        raise ServiceError("'racker serve' runs but did not hand over DHCP and the boot server",
                           where=Where(file=str(path)),
                           hint="see its log (journalctl -u racker-serve); stop it and run "
                                "the command again")
    return reader, writer


@contextlib.asynccontextmanager
async def borrowed(state_dir: Path, *, timeout: float = ANSWER_SEC) -> AsyncIterator[bool]:
    """While the block runs, a running `racker serve` has stopped its services; it takes them
    back when the block ends (or this process dies). Yields whether a serve was running."""
    asked = await _ask(socket_path(state_dir), Request.TAKE, timeout)
    if asked is None:
        yield False
        return
    _, writer = asked
    try:
        yield True
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def reload(state_dir: Path, *, timeout: float = ANSWER_SEC) -> bool:
    """Ask a running `racker serve` to restart with the configuration on disk; False when
    none runs. Blocking and short, so that synchronous use cases (node exclude, also from
    within a provisioning run) can call it; a serve that has lent its services answers at once
    (it reads the configuration when it takes them back)."""
    path = socket_path(state_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        try:
            sock.sendall(Request.RELOAD.value.encode() + b"\n")
            answer = sock.makefile("rb").readline()
        except OSError:
            answer = b""
    if answer.strip() != b"ok":
        raise ServiceError("'racker serve' runs but did not reload its configuration",
                           where=Where(file=str(path)),
                           hint="restart it (systemctl restart racker-serve)")
    return True
