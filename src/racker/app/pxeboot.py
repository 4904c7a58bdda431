"""Use case: `racker pxe-boot MAC DOMAIN`, what Terraform/lokoctl run as `pxe_commands`.

Find the node's BMC, turn the boot-flag timer off, power off, set boot device PXE, power on;
each step is retried until it works or 60 s have passed, as the reference's script did. Power on
comes last: once the node boots, its installer does its own IPMI set-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from racker.adapters.fs.store import Store
from racker.core.events import EventKind
from racker.core.nodetrust import OPENS_STAGE
from racker.engine.control import Control as Control  # re-exported: the type front ends pass
from racker.errors import BmcError, InputError, RackerError, Where
from racker.model import ClusterPlan, PlannedNode
from racker.paths import Paths

RETRY_SEC = 60.0


OpenControl = Callable[[Paths, ClusterPlan], Control]
"""Opens the BMC control for a plan (the composition root's `control`, a fake in tests)."""


def find_node(plan: ClusterPlan, mac: str) -> PlannedNode:
    """The planned node of `mac` (its primary, BMC or secondary MAC)."""
    for n in plan.nodes:
        if mac in n.node.macs:
            return n
    if any(mac in n.macs for n in plan.excluded):
        raise InputError(f"{mac} is excluded from the configuration",
                         hint=f"add it back first with 'racker node include {mac}'")
    raise InputError(f"{mac} is not the MAC address of a node in the configuration",
                     where=Where(file=str(plan.inventory.path)),
                     hint="give the node's primary MAC address from nodes.csv")


def open_install_window(store: Store, node: PlannedNode) -> None:
    """Record that racker is about to PXE-boot `node`: the boot server (maybe another process,
    e.g. a bootstrap whose lokoctl runs `racker pxe-boot`) then serves its installer."""
    store.add(node.mac, EventKind.STAGE, stage=OPENS_STAGE, detail={"by": "racker pxe-boot"})


async def pxe_boot(control: Control, node: PlannedNode, domain: str, *,
                   retry_sec: float = RETRY_SEC, interval: float = 1.0,
                   clock: Callable[[], float] = time.monotonic,
                   say: Callable[[str], None] = lambda _t: None,
                   opening: Callable[[PlannedNode], None] = lambda _n: None) -> None:
    """Force a PXE boot of `node`, each step retried until `retry_sec` have passed.

    `opening` is called once before the node is powered on (`open_install_window`)."""
    deadline = clock() + retry_sec
    steps: list[tuple[str, Callable[[PlannedNode], Awaitable[object]]]] = [
        ("finding the BMC", control.check_bmc),
        ("timer off, power off, boot device PXE", control.prepare_pxe),
        ("power on", control.power_on),
    ]
    last = ""
    for what, step in steps:
        if step is steps[-1][1]:  # power on comes last
            opening(node)
        while True:
            left = deadline - clock()
            if left <= 0:
                raise BmcError(f"failed forcing a PXE boot for {domain} installer: {what}: "
                               f"{last or 'no answer'}", where=Where(node=node.mac),
                               hint=f"check the BMC with 'ipmi {node.mac} diag'")
            try:
                await asyncio.wait_for(step(node), left)
            except (RackerError, TimeoutError) as e:
                last = e.message if isinstance(e, RackerError) else "timed out"
                await asyncio.sleep(min(interval, max(0.0, deadline - clock())))
                continue
            say(f"✓ {what}")
            break
