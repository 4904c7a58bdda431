"""`racker node SUBCOMMAND`: operations on one node.

exclude, include, reprovision and replace change the configured rack (racker.app.nodeops, and
racker.app.apply for the reinstall); timeline shows a node's events, show its hardware,
console-log its console.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from racker.app import nodeops
from racker.app.apply import describe, plan_apply
from racker.app.configuration.loaded import find_folder
from racker.cli import registry
from racker.cli.cmd_apply import MakeExecutor, real_executor
from racker.cli.parsing import Parser
from racker.cli.registry import Command
from racker.paths import Paths

SUBCOMMANDS: tuple[Command, ...] = (
    Command("exclude", "Take a node out of the configuration (its cl/*.yaml kept to add it "
            "back)", "racker.cli.cmd_node:run_exclude"),
    Command("include", "Add an excluded node back, at the end of the arrays",
            "racker.cli.cmd_node:run_include"),
    Command("reprovision", "Reinstall a node via PXE now (its flag file goes once the "
            "reinstall starts)",
            "racker.cli.cmd_node:run_reprovision"),
    Command("replace", "A node's server was swapped: new MACs everywhere, same name and "
            "addresses", "racker.cli.cmd_node:run_replace"),
    Command("timeline", "Show what happened to a node, with times",
            "racker.cli.node_timeline:run"),
    Command("console-log", "Print a node's serial console as racker recorded it",
            "racker.cli.node_console:run"),
    Command("show", "Show a node's MACs and the hardware inventory it reported",
            "racker.cli.node_show:run"),
)

_MAC_HELP = ("any of the node's MAC addresses from nodes.csv (e.g. aa:bb:cc:dd:ee:ff), or its "
             "name (node-1, lokomotive-worker-0)")


def usage() -> str:
    return registry.usage("racker node", SUBCOMMANDS, "Subcommands", "SUBCOMMAND")


def _parser(name: str) -> argparse.ArgumentParser:
    summary = next(c.summary for c in SUBCOMMANDS if c.name == name)
    p = Parser(prog=f"racker node {name}", description=summary + ".")
    p.add_argument("-C", dest="folder", metavar="DIR", type=Path,
                   help="the configuration folder (default: the current one, else the one in "
                        "your home folder)")
    if name == "replace":
        p.add_argument("old", metavar="OLD_MAC", help=_MAC_HELP + " (the old server)")
        p.add_argument("primary", metavar="NEW_PRIMARY", help="the new server's primary MAC")
        p.add_argument("bmc", metavar="NEW_BMC", help="the new server's BMC MAC")
        p.add_argument("secondary", metavar="NEW_SECONDARY", nargs="?",
                       help="the new server's secondary MAC (needed when the old one had one "
                            "with a static public address)")
    else:
        p.add_argument("mac", metavar="NODE", help=_MAC_HELP)
    if name == "replace":
        p.epilog = "Then run 'racker apply' to install the new server."
    return p


def reprovision(paths: Paths, folder: Path, mac: str, make_executor: MakeExecutor) -> int:
    """Reinstall the node through apply's executor (its flag file goes once that starts)."""
    primary = nodeops.reprovisionable(paths, folder, mac)
    ap = plan_apply(paths, folder, only={primary}, reinstall={primary})
    for line in describe(ap):
        print(line)
    sys.stdout.flush()
    return asyncio.run(make_executor(paths, ap, sys.stdout).run(ap))


def node_command(name: str, argv: Sequence[str], *, paths: Paths,
                 make_executor: MakeExecutor = real_executor) -> int:
    """`racker node exclude|include|reprovision|replace` with the outside world passed in."""
    try:
        args = _parser(name).parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    folder = find_folder(paths, args.folder)
    if name == "reprovision":
        return reprovision(paths, folder, args.mac, make_executor)
    if name == "exclude":
        out = nodeops.exclude(paths, folder, args.mac)
    elif name == "include":
        out = nodeops.include(paths, folder, args.mac)
    else:
        out = nodeops.replace(paths, folder, args.old, args.primary, args.bmc, args.secondary)
    for line in out.lines:
        print(line)
    return 0


def run_exclude(argv: Sequence[str]) -> int:
    """`racker node exclude`"""
    return node_command("exclude", argv, paths=Paths.from_env())


def run_include(argv: Sequence[str]) -> int:
    """`racker node include`"""
    return node_command("include", argv, paths=Paths.from_env())


def run_reprovision(argv: Sequence[str]) -> int:
    """`racker node reprovision`"""
    return node_command("reprovision", argv, paths=Paths.from_env())


def run_replace(argv: Sequence[str]) -> int:
    """`racker node replace`"""
    return node_command("replace", argv, paths=Paths.from_env())


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker node`."""
    return registry.dispatch("racker node", SUBCOMMANDS, argv, heading="Subcommands",
                             noun="SUBCOMMAND")
