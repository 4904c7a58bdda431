"""`racker pxe-boot MAC DOMAIN`: force a PXE boot (the `pxe_commands` of the configuration)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from racker.app.configuration.loaded import find_folder, load_configured
from racker.app.pxeboot import RETRY_SEC, Control, OpenControl, find_node, pxe_boot
from racker.cli.parsing import Parser
from racker.core.macs import parse_mac
from racker.model import ClusterPlan, PlannedNode
from racker.paths import Paths

DESCRIPTION = """\
Force a PXE boot of a node, which reinstalls it: find its BMC, turn off the timer that clears
the boot flags, power off, set the boot device to PXE (persistent), power on. Each step is
retried for up to 60 s. Terraform and lokoctl run this as the configuration's pxe_commands.
While racker serve (or a bootstrap or apply) runs, it records the node's serial console from
power-on until the node reports booted or fails: see 'racker node console-log MAC -f'."""

def _open_control(paths: Paths, plan: ClusterPlan) -> Control:
    from racker.compose.rack import control  # the BMC stack loads only when it is needed
    from racker.settings import Settings

    # the BMC search must end within the command's own 60 s
    return control(paths, plan, Settings.from_env(), retry_sec=min(RETRY_SEC, 50.0))


async def _open_window(paths: Paths, node: PlannedNode) -> None:
    from racker.compose.rack import open_install_window

    await open_install_window(paths, node, lambda text: print(text, flush=True))


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="racker pxe-boot", description=DESCRIPTION)
    p.add_argument("mac", metavar="MAC",
                   help="any of the node's MAC addresses from nodes.csv, or its name")
    p.add_argument("domain", metavar="DOMAIN", help="the node's name (used in messages)")
    p.add_argument("-C", dest="folder", metavar="DIR", type=Path,
                   help="the configuration folder (default: the current one, else the one in "
                        "your home folder)")
    return p


def main(argv: Sequence[str], *, paths: Paths, open_ctl: OpenControl = _open_control,
         retry_sec: float = RETRY_SEC,
         open_window: Callable[[Paths, PlannedNode], Awaitable[None]] = _open_window) -> int:
    """`racker pxe-boot` with the outside world passed in."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    c = load_configured(paths, find_folder(paths, args.folder))
    node = find_node(c.plan, parse_mac(args.mac) or c.node(args.mac).primary_mac)
    control = open_ctl(paths, c.plan)

    async def go() -> None:
        try:
            await pxe_boot(control, node, args.domain, retry_sec=retry_sec,
                           say=lambda t: print(f"{node.mac}: {t}", flush=True),
                           opening=lambda n: open_window(paths, n))
        finally:
            await control.close()

    asyncio.run(go())
    print(f"✓ {args.domain} ({node.mac}) is booting from the network")
    return 0


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker pxe-boot`."""
    return main(argv, paths=Paths.from_env())
