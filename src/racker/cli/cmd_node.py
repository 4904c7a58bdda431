"""`racker node SUBCOMMAND`: operations on one node."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

Entry = Callable[[Sequence[str]], int]

SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("timeline", "Show what happened to a node, with times", "racker.cli.node_timeline:run"),
)


def usage() -> str:
    lines = ["Usage: racker node SUBCOMMAND [ARGS...]", "", "Subcommands:"]
    lines += [f"  {name:<12} {summary}" for name, summary, _ in SUBCOMMANDS]
    return "\n".join(lines)


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker node`."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    for name, _, target in SUBCOMMANDS:
        if argv[0] == name:
            module, _, func = target.partition(":")
            entry: Entry = getattr(importlib.import_module(module), func)
            return entry(argv[1:])
    print(f"racker node: unknown subcommand '{argv[0]}'\n\n{usage()}", file=sys.stderr)
    return 2
