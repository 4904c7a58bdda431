"""The management listener run for real (uvicorn on a free loopback port) in a thread of the
test, over a rack on disk."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from racker.paths import Paths
from racker.settings import Settings
from racker.web.listener import listening


@dataclass
class Listener:
    url: str
    said: list[str] = field(default_factory=list)


@contextmanager
def running_listener(paths: Paths, bind: str = "127.0.0.1") -> Iterator[Listener]:
    """The listener up on `bind` (a free port) until the block ends; errors at start raised."""
    settings = Settings(manage_bind=bind, manage_port=0)
    said: list[str] = []
    ready = threading.Event()
    box: dict[str, object] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with listening(paths, settings, said.append) as url:
                box["url"] = url
                ready.set()
                await stop.wait()
        except BaseException as e:
            box["error"] = e
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(30):
            raise AssertionError("the management listener did not start within 30 s")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        yield Listener(str(box["url"]), said)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
