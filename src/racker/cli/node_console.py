"""`racker node console-log NODE [--since RUN] [-f]`: the node's serial console as racker
recorded it while provisioning it (`<state>/console/<mac>.log`)."""

from __future__ import annotations

from collections.abc import Sequence

from racker.app.node_events import follow_console, node_console
from racker.cli.node_timeline import resolve_mac
from racker.cli.parsing import Parser
from racker.core.consolelines import format_line, parse_since
from racker.errors import InputError, Where
from racker.paths import Paths


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker node console-log`."""
    p = Parser(prog="racker node console-log",
               description="Print a node's serial console as racker recorded it during "
                           "bootstrap, apply, reprovision and pxe-boot (times in UTC).")
    p.add_argument("mac", metavar="NODE", help="any of the node's MAC addresses from "
                                               "nodes.csv, or its name")
    p.add_argument("--since", "-since", metavar="RUN",
                   help="only from this run on: its log folder's name (20261204-033832, as "
                        "the run's 'Logs:' line shows) or a local time (2026-12-04 03:38)")
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new lines as they are recorded (Ctrl-C ends)")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    since = None
    if args.since is not None:
        since = parse_since(args.since)
        if since is None:
            raise InputError(f"--since '{args.since}' is neither a run nor a time",
                             where=Where(flag="--since"),
                             hint="give a run's log folder name, e.g. 20261204-033832, or a "
                                  "local time, e.g. '2026-12-04 03:38'")
    paths = Paths.from_env()
    node, lines = node_console(paths, resolve_mac(paths, args.mac), since)
    if not lines and not args.follow:
        print(f"No console recorded for {node.primary_mac}"
              + (" since then." if since is not None else " yet.")
              + " racker records it while it provisions the node (bootstrap, apply, node "
                "reprovision; pxe-boot while racker serve, a bootstrap or an apply runs).")
        return 0
    for ts, text in lines:
        print(format_line(ts, text))
    if args.follow:
        try:
            for ts, text in follow_console(paths, node):
                print(format_line(ts, text), flush=True)
        except KeyboardInterrupt:
            return 0
    return 0
