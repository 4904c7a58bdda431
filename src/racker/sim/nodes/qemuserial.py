"""A QEMU node's serial console both ways: the VM's second UART (ttyS1, which racker's kernel
arguments name) on one end of a socket pair, the simulator on the other.

QEMU gets its end as the chardev's file descriptor (`-chardev socket,fd=N`), already connected:
nothing the VM prints before the simulator reads is lost, and there is no socket path to place
(a path under a test's folder can pass the 108 bytes a Unix socket path may have). QEMU also
appends everything the VM prints to the node's console log (`logfile=`), which `racker-sim
console` shows. The simulator forwards what it reads, as it comes (a prompt has no newline), to
the node's virtual BMC, whose SOL carries it; what a SOL client types comes back through
`write` to the VM's serial input. Whole lines also go to `on_line` (the test OS's progress
lines become the node's timeline).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

CHUNK = 65536
DRAIN_WAIT = 5.0
"""Seconds to read what the VM printed last once QEMU has exited (the pair's end is closed)."""


def chardev_arg(fd: int, log: Path) -> str:
    """The `-chardev` of the SOL UART: the socket on descriptor `fd`, logged to `log`."""
    return f"socket,id=sol,fd={fd},logfile={log},logappend=on"


class SerialLink:
    """One boot's serial link: `open` before QEMU starts, `attach` once it runs, `close` when
    it exited. Runs on the simulator's event loop."""

    def __init__(self, on_output: Callable[[bytes], None] | None,
                 on_line: Callable[[str], None]) -> None:
        self._on_output = on_output
        self._on_line = on_line
        self._ours: socket.socket | None = None
        self._theirs: socket.socket | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._rest = b""

    def open(self) -> int:
        """A new socket pair; the descriptor QEMU's chardev is to use (inheritable)."""
        self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._theirs.set_inheritable(True)
        return self._theirs.fileno()

    async def attach(self) -> None:
        """QEMU runs and holds its end: close ours of it, start reading the VM's output."""
        assert self._ours is not None and self._theirs is not None, "open() first"
        self._theirs.close()
        self._theirs = None
        reader, self._writer = await asyncio.open_unix_connection(sock=self._ours, limit=CHUNK)
        self._task = asyncio.get_running_loop().create_task(self._read(reader))

    def write(self, data: bytes) -> None:
        """Bytes for the VM's serial input (what a SOL client typed); dropped when no VM
        runs, as a powered-off server's UART drops them."""
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(data)

    async def close(self, drain: bool = True) -> None:
        """Close the link; when `drain` (QEMU exited), after reading its last output (bounded).
        """
        if self._theirs is not None:  # QEMU never started
            self._theirs.close()
            self._theirs = None
        if self._task is not None:
            if drain:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(self._task), DRAIN_WAIT)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
            self._writer = None
        elif self._ours is not None:
            self._ours.close()
        self._ours = None
        if self._rest:
            self._on_line(self._rest.decode("utf-8", "replace").rstrip("\r"))
            self._rest = b""

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                data = await reader.read(CHUNK)
            except ConnectionError:
                return
            if not data:
                return
            if self._on_output is not None:
                self._on_output(data)
            *lines, self._rest = (self._rest + data).split(b"\n")
            if len(self._rest) > CHUNK:  # no newline for that long: a line of its own
                lines.append(self._rest)
                self._rest = b""
            for raw in lines:
                self._on_line(raw.decode("utf-8", "replace").rstrip("\r"))
