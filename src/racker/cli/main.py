"""`racker`: the command list and the dispatch to one use case per command."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from racker import __version__
from racker.cli import registry
from racker.cli.registry import Command
from racker.cli.run import run_main
from racker.errors import InputError

COMMANDS: tuple[Command, ...] = (
    Command("bootstrap", "Provision the rack: configure, PXE boot and install every node",
            "racker.cli.cmd_bootstrap:run"),
    Command("status", "Show the provisioning and BMC status of every node",
            "racker.cli.cmd_status:run"),
    Command("factory", "Check the rack metadata, reset racker, generate an SSH key",
            "racker.cli.cmd_factory:run"),
    Command("ignition", "Print a node's final Ignition JSON (in a configuration folder)",
            "racker.cli.cmd_ignition:run"),
    Command("apply", "Apply the configuration folder: reinstall or re-run Ignition where needed",
            "racker.cli.cmd_apply:run"),
    Command("node", "One node: exclude, include, reprovision, replace, timeline, console-log",
            "racker.cli.cmd_node:run"),
    Command("pxe-boot", "Force a PXE boot of a node (the configuration's pxe_commands)",
            "racker.cli.cmd_pxe_boot:run"),
    Command("serve", "Run DHCP and the boot server for the rack (what the service runs)",
            "racker.cli.cmd_serve:run"),
    Command("bmc", "BMC maintenance: rotate credentials", "racker.cli.cmd_bmc:run"),
    Command("api", "The management API and dashboard: token [--rotate]",
            "racker.cli.cmd_api:run"),
    Command("version", "Print the installed racker version", "racker.cli.main:cmd_version"),
    Command("update", "Install updates for the current racker version (same series)",
            "racker.cli.cmd_lifecycle:update"),
    Command("upgrade", "Migrate to the newest racker version (may need config changes)",
            "racker.cli.cmd_lifecycle:upgrade"),
    Command("get", "Install a particular racker version: get VERSION",
            "racker.cli.cmd_lifecycle:get"),
    Command("install", "Install racker as a service on this management node",
            "racker.cli.cmd_lifecycle:install_cmd"),
    Command("uninstall", "Remove racker's service (keeps its state unless -purge)",
            "racker.cli.cmd_lifecycle:uninstall_cmd"),
    Command("help", "Print this command list", "racker.cli.main:cmd_help"),
)


def usage() -> str:
    return registry.usage("racker", COMMANDS)


def cmd_version(argv: Sequence[str]) -> int:
    """`racker version`"""
    if any(a in ("-h", "-help", "--help") for a in argv):
        print("Usage: racker version\n\nPrint the installed racker version (also: racker -v, "
              "racker --version).")
        return 0
    if argv:
        raise InputError(f"racker version takes no arguments (got {argv[0]!r})",
                         hint="run 'racker version'")
    print(__version__)
    return 0


def cmd_help(argv: Sequence[str]) -> int:
    """`racker help`"""
    print(usage())
    return 0


def dispatch(argv: Sequence[str]) -> int:
    if argv and argv[0] in ("-v", "--version"):
        return cmd_version(argv[1:])
    return registry.dispatch("racker", COMMANDS, argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("racker", dispatch, argv, sigterm_as_interrupt=True)


if __name__ == "__main__":
    sys.exit(main())
