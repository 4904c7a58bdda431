"""`racker ignition NODE_NAME`: print a node's final Ignition JSON from a configuration folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from racker.app.ignition import node_config
from racker.cli.parsing import Parser
from racker.paths import Paths

DESCRIPTION = """\
Print the final Ignition config (spec 3.3.0, JSON) of a node: the Container Linux Config
snippets of the node translated and merged in order, as the node receives them. Run it inside a
configuration folder (~/flatcar-container-linux or ~/lokomotive) or name one with -C DIR.
Warnings go to stderr."""


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="racker ignition", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("node", metavar="NODE_NAME",
                   help="the node's name (node-0, lokomotive-worker-0.k8s.localdomain or its "
                        "short form lokomotive-worker-0) or its primary MAC")
    p.add_argument("-C", dest="folder", metavar="DIR", type=Path,
                   help="the configuration folder (default: the current folder, else the one "
                        "in your home folder)")
    p.add_argument("-compact", "--compact", action="store_true",
                   help="print the JSON on one line")
    return p


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker ignition`."""
    parser = _parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:  # argparse already printed usage or help
        return int(e.code or 0)
    config = node_config(Paths.from_env(), args.folder, args.node, pretty=not args.compact)
    for w in config.warnings:
        print(f"racker ignition: {w}", file=sys.stderr)
    if config.lokomotive:
        print("racker ignition: note: lokoctl adds its own controller/worker configuration to "
              "these snippets when it applies the cluster", file=sys.stderr)
    sys.stdout.write(config.json)
    if args.compact:
        sys.stdout.write("\n")
    return 0
