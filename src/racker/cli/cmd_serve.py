"""`racker serve`: dnsmasq and the boot server in the foreground (what the service runs)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from racker.adapters.fs.configdir import load_record
from racker.app.resume import resume
from racker.core.render import config_folder
from racker.errors import InputError
from racker.model import Provision
from racker.paths import Paths
from racker.settings import Settings


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="racker serve",
        description="Run racker's DHCP/TFTP server (dnsmasq) and its HTTP boot server for the "
                    "configured rack in the foreground, until Ctrl-C or SIGTERM. This is what "
                    "the racker-serve service runs on a management node; BMC and node leases "
                    "are only renewed while it runs.")


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker serve`."""
    try:
        _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    folder = next((f for f in (config_folder(paths, p) for p in Provision)
                   if (f / "racker-options.yaml").is_file()), None)
    if folder is None:
        raise InputError("there is no configured rack to serve",
                         hint="run 'racker bootstrap' first (it writes ~/flatcar-container-linux "
                              "or ~/lokomotive)")
    load_record(folder)  # a broken record is reported before anything starts
    configured = resume(paths, folder)
    from racker.compose.rack import provisioner as make_provisioner

    provisioner = make_provisioner(paths, configured.plan, sys.stdout,
                                   settings=Settings.from_env(), warn=lambda _msg: None)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await provisioner.serve(configured, stop)

    return asyncio.run(main())
