"""`racker factory discover`: propose nodes.csv for a rack with credentials but no nodes.csv."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from racker.app.discover import DiscoverOptions
from racker.cli.parsing import Parser
from racker.paths import Paths
from racker.settings import Settings


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="racker factory discover",
        description="Find the rack's servers without a nodes.csv: serve DHCP on the rack "
                    "network, open a session on every BMC that leases an address (with "
                    "ipmi_user and ipmi_password) and read its system GUID, PXE boot every "
                    "server into a configuration that reports its hardware and powers off, "
                    "pair servers and BMCs by UUID, and write a proposed nodes.csv to review.")
    p.add_argument("-interface", "--interface", required=True, metavar="IFACE",
                   help="this machine's interface on the rack-internal network (the "
                        "management row's secondary MAC), e.g. eth1")
    p.add_argument("-management-bmc", "--management-bmc", metavar="MAC",
                   help="this machine's BMC MAC, when its BMC is not on the rack network "
                        "(otherwise found by this machine's SMBIOS UUID)")
    p.add_argument("-subnet-prefix", "--subnet-prefix", default="172.24.213", metavar="A.B.C",
                   help="the rack network's /24 (default 172.24.213)")
    p.add_argument("-force", "--force", action="store_true",
                   help="replace an existing nodes.csv")
    return p


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker factory discover`."""
    try:
        a = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    from racker.compose.rack import discovery  # the BMC stack loads only when it is needed

    settings = Settings.from_env()
    scale = settings.timeout_scale
    opts = DiscoverOptions(a.interface, force=a.force, management_bmc=a.management_bmc,
                           subnet_prefix=a.subnet_prefix, settle=max(2.0, 5.0 * min(scale, 1)),
                           bmc_wait=max(30.0, 120.0 * scale), boot_wait=max(60.0, 900 * scale))
    return asyncio.run(discovery(Paths.from_env(), sys.stdout, settings).run(opts))
