"""What every route of the management listener shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

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

    async def stop(self) -> None:
        """End the event streams and the actions still at work."""
        self.stopping.set()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
