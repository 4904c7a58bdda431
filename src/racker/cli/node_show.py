"""`racker node show NODE [--json]`: the node's row of nodes.csv and the hardware its installer
reported (SMBIOS UUID, system, CPUs, memory, disks, NICs)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from racker.app.hardware import node_hardware
from racker.cli.node_timeline import mac_of_name
from racker.cli.parsing import Parser
from racker.core.hardware import describe
from racker.core.macs import parse_mac
from racker.core.timeline import printable
from racker.paths import Paths


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker node show`."""
    p = Parser(prog="racker node show",
               description="Show a node's MACs and the hardware inventory its installer "
                           "reported (the newest one, with its time).")
    p.add_argument("mac", metavar="NODE", help="any of the node's MAC addresses from "
                                              "nodes.csv, or its name")
    p.add_argument("-json", "--json", action="store_true", help="print JSON for scripts")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    mac = parse_mac(args.mac) or mac_of_name(paths, args.mac)
    from racker.compose.rack import store  # the store opens only once the MAC is valid

    node, found = node_hardware(paths, mac, lambda: store(paths))
    if args.json:
        print(json.dumps({"primary_mac": node.primary_mac, "bmc_mac": node.bmc_mac,
                          "secondary_mac": node.secondary_mac, "node_type": node.node_type,
                          "inventory": found.as_json() if found else None}, indent=2))
        return 0
    print(f"Node {node.primary_mac} (BMC {node.bmc_mac}, secondary "
          f"{node.secondary_mac or '-'}, type {node.node_type or '-'})")
    if found is None:
        print("No hardware inventory yet: the installer reports it when racker installs the "
              "node (racker bootstrap, racker apply, racker node reprovision).")
        return 0
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(found.ts))
    print(f"Inventory reported {when} from {found.client or '?'}:")
    # NOTE: the strings came from the node: escaped, so they cannot drive the terminal
    print("\n".join(printable(line) for line in describe(found.hardware)))
    return 0
