"""`racker serve`: dnsmasq and the boot server in the foreground (what the service runs)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from racker.app.resume import configured_rack
from racker.paths import Paths
from racker.settings import Settings
from racker.web.listener import management, say


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="racker serve",
        description="Run racker's DHCP/TFTP server (dnsmasq), its HTTP boot server and its "
                    "management listener (dashboard, API, metrics on RACKER_MANAGE_BIND:"
                    "RACKER_MANAGE_PORT, 127.0.0.1:8081 by default) for the configured rack in "
                    "the foreground, until Ctrl-C or SIGTERM. This is what "
                    "the racker-serve service runs on a management node; BMC and node leases "
                    "are only renewed while it runs.")


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker serve`."""
    try:
        _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    configured = configured_rack(paths)

    from racker.compose.rack import provisioner as make_provisioner

    settings = Settings.from_env()
    provisioner = make_provisioner(paths, configured.plan, sys.stdout, settings=settings,
                                   warn=lambda _msg: None,
                                   management=management(paths, settings, say))

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await provisioner.serve(configured, stop)

    return asyncio.run(main())
