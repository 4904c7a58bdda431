"""`racker status [--full] [--json]`: the whole rack in one table."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi.driver import IpmiDriver, IpmiSettings
from racker.adapters.bmc.locate import Locator
from racker.adapters.fs.credentials import load_credentials
from racker.app.lokomotive import cluster_nodes, joined
from racker.app.status import gather, render_table, to_json
from racker.core.inventory import load_inventory
from racker.errors import RackerError
from racker.model import ClusterPlan, PlannedNode
from racker.paths import Paths

STATUS_RETRY_SEC = 5.0
"""How long status looks for a BMC that is not in the leases: short, the table must come fast."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="racker status",
        description="Show, for every node of nodes.csv: whether its BMC answers, its power "
                    "state, whether the OS is provisioned, whether it joined the cluster, and "
                    "its host names. BMCs are queried at the same time.")
    p.add_argument("-full", "--full", action="store_true",
                   help="also print every node's diagnosis (as 'ipmi NODE diag')")
    p.add_argument("-json", "--json", action="store_true", help="print JSON for scripts")
    return p


async def _status(paths: Paths, as_json: bool) -> int:
    credentials = load_credentials(paths)
    # one locator for the rack: the BMCs looked up at once share its scans
    locator = Locator(paths, load_inventory(paths).pxe_interface)
    async with IpmiDriver(IpmiSettings(timeout=3.0, retries=1)) as driver:

        async def power(node: PlannedNode) -> str:
            found = await asyncio.to_thread(locator.locate_bmc, node.node.bmc_mac,
                                            STATUS_RETRY_SEC, planned_ip=node.bmc_ip)
            bmc = await driver.open(BmcTarget(node.name, found.ip, credentials.user,
                                              credentials.password))
            return (await bmc.power_status()).value

        def members(plan: ClusterPlan) -> set[str] | None:
            names = cluster_nodes(paths.lokomotive_dir)
            return None if names is None else joined(plan, names)

        status = await gather(paths, power, members)
    if as_json:
        print(json.dumps(to_json(status), indent=2, ensure_ascii=False))
    else:
        print("\n".join(render_table(status)))
    return 0


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker status`."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    code = asyncio.run(_status(paths, args.json))
    if args.full and not args.json:
        from racker.cli.ipmi import run as ipmi_run

        print()
        sys.stdout.flush()
        try:
            code = max(code, ipmi_run(["--all", "diag"]))
        except RackerError as e:
            print(f"racker status: {e}", file=sys.stderr)
            code = 1
    return code
