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
from racker.app.consolecapture import READY_WAIT
from racker.core.events import Event, EventKind
from racker.core.nodetrust import OPENS_STAGE
from racker.core.pxewatch import BY_PXE_BOOT, console_answered
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


def open_install_window(store: Store, node: PlannedNode) -> Event:
    """Record that racker is about to PXE-boot `node`: the boot server (maybe another process,
    e.g. a bootstrap whose lokoctl runs `racker pxe-boot`) then serves its installer."""
    return store.add(node.mac, EventKind.STAGE, stage=OPENS_STAGE, detail={"by": BY_PXE_BOOT})


def recorder_name(holder: str) -> str:
    """`racker serve (pid 42)` of the recorder lock's `pid 42: racker serve (started …)`."""
    pid, sep, rest = holder.partition(": ")
    command = rest.rsplit(" (started ", 1)[0]
    return f"{command} ({pid})" if sep and pid.startswith("pid ") and command else holder


def recording_line(node: PlannedNode, holder: str | None) -> str:
    """What `racker pxe-boot` says of the console of the boot it starts (one line)."""
    if holder is None:
        return (f"{node.mac}: nothing records the serial console of this boot (no racker serve, "
                f"bootstrap or apply records consoles now); watch it with 'ipmi {node.mac}', or "
                f"with 'racker node console-log {node.mac} -f' while 'racker serve' runs")
    return (f"{node.mac}: {recorder_name(holder)} records the serial console of this boot until "
            f"the node reports booted; follow it with 'racker node console-log {node.mac} -f'")


async def open_window_recorded(store: Store, node: PlannedNode, holder: str | None,
                               say: Callable[[str], None], *, held: Callable[[], bool],
                               wait: float = READY_WAIT, interval: float = 0.1,
                               clock: Callable[[], float] = time.monotonic) -> None:
    """Open the node's install window and say whether a racker (`holder`) records its console;
    when one does, wait (at most `wait` seconds) until its recording answers, so that the
    console is recorded from power-on (as the engine waits for its own capture). `held`: the
    node's console is recorded already (an earlier boot's recording goes on)."""
    opened = open_install_window(store, node)
    say(recording_line(node, holder))
    if holder is None:
        return
    deadline = clock() + wait
    while clock() < deadline and not held():
        if console_answered(store.events(node.mac, since_id=opened.id), node.mac, opened.id):
            return
        await asyncio.sleep(interval)


async def pxe_boot(control: Control, node: PlannedNode, domain: str, *,
                   retry_sec: float = RETRY_SEC, interval: float = 1.0,
                   clock: Callable[[], float] = time.monotonic,
                   say: Callable[[str], None] = lambda _t: None,
                   opening: Callable[[PlannedNode], Awaitable[None]] | None = None) -> None:
    """Force a PXE boot of `node`, each step retried until `retry_sec` have passed.

    `opening` is awaited once before the node is powered on (`open_window_recorded`)."""
    deadline = clock() + retry_sec
    steps: list[tuple[str, Callable[[PlannedNode], Awaitable[object]]]] = [
        ("finding the BMC", control.check_bmc),
        ("timer off, power off, boot device PXE", control.prepare_pxe),
        ("power on", control.power_on),
    ]
    last = ""
    for what, step in steps:
        if step is steps[-1][1] and opening is not None:  # power on comes last
            await opening(node)
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
