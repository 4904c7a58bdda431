"""`racker node timeline MAC`: the node's events (lease, iPXE, installer, installed, booted,
errors) with times, from racker's event store."""

from __future__ import annotations

import json
from collections.abc import Sequence

from racker.app.node_events import events_json, node_console, node_events
from racker.cli.parsing import Parser
from racker.core.macs import parse_mac
from racker.core.timeline import timeline_lines
from racker.errors import InputError, Where
from racker.paths import Paths


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker node timeline`."""
    p = Parser(prog="racker node timeline",
                                description="Show what happened to a node, oldest first: DHCP "
                                            "leases of the node and its BMC, boot server "
                                            "requests, stages, reports and errors.")
    p.add_argument("mac", metavar="MAC", help="any of the node's MAC addresses from nodes.csv, or "
                                             "its name")
    p.add_argument("-json", "--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--console", "-console", action="store_true",
                   help="interleave the node's console lines as racker recorded them")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    mac = resolve_mac(paths, args.mac)
    from racker.compose.rack import store  # the store opens only once the MAC is valid

    node, events = node_events(paths, mac, lambda: store(paths))
    console = node_console(paths, mac)[1] if args.console else []
    if args.json:
        print(json.dumps(events_json(events), indent=2))
    elif not events and not console:
        print(f"No events for {node.primary_mac} yet.")
    else:
        print(f"Timeline of {node.primary_mac} (BMC {node.bmc_mac}):")
        print("\n".join(timeline_lines(events, console=console)))
    return 0


def resolve_mac(paths: Paths, text: str) -> str:
    """The MAC `text` gives, or the primary MAC of the node it names."""
    return parse_mac(text) or mac_of_name(paths, text)


def mac_of_name(paths: Paths, text: str) -> str:
    """The primary MAC of the node called `text` in the configured rack."""
    from racker.app.configuration.loaded import find_folder, load_configured

    try:
        folder = find_folder(paths, None)
    except InputError:
        raise InputError(f"'{text}' is not a MAC address, and there is no configured rack to "
                         "look a node name up in", where=Where(flag="MAC"),
                         hint="give one of the node's MAC addresses from nodes.csv, e.g. "
                              "aa:bb:cc:dd:ee:ff") from None
    return load_configured(paths, folder).node(text).primary_mac
