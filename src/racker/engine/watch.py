"""Follows the event store and wakes the node tasks waiting for an event.

The boot server, the dnsmasq lease hook and the engine may run in different processes; the
store is where they meet. One poller reads new events and resolves the matching waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from racker.adapters.fs.store import Store
from racker.core.events import Event

Match = Callable[[Event], bool]


@dataclass
class _Waiter:
    mac: str
    match: Match
    future: asyncio.Future[Event]


class EventWatcher:
    """Polls `store` every `interval` seconds for events newer than the last one seen."""

    def __init__(self, store: Store, interval: float = 0.2) -> None:
        self._store = store
        self._interval = interval
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        existing = store.events()
        self.last_id = existing[-1].id if existing else 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            self.dispatch()
            await asyncio.sleep(self._interval)

    def dispatch(self) -> None:
        """Hand every new event to the waiters it matches."""
        for event in self._store.events(since_id=self.last_id):
            self.last_id = event.id
            for w in list(self._waiters):
                if w.mac == event.mac and not w.future.done() and w.match(event):
                    w.future.set_result(event)
        self._waiters = [w for w in self._waiters if not w.future.done()]

    def expect(self, mac: str, match: Match) -> asyncio.Future[Event]:
        """A future for the first event of node `mac` from now on that `match` accepts.

        Register every expectation before the action that causes it, so no event is missed.
        """
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append(_Waiter(mac, match, fut))
        return fut
