"""`racker-sim`: the rack simulator's command line (virtual BMCs, simulated racks).

Subcommands are rows of `SUBCOMMANDS` (words, summary, `module:function`); the function takes
the remaining argv and returns an exit code, like `racker`'s own commands. Adding a subcommand
is adding one row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from racker.cli import registry
from racker.cli.parsing import Parser
from racker.cli.registry import Command
from racker.cli.run import run_main
from racker.errors import InputError, Where

SUBCOMMANDS: tuple[Command, ...] = (
    Command("bmc serve", "Run one virtual BMC in the foreground (ipmitool can drive it)",
               "racker.cli.sim:cmd_bmc_serve"),
    Command("create", "Create a simulated rack (namespaces, BMCs, lite nodes) and its daemon",
               "racker.sim.commands:cmd_create"),
    Command("destroy", "Remove a simulated rack: processes, namespaces, files",
               "racker.sim.commands:cmd_destroy"),
    Command("status", "Namespaces, BMC leases, power, boot device and phase of every node",
               "racker.sim.commands:cmd_status"),
    Command("exec", "Run a command in the management namespace with racker's paths",
               "racker.sim.commands:cmd_exec"),
    Command("forward", "Relay a host loopback port into the management node (the dashboard)",
               "racker.sim.commands:cmd_forward"),
    Command("fault", "Inject or clear a fault on a node or its BMC",
               "racker.sim.commands:cmd_fault"),
    Command("console", "Show a node's timeline (its serial console)",
               "racker.sim.commands:cmd_console"),
)


def usage() -> str:
    """The subcommand list."""
    return registry.usage("racker-sim", SUBCOMMANDS)


def dispatch(argv: Sequence[str]) -> int:
    """Find the longest matching subcommand and run it with the rest of argv."""
    return registry.dispatch("racker-sim", SUBCOMMANDS, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `racker-sim`."""
    return run_main("racker-sim", dispatch, argv)


# -- racker-sim bmc serve ------------------------------------------------------------------


def _bmc_serve_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="racker-sim bmc serve",
        description="Run one virtual IPMI 2.0 (lanplus) BMC in the foreground with an in-memory "
                    "chassis; power and boot device changes are logged, the serial console "
                    "echoes what is typed. Ctrl-C stops it.")
    p.add_argument("--address", required=True, help="IP address to listen on (e.g. 127.0.0.1)")
    p.add_argument("--port", type=int, default=623, help="UDP port (default 623)")
    p.add_argument("--user", default="admin", help="name of the administrator in slot 2")
    secret = p.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-file", type=Path,
                        help="file holding the password (mode 0600 or stricter)")
    secret.add_argument("--password-env", metavar="VAR",
                        help="environment variable holding the password")
    secret.add_argument("--password", help="the password itself (visible in the process list!)")
    p.add_argument("--session-limit", type=int, default=4, help="session slots (default 4)")
    p.add_argument("--session-timeout", type=float, default=60.0,
                   help="seconds before an idle session is dropped (default 60)")
    p.add_argument("--boot-valid-timeout", type=float, default=60.0,
                   help="seconds before an unused boot flag valid bit is cleared (default 60)")
    p.add_argument("--latency", type=float, default=0.002,
                   help="seconds the BMC takes per request (default 0.002, like real BMCs)")
    p.add_argument("--powered-on", action="store_true", help="start with chassis power on")
    return p


def read_password(args: argparse.Namespace) -> str:
    """The BMC password from --password-file, --password-env or (with a warning) --password."""
    if args.password is not None:
        print("racker-sim: warning: --password is visible in the process list; "
              "prefer --password-file or --password-env", file=sys.stderr)
        return str(args.password)
    if args.password_env is not None:
        value = os.environ.get(args.password_env)
        if value is None:
            raise InputError(f"environment variable {args.password_env} is not set",
                             where=Where(flag="--password-env"),
                             hint=f"export {args.password_env}=... before starting")
        return value
    path: Path = args.password_file
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read the password file: {e.strerror}",
                         where=Where(file=str(path), flag="--password-file")) from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError("the password file is readable by other users",
                         where=Where(file=str(path), flag="--password-file"),
                         hint=f"chmod 600 {path}")
    return text.rstrip("\r\n")


def cmd_bmc_serve(argv: Sequence[str]) -> int:
    """`racker-sim bmc serve --address A [--port P] --user U --password-file F|--password-env V`"""
    args = _bmc_serve_parser().parse_args(list(argv))
    password = read_password(args)
    if not 0 <= args.port <= 65535:
        raise InputError(f"port {args.port} is out of range", where=Where(flag="--port"))
    if args.session_limit < 1:
        raise InputError("the session limit must be at least 1",
                         where=Where(flag="--session-limit"))
    return asyncio.run(_serve_foreground(args, password))


async def _serve_foreground(args: argparse.Namespace, password: str) -> int:
    from racker.sim.vbmc.chassis import BootRequest, MemoryChassis, PowerAction
    from racker.sim.vbmc.server import VirtualBmc
    from racker.sim.vbmc.state import describe_boot

    def log(message: str) -> None:
        print(f"racker-sim: {message}", flush=True)

    chassis = MemoryChassis(powered_on=args.powered_on, echo=True)

    def on_power(action: PowerAction, boot: BootRequest | None, on: bool) -> None:
        booting = f", booting: {describe_boot(boot)}" if boot is not None else ""
        log(f"power {action.value} -> chassis is {'on' if on else 'off'}{booting}")
        if boot is not None:
            chassis.emit_console(f"\r\n[racker-sim] power {action.value}, "
                                 f"boot {describe_boot(boot)}\r\n".encode())

    chassis.listeners.append(on_power)
    bmc = VirtualBmc(chassis, address=args.address, port=args.port, user=args.user,
                     password=password, session_limit=args.session_limit,
                     session_timeout=args.session_timeout,
                     boot_valid_timeout=args.boot_valid_timeout, log=log,
                     latency=max(0.0, args.latency))
    try:
        await bmc.astart()
    except OSError as e:
        raise InputError(f"cannot listen on {args.address} port {args.port}: {e.strerror}",
                         where=Where(flag="--address"),
                         hint="use an address of this machine (127.0.0.1 works) and a free "
                              "port; port 623 needs root") from e
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log(f"virtual BMC listening on {args.address} port {bmc.port} (user {args.user}); "
        f"Ctrl-C stops it")
    log(f"try: IPMI_PASSWORD=... ipmitool -I lanplus -C3 -H {args.address} -p {bmc.port} "
        f"-U {args.user} -E chassis status")
    try:
        await stop.wait()
    finally:
        await bmc.astop()
    log("stopped")
    return 0
