"""A fleet of the simulator's virtual BMCs speaking Redfish (IPMI over LAN off) on loopback,
for the benchmarks: `python -m bench._redfish_fleet N PREFIX USER PASSWORD_ENV`.

Serves BMC i on PREFIX.i (a free TCP port each), prints one JSON line
`{"bmcs": [[address, port], ...]}` once all answer, and runs until its stdin closes.
The password comes from the environment variable named PASSWORD_ENV, never from argv.
"""

from __future__ import annotations

import json
import os
import sys

from racker.sim.vbmc.chassis import MemoryChassis
from racker.sim.vbmc.redfish.server import RedfishServer, bind_tcp, serve_redfish
from racker.sim.vbmc.server import BmcRunner, VirtualBmc


def main(argv: list[str]) -> int:
    """Serve until stdin closes."""
    count, prefix, user, password_env = int(argv[0]), argv[1], argv[2], argv[3]
    password = os.environ[password_env]
    runner = BmcRunner("redfish-fleet").start()
    bmcs: list[tuple[VirtualBmc, RedfishServer]] = []
    try:
        for i in range(1, count + 1):
            address = f"{prefix}.{i}"
            bmc = VirtualBmc(MemoryChassis(powered_on=bool(i % 2)), address=address, port=0,
                             user=user, password=password, name=f"node{i}").start(runner)
            bmc.lan_enabled = False
            server = runner.call(serve_redfish(bmc, bind_tcp(address, 0)))
            bmcs.append((bmc, server))
        print(json.dumps({"bmcs": [[b.address, s.port] for b, s in bmcs]}), flush=True)
        sys.stdin.read()
    finally:
        for bmc, server in bmcs:
            runner.call(server.astop())
            bmc.stop()
        runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
