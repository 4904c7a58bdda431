"""A QEMU node's serial link, with this test in QEMU's place on the socket pair's other end (the
VM itself: tests/e2e/test_qemu_console.py): output forwarded as it comes and split into lines,
typed bytes delivered, the last output drained after QEMU exits, nothing waited for after a
power-off."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

from racker.sim.nodes.qemuserial import SerialLink, chardev_arg


def test_chardev_is_the_socket_on_the_descriptor_logged_to_the_console_log() -> None:
    assert chardev_arg(9, Path("/s/node1.console")) == \
        "socket,id=sol,fd=9,logfile=/s/node1.console,logappend=on"


def test_both_ways_then_the_last_output_after_qemu_exits() -> None:
    out: list[bytes] = []
    lines: list[str] = []

    async def main() -> bytes:
        link = SerialLink(out.append, lines.append)
        fd = link.open()
        assert os.get_inheritable(fd)  # QEMU (a child process) gets it
        qemu = socket.socket(fileno=os.dup(fd))  # what QEMU holds
        qemu.setblocking(False)
        loop = asyncio.get_running_loop()
        await link.attach()
        await loop.sock_sendall(qemu, b"racker-testos: up\r\nsh: job control off\r\n/ # ")
        while b"# " not in b"".join(out):  # a prompt has no newline: forwarded all the same
            await asyncio.sleep(0.01)
        link.write(b"echo hi\r")
        typed = await asyncio.wait_for(loop.sock_recv(qemu, 100), 10)
        await loop.sock_sendall(qemu, b"echo hi\r\nhi\r\n/ # ")
        qemu.close()  # QEMU exited: what it wrote last is still read
        await link.close()
        link.write(b"lost")  # no VM runs: dropped, as a powered-off UART drops it
        return typed

    typed = asyncio.run(asyncio.wait_for(main(), 30))
    assert typed == b"echo hi\r"
    assert b"".join(out) == (b"racker-testos: up\r\nsh: job control off\r\n/ # echo hi\r\n"
                             b"hi\r\n/ # ")
    assert lines == ["racker-testos: up", "sh: job control off", "/ # echo hi", "hi", "/ # "]


def test_a_power_off_does_not_wait_for_a_qemu_still_running() -> None:
    async def main() -> None:
        link = SerialLink(None, lambda _line: None)
        qemu = socket.socket(fileno=os.dup(link.open()))
        await link.attach()
        try:
            # QEMU still runs (it is killed after this): nothing to drain, nothing to wait for
            await asyncio.wait_for(link.close(drain=False), 2)
        finally:
            qemu.close()

    asyncio.run(main())


def test_a_qemu_that_never_started_leaves_nothing_open() -> None:
    async def main() -> None:
        link = SerialLink(None, lambda _line: None)
        fd = link.open()
        inode = os.fstat(fd).st_ino
        await link.close()
        with contextlib.suppress(OSError):  # closed, and the number not reused
            assert os.fstat(fd).st_ino != inode, "QEMU's end is still open"

    asyncio.run(main())
