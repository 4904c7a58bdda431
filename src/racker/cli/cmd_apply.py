"""`racker apply`: bring the rack in line with its configuration folder."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO

from racker.app.apply import Action, ApplyPlan, Executor, describe, plan_apply
from racker.app.configuration.loaded import find_folder
from racker.cli.parsing import Parser
from racker.errors import InputError
from racker.paths import Paths

DESCRIPTION = """\
Apply the configuration folder (run it in ~/flatcar-container-linux or ~/lokomotive, or pass
-C DIR) to the rack: the arrays, dnsmasq and hosts entries are rendered again from the recorded
options and nodes.csv (your cl/*.yaml edits are kept); a node without its flag file
(assets/<MAC>) is reinstalled via PXE; a node whose Ignition changed gets Ignition re-run over
SSH (its next boot is a first boot; the root filesystem is formatted again). Controllers are
re-run only with --include-controllers."""

MakeExecutor = Callable[[Paths, ApplyPlan, TextIO], Executor]
Lock = Callable[[Paths, str], AbstractContextManager[None]]


def run_lock(paths: Paths, command: str) -> AbstractContextManager[None]:
    """The state folder's run lock (a second bootstrap or apply is refused while held)."""
    from racker.compose.rack import run_lock as lock

    return lock(paths, command)


def real_executor(paths: Paths, ap: ApplyPlan, out: TextIO) -> Executor:
    """The executor with racker's services, the rack's BMCs and the ssh client."""
    from racker.compose.rack import apply_executor  # the engine and the BMC stack load here
    from racker.settings import Settings
    from racker.web.listener import management

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    return apply_executor(paths, ap, out, management(paths, Settings.from_env(), say))


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="racker apply", description=DESCRIPTION)
    p.add_argument("-C", dest="folder", metavar="DIR", type=Path,
                   help="the configuration folder (default: the current one, else the one in "
                        "your home folder)")
    p.add_argument("--include-controllers", "-include-controllers", action="store_true",
                   help="also re-run Ignition on controllers whose configuration changed")
    p.add_argument("--dry-run", "-dry-run", action="store_true",
                   help="print what would be done and change nothing")
    p.add_argument("--yes", "-yes", "-y", action="store_true",
                   help="do not ask before reinstalling or rebooting nodes")
    return p


def confirm(ap: ApplyPlan, yes: bool, ask: Callable[[str], str] | None) -> bool:
    """Whether to go ahead with reinstalls and re-runs (they wipe or reboot nodes)."""
    if yes or not (ap.of(Action.REINSTALL) or ap.of(Action.RERUN)):
        return True
    if ask is None:
        raise InputError("nodes would be reinstalled or rebooted, and stdin is not a terminal "
                         "to confirm it", hint="check with --dry-run, then run with --yes")
    try:
        return ask("Proceed? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def main(argv: Sequence[str], *, paths: Paths, make_executor: MakeExecutor = real_executor,
         ask: Callable[[str], str] | None = None, lock: Lock = run_lock) -> int:
    """`racker apply` with the outside world passed in."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    with contextlib.ExitStack() as held:
        if not args.dry_run:  # refused at once, before the plan, when a run holds the rack
            held.enter_context(lock(paths, "racker apply"))
        return _apply(args, paths, make_executor, ask)


def _apply(args: argparse.Namespace, paths: Paths, make_executor: MakeExecutor,
           ask: Callable[[str], str] | None) -> int:
    folder = find_folder(paths, args.folder)
    ap = plan_apply(paths, folder, include_controllers=args.include_controllers)
    for line in describe(ap):
        print(line)
    if args.dry_run:
        print("Dry run: nothing was changed.")
        return 0
    if not confirm(ap, args.yes, ask):
        print("Canceled: nothing was changed.")
        return 1
    sys.stdout.flush()
    return asyncio.run(make_executor(paths, ap, sys.stdout).run(ap))


def run(argv: Sequence[str]) -> int:
    """Entry point of `racker apply`."""
    return main(argv, paths=Paths.from_env(), ask=input if sys.stdin.isatty() else None)
