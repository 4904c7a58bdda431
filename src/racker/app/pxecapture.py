"""Use case: the consoles of the PXE boots that no provisioning run follows, recorded by the
racker that runs the services.

`racker pxe-boot` (lokoctl's `pxe_commands`, or an operator) and the dashboard's PXE boot and
reprovision actions power a node on into its installer and end. The racker process that runs
DHCP and the boot server meanwhile (`racker serve`, or the bootstrap or apply that borrowed them,
e.g. the Lokomotive bring-up whose lokoctl calls pxe-boot) follows the event store and records
the console of each such boot (`racker.core.pxewatch`: from its `stage pxe` event until the node
reports booted or fails, or a bound passes). One process at a time does so: it holds the
recorder lock, which is also how pxe-boot tells whether its boot is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field

from racker.adapters.fs.store import Store
from racker.app.consolecapture import ConsoleCapture
from racker.core.pxewatch import KINDS, Watched, due, fold
from racker.engine.stages import Stage, Timeouts
from racker.errors import RackerError
from racker.model import ClusterPlan, PlannedNode

RecorderLock = Callable[[str], AbstractContextManager[None]]
"""Held while this process records those consoles, named after its command (built by the
composition root); RackerError at once when another process holds it."""

POLL = 0.25
"""Seconds between two looks at the event store (a node's firmware prints nothing that
matters in its first second)."""

ENDED = "serial console no longer recorded: the PXE boot it followed is over"


def recording_bound(timeouts: Timeouts) -> float:
    """How long a PXE boot's console is recorded at most: the engine's stage timeouts from
    power-on to the first boot's report."""
    return sum(timeouts.of(s) for s in Stage if s is not Stage.BMC)


@dataclass
class PxeBootConsoles:
    """Follows the store and records the consoles of the PXE boots of `nodes`."""

    nodes: Mapping[str, PlannedNode]
    store: Store
    capture: ConsoleCapture
    bound: float
    clock: Callable[[], float] = time.time
    _watched: dict[str, Watched] = field(default_factory=dict)
    _recording: set[str] = field(default_factory=set)
    _last_id: int = 0

    def catch_up(self) -> None:
        """The boots started before this process took over, still within the bound (a
        bootstrap that ended while a node installs hands the recording back to serve)."""
        since = self.clock() - self.bound
        events = self.store.events(kinds=KINDS)
        self._last_id = events[-1].id if events else 0
        self._watched = fold({}, (e for e in events if e.ts >= since), bound=self.bound)

    async def step(self) -> None:
        """Read the new events; start and end recordings as they say."""
        new = self.store.events(since_id=self._last_id, kinds=KINDS)
        if new:
            self._last_id = new[-1].id
            self._watched = fold(self._watched, new, bound=self.bound)
        live, over = due(self._watched, self.clock())
        for mac in over:
            del self._watched[mac]
        start = [self.nodes[m] for m in sorted(live - self._recording) if m in self.nodes]
        end = [self.nodes[m] for m in sorted(self._recording - live)]
        if end:
            self._recording -= {n.mac for n in end}
            await self.capture.stop(end, note=ENDED)
        if start:
            self._recording |= {n.mac for n in start}
            self.capture.start(start)

    async def follow(self, poll: float = POLL) -> None:
        """`step` every `poll` seconds until cancelled; then every recording ends."""
        try:
            self.catch_up()
            while True:
                await self.step()
                await asyncio.sleep(poll)
        finally:
            await self.capture.stop()


@contextlib.asynccontextmanager
async def recording_pxe_boots(services: AbstractAsyncContextManager[None], plan: ClusterPlan,
                              store: Store, capture: ConsoleCapture, timeout_scale: float,
                              lock: RecorderLock, command: str) -> AsyncIterator[None]:
    """`services` up, and while they run, the consoles of `plan`'s PXE boots recorded by this
    process through `capture` (unless another process records them already: one recorder per
    rack). The bound scales with the stage timeouts (RACKER_TIMEOUT_SCALE)."""
    bound = recording_bound(Timeouts.scaled(timeout_scale))
    consoles = PxeBootConsoles({n.mac: n for n in plan.nodes}, store, capture, bound)
    async with services:
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(lock(command))
            except RackerError:
                yield  # e.g. serve lent its services, but not its lock: it has none then
                return
            task = asyncio.create_task(consoles.follow(), name="pxe-boot-consoles")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
