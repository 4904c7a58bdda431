"""What every route of the management listener shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from racker.app.actions import Action, NodeActions
from racker.app.rackview import RackView
from racker.web.auth import Policy


@dataclass
class Web:
    """The rack view, the auth policy, the metrics page and the node actions of one listener."""

    view: RackView
    policy: Policy
    metrics: Callable[[], tuple[bytes, str]]
    actions: NodeActions
    diagnose: Callable[[str], tuple[str, bool]] = lambda _mac: ("", False)
    """A node's live diagnosis by primary MAC (blocking: the composition root's BMC calls)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the listener stops: event streams end."""
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Actions still at work (PXE boots); cancelled when the listener stops."""

    async def act(self, action: Action, mac: str) -> tuple[list[str], bool]:
        """Run `action` on the node of `mac`; its lines, and whether work goes on."""
        started = await self.actions.run(action, mac)
        self.view.forget_plan()
        if started.work is None:
            return started.lines, False
        task = asyncio.create_task(started.work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return started.lines, True

    async def diagnosis(self, raw_mac: str) -> dict[str, Any]:
        """The node's live diagnosis as `racker status --json --full` gives it, in a thread
        (the BMC calls block); NotFound/InputError for a MAC of no node."""
        mac = self.view.primary(raw_mac)
        text, ok = await asyncio.to_thread(self.diagnose, mac)
        return {"mac": mac, "ok": ok, "text": text}

    async def stop(self) -> None:
        """End the event streams and the actions still at work."""
        self.stopping.set()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
