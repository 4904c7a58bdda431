"""racker serve's management socket over a real Unix socket: a borrower takes the services and
gives them back (also by dying), a reload is answered once the services run again, a stale
socket file is replaced, a second serve is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from racker.adapters.handover import Handover, borrowed, reload, socket_path
from racker.errors import ServiceError


async def _serve_once(h: Handover, stop: asyncio.Event, log: list[str]) -> None:
    """What serve's loop does, reduced to its bookkeeping."""
    while not stop.is_set():
        log.append("up")
        waits = [asyncio.create_task(e.wait()) for e in (stop, h.requested)]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if stop.is_set():
            return
        h.requested.clear()
        if not h.borrowing:
            log.append("reload")
            h.reloaded()
            continue
        log.append("lent")
        await h.lend(stop)
        log.append("back")


def test_borrow_reload_and_no_serve(tmp_path: Path) -> None:
    async def main() -> list[str]:
        async with borrowed(tmp_path) as lent:  # no serve: the caller runs its own
            assert lent is False
        assert reload(tmp_path) is False
        h = Handover(socket_path(tmp_path))
        await h.start()
        assert (os.stat(socket_path(tmp_path)).st_mode & 0o777) == 0o600
        with pytest.raises(ServiceError, match="another 'racker serve' runs already"):
            await Handover(socket_path(tmp_path)).start()
        stop, log = asyncio.Event(), list[str]()
        task = asyncio.create_task(_serve_once(h, stop, log))
        async with borrowed(tmp_path) as lent:
            assert lent is True and log[-1] == "lent"
            # the borrower's own exclusions ask for a reload: answered at once while lent
            assert await asyncio.wait_for(asyncio.to_thread(reload, tmp_path), 5) is True
            assert log[-1] == "lent"
        for _ in range(100):
            if log[-1] == "up":
                break
            await asyncio.sleep(0.01)
        assert await asyncio.to_thread(reload, tmp_path) is True
        stop.set()
        await task
        await h.close()
        assert not socket_path(tmp_path).exists()
        return log

    assert asyncio.run(main()) == ["up", "lent", "back", "up", "reload", "up"]


def test_a_killed_borrower_gives_the_services_back(tmp_path: Path) -> None:
    code = ("import asyncio, sys, time\n"
            "from pathlib import Path\n"
            "from racker.adapters.handover import borrowed\n"
            "async def main():\n"
            "    async with borrowed(Path(sys.argv[1])) as lent:\n"
            "        print('lent' if lent else 'none', flush=True)\n"
            "        time.sleep(600)\n"
            "asyncio.run(main())\n")

    async def main() -> list[str]:
        h = Handover(socket_path(tmp_path))
        await h.start()
        stop, log = asyncio.Event(), list[str]()
        task = asyncio.create_task(_serve_once(h, stop, log))
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(tmp_path),
                                                    stdout=subprocess.PIPE)
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)) == b"lent\n"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        for _ in range(500):
            if log[-1] == "up":
                break
            await asyncio.sleep(0.01)
        stop.set()
        await task
        await h.close()
        return log

    assert asyncio.run(main())[:4] == ["up", "lent", "back", "up"]


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    import socket

    path = socket_path(tmp_path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens: a serve that died

    async def main() -> None:
        async with borrowed(tmp_path) as lent:
            assert lent is False
        h = Handover(path)
        await h.start()
        await h.close()

    asyncio.run(main())
