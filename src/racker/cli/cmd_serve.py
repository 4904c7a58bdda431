"""`racker serve`: dnsmasq and the boot server in the foreground (what the service runs)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from racker.app import serving
from racker.app.configuration.create import ConfigureResult
from racker.app.provision import Provisioner
from racker.app.resume import configured_rack
from racker.cli.parsing import Parser
from racker.paths import Paths
from racker.settings import Settings
from racker.web.listener import check_bind, listening


def _parser() -> argparse.ArgumentParser:
    return Parser(
        prog="racker serve",
        description="Run racker's DHCP/TFTP server (dnsmasq), its HTTP boot server and its "
                    "management listener (dashboard, API, metrics on RACKER_MANAGE_BIND:"
                    "RACKER_MANAGE_PORT, 127.0.0.1:8081 by default) for the configured rack in "
                    "the foreground, until Ctrl-C or SIGTERM. This is what "
                    "the racker-serve service runs on a management node; BMC and node leases "
                    "are only renewed while it runs. Other racker commands (bootstrap, apply, node "
                    "reprovision) borrow both services through its management socket "
                    "(<state>/serve.sock) while they run, and serve takes them back with the "
                    "configuration they wrote; node exclude, include and replace ask it to "
                    "reload. It records the serial console of each boot that racker pxe-boot "
                    "or the dashboard starts (racker node console-log NODE).")


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker serve`."""
    try:
        _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paths = Paths.from_env()
    from racker.compose.rack import serve_lock

    with serve_lock(paths):  # a second serve is refused at once, naming the first
        return _serve(paths)


def _serve(paths: Paths) -> int:
    configured_rack(paths)  # a rack that is not configured is refused before anything starts

    from racker.compose.rack import provisioner as make_provisioner
    from racker.compose.rack import serve_lender

    settings = Settings.from_env()

    def say(text: str) -> None:
        print(text, flush=True)

    check_bind(paths, settings)  # a bad bind is refused before anything starts

    def make(configured: ConfigureResult) -> Provisioner:
        return make_provisioner(paths, configured.plan, sys.stdout, settings=settings,
                                warn=lambda _msg: None, borrow=False)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # NOTE: the listener lives as long as serve, across the services it lends: the
        # dashboard of a management node stays up, and shows the borrowers' runs
        async with listening(paths, settings, say):
            return await serving.serve(paths, serve_lender(paths), make, stop, say)

    return asyncio.run(main())
