"""`racker api token [--rotate]`: the management API's token."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from racker.cli import registry
from racker.cli.parsing import Parser
from racker.cli.registry import Command
from racker.compose.manage import api_token
from racker.paths import Paths


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="racker api token",
        description="Print the token of racker's management API and dashboard (created on "
                    "first use in the state folder, mode 0600). Scripts send it as "
                    "'Authorization: Bearer TOKEN'; the dashboard's login form takes it. It is "
                    "needed for every action, and for everything when the listener is not on "
                    "loopback (RACKER_MANAGE_BIND).")
    p.add_argument("-rotate", "--rotate", action="store_true",
                   help="replace it by a new one: the old one and every dashboard session stop "
                        "working at once")
    return p


SUBCOMMANDS: tuple[Command, ...] = (
    Command("token", "Print (or with --rotate replace) the management API's token",
            "racker.cli.cmd_api:run_token"),
)


def run_token(argv: Sequence[str]) -> int:
    """`racker api token`"""
    try:
        ns = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    print(api_token(Paths.from_env(), rotate=ns.rotate))
    return 0


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker api`."""
    return registry.dispatch("racker api", SUBCOMMANDS, argv, heading="Subcommands",
                             noun="SUBCOMMAND")
