"""The real boot server (uvicorn with racker's sendfile protocol, the real store and catalog) on
a loopback port of its own, in a thread with its own event loop, for the integration tests that
talk HTTP to it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from racker.adapters.fs.store import Store
from racker.adapters.http.bootserver import BootServerConfig, create_app
from racker.adapters.http.serve import Limits, listen, server
from racker.core.bootnode import BootNode, StaticCatalog


@dataclass(frozen=True)
class BootThread:
    """A running boot server: its port, its uvicorn server and the thread that runs it."""

    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def boot_server_thread(assets: Path, db: Path, nodes: Sequence[BootNode], *,
                       limits: Limits | None = None, wait: float = 15.0) -> Iterator[BootThread]:
    """The boot server serving `assets` and `nodes`, recording into the store at `db`, until
    the block ends; it gets `wait` seconds to start and again to stop (the caller checks
    `thread.is_alive()` where stopping in time is what it tests).

    The port is bound here before the server starts (no free port to race for), and the store
    is opened in the server's own thread, the one that uses it."""
    sock = listen("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, uvicorn.Server] = {}

    def run() -> None:
        async def main() -> None:
            store = Store(db)
            app = create_app(BootServerConfig(f"http://127.0.0.1:{port}", assets),
                             StaticCatalog(list(nodes)), store)
            s = server(app, "127.0.0.1", port, limits=limits)
            holder["server"] = s
            task = asyncio.create_task(s.serve(sockets=[sock]))
            while not s.started:
                await asyncio.sleep(0.01)
            ready.set()
            await task
            store.close()
        asyncio.run(main())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        assert ready.wait(wait), f"the boot server did not start within {wait:.0f} s"
        yield BootThread(port, holder["server"], t)
    finally:
        if "server" in holder:
            holder["server"].should_exit = True
        t.join(wait)
        sock.close()
