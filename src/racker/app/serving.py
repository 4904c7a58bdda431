"""Use case: `racker serve`, the long-running racker that other commands talk to.

Serve runs dnsmasq and the boot server for the configured rack. When another racker command
needs them (bootstrap, apply, node reprovision, pxe-boot, replace), it borrows them through
serve's management socket (racker.adapters.handover): serve stops its services, the command
runs its own with the configuration it wrote, and when the command ends serve reads the
configuration again and serves it. A `reload` restarts the services with the configuration on
disk. Nothing is refused and nothing is left half done: the borrower owns the services for
exactly as long as it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from racker.app.configuration.create import ConfigureResult
from racker.app.provision import Provisioner
from racker.app.resume import configured_rack
from racker.paths import Paths


class Lender(Protocol):
    """Serve's side of the management socket (racker.adapters.handover.Handover)."""

    requested: asyncio.Event

    @property
    def borrowing(self) -> bool:
        """True when the pending request is a borrow (not a reload)."""
        ...

    async def start(self) -> None:
        """Listen for other racker commands."""
        ...

    async def close(self) -> None:
        """Stop listening."""
        ...

    async def lend(self, stop: asyncio.Event) -> None:
        """Services stopped: let the borrower run; return when it is done (or on `stop`)."""
        ...

    def reloaded(self) -> None:
        """Services restarted with the configuration on disk: tell the client."""
        ...


MakeProvisioner = Callable[[ConfigureResult], Provisioner]
"""The configured rack → the provisioner serving it (built by the composition root)."""


async def serve(paths: Paths, lender: Lender, make: MakeProvisioner, stop: asyncio.Event,
                say: Callable[[str], None]) -> int:
    """Serve the configured rack until `stop`, lending the services on request."""
    await lender.start()
    reloading = False
    try:
        while not stop.is_set():
            configured = configured_rack(paths)  # again each round: a borrower may change it

            async def until() -> None:
                await _first(stop, lender.requested)

            answer = lender.reloaded if reloading else (lambda: None)
            await make(configured).serve(configured, until, on_up=answer)
            if stop.is_set():
                break
            reloading = not lender.borrowing
            lender.requested.clear()
            if reloading:
                say("Reloading the configuration.")
                continue
            say("Handed DHCP and the boot server to another racker command; waiting for it "
                "to finish.")
            await lender.lend(stop)
            if not stop.is_set():
                say("Taking DHCP and the boot server back.")
    finally:
        await lender.close()
    say("Stopped.")
    return 0


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
