"""`racker node exclude|include|reprovision|replace`: change one node of a configured rack."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from racker import nodeops
from racker.applied import AppliedHashes
from racker.apply import describe, plan_apply
from racker.cli.cmd_apply import MakeExecutor, real_executor
from racker.configured import find_folder, load_configured
from racker.engine.run import FlagFiles
from racker.errors import InputError
from racker.paths import Paths
from racker.render import asset_dir

DESCRIPTION = """\
Change one node of the configured rack (run it in the configuration folder, or pass -C DIR):
  exclude MAC       take the node out of the configuration arrays, dnsmasq and hosts entries
                    (its cl/*.yaml files are kept to add it back)
  include MAC       add an excluded node back, at the end of the arrays
  reprovision MAC   reinstall the node via PXE now (removes its flag file)
  replace OLD_MAC NEW_PRIMARY NEW_BMC [NEW_SECONDARY]
                    the node's server was swapped: nodes.csv and every file get the new MAC
                    addresses, the node keeps its name and addresses; then run 'racker apply'
MAC is any of the node's MAC addresses from nodes.csv."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="racker node", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-C", dest="folder", metavar="DIR", type=Path,
                   help="the configuration folder (default: the current one, else the one in "
                        "your home folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in ("exclude", "include", "reprovision"):
        s = sub.add_parser(name, help=f"{name} a node")
        s.add_argument("mac", metavar="MAC")
    r = sub.add_parser("replace", help="the node's server was replaced")
    r.add_argument("old", metavar="OLD_MAC")
    r.add_argument("primary", metavar="NEW_PRIMARY")
    r.add_argument("bmc", metavar="NEW_BMC")
    r.add_argument("secondary", metavar="NEW_SECONDARY", nargs="?")
    return p


def reprovision(paths: Paths, folder: Path, mac: str, make_executor: MakeExecutor) -> int:
    """Remove the node's flag file and reinstall it through apply's executor."""
    c = load_configured(paths, folder)
    node = c.node(mac)
    if not c.planned(node.primary_mac):
        raise InputError(f"{node.primary_mac} is excluded from the configuration",
                         hint=f"add it back first with 'racker node include {node.primary_mac}'")
    FlagFiles(asset_dir(paths, c.options.provision)).path(node.primary_mac).unlink(
        missing_ok=True)
    AppliedHashes(paths.state_dir).forget(node.primary_mac)
    ap = plan_apply(paths, folder, only={node.primary_mac})
    for line in describe(ap):
        print(line)
    sys.stdout.flush()
    return asyncio.run(make_executor(paths, ap, sys.stdout).run(ap))


def main(argv: Sequence[str], *, paths: Paths, make_executor: MakeExecutor = real_executor
         ) -> int:
    """`racker node` with the outside world passed in."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    folder = find_folder(paths, args.folder)
    if args.command == "reprovision":
        return reprovision(paths, folder, args.mac, make_executor)
    if args.command == "exclude":
        out = nodeops.exclude(paths, folder, args.mac)
    elif args.command == "include":
        out = nodeops.include(paths, folder, args.mac)
    else:
        out = nodeops.replace(paths, folder, args.old, args.primary, args.bmc, args.secondary)
    for line in out.lines:
        print(line)
    return 0


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker node`."""
    return main(argv, paths=Paths.from_env())
