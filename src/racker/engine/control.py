"""What the engine needs from the outside world, as small protocols (fakes live in tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from racker.model import PlannedNode


class Control(Protocol):
    """The engine's hands on a node's BMC."""

    async def check_bmc(self, node: PlannedNode) -> str:
        """Find the BMC and open a session; return a short description (e.g. its IP).

        Raises BmcError naming the node and the BMC when it cannot be reached.
        """
        ...

    async def system_guid(self, node: PlannedNode) -> bytes | None:
        """The 16 bytes of the BMC's system GUID over its open session; None when the BMC
        cannot tell (the cabling check then skips the pairing)."""
        ...

    async def prepare_pxe(self, node: PlannedNode) -> None:
        """Boot-flag timer off, power off, boot device PXE (persistent, read back)."""
        ...

    async def power_on(self, node: PlannedNode) -> None:
        """Power the node on."""
        ...

    async def set_disk_boot(self, node: PlannedNode) -> None:
        """Boot device disk, persistent, read back (before the installer reboots)."""
        ...

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        """Boot device disk again, only over a session that is already open (never waits to
        find a BMC: a node that reports a boot must not hold racker up)."""
        ...

    async def close(self) -> None:
        """Log out of every BMC session."""
        ...


class Watch(Protocol):
    """What watches the nodes while they are provisioned (their serial consoles): started for
    the nodes a run installs, stopped when the run ends; it tells what the node last showed."""

    def start(self, nodes: Sequence[PlannedNode]) -> None:
        """Begin watching `nodes` (in the background; never waits for a BMC)."""
        ...

    async def ready(self, node: PlannedNode) -> None:
        """Wait (bounded) until `node` is watched, so that its power-on is seen from the
        first line; returns at once when it cannot be watched."""
        ...

    async def stop(self) -> None:
        """Stop watching every node."""
        ...

    def last_lines(self, node: PlannedNode, n: int) -> list[str]:
        """The node's last `n` console lines, oldest first (none when nothing was seen)."""
        ...

    def stopped(self, node: PlannedNode) -> asyncio.Future[str]:
        """Resolves with the first console line from now on that says the node stopped for
        good (an emergency shell, a kernel panic); never when its console is not watched.
        The caller cancels it when it no longer waits."""
        ...


class NoWatch:
    """No watching (tests, and runs without console capture)."""

    def start(self, nodes: Sequence[PlannedNode]) -> None:
        """Nothing to start."""

    async def ready(self, node: PlannedNode) -> None:
        """Nothing to wait for."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def last_lines(self, node: PlannedNode, n: int) -> list[str]:
        """Nothing seen."""
        return []

    def stopped(self, node: PlannedNode) -> asyncio.Future[str]:
        """Never: nothing is seen."""
        return asyncio.get_running_loop().create_future()
