"""`racker bmc`: BMC maintenance. `rotate-credentials` switches every BMC to a new user."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from racker.app.bmc_credentials import Target
from racker.cli.parsing import Parser
from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import Credentials
from racker.paths import Paths

Resolver = Callable[[Paths], list[Target]]
"""Finds (node label, BMC address, port) for every BMC of the rack."""

USAGE = ("racker bmc rotate-credentials NEW_USER [-password-file F] [-disable-old] [-dry-run]"
         "\n       racker bmc trust-cert NODE")


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="racker bmc", description="BMC maintenance.",
                                allow_abbrev=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser(
        "rotate-credentials", allow_abbrev=False,
        help="create a new IPMI user on every BMC, prove it, then switch racker to it",
        description="Create NEW_USER with ADMINISTRATOR privilege on every BMC, prove a session "
                    "as NEW_USER on each, and only then replace ipmi_user/ipmi_password. "
                    "If any BMC fails, the files stay unchanged.")
    r.add_argument("new_user", metavar="NEW_USER",
                   help="the IPMI user name to create on every BMC (1 to 16 characters)")
    r.add_argument("-password-file", "--password-file", type=Path, metavar="FILE",
                   help="file holding the new password (must not be readable by group/others);"
                        " without it the password is asked for twice")
    r.add_argument("-disable-old", "--disable-old", action="store_true",
                   help="disable the old user on every BMC after the switch")
    r.add_argument("-dry-run", "--dry-run", action="store_true",
                   help="show which slots would be used; change nothing")
    r.add_argument("-bmc-address", "--bmc-address", action="append", default=[],
                   metavar="BMC_MAC=IP[:PORT]",
                   help="address of a BMC (repeat for every BMC); by default every node's BMC "
                        "of nodes.csv is found on the PXE interface")
    r.add_argument("--driver", default=None, help=argparse.SUPPRESS)
    t = sub.add_parser(
        "trust-cert", allow_abbrev=False,
        help="accept the new TLS certificate of a node's Redfish BMC",
        description="Forget the certificate pinned for the node's BMC (racker pins each "
                    "Redfish BMC's certificate on first use and refuses a changed one); the "
                    "next contact pins the certificate the BMC then presents.")
    t.add_argument("node", metavar="NODE", help="the node's name, MAC or BMC MAC")
    return p


def read_secret_file(path: Path, flag: str) -> str:
    """The first line of a secret file that only its owner can read."""
    try:
        st = path.stat()
        text = path.read_text()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}", where=Where(flag=flag)) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"{path} is readable by group or others (mode "
                         f"{stat.S_IMODE(st.st_mode):04o})", where=Where(file=str(path)),
                         hint=f"chmod 600 {path}")
    return text.split("\n", 1)[0]


def _ask_password() -> str:
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask for the new password",
                         hint="pass --password-file FILE (mode 0600)")
    first = getpass.getpass("New BMC password: ")
    if getpass.getpass("Repeat the new BMC password: ") != first:
        raise InputError("the two passwords differ")
    return first


def parse_bmc_addresses(values: Sequence[str]) -> list[Target]:
    """`BMC_MAC=IP[:PORT]` flags → targets labelled by the BMC MAC."""
    out: list[Target] = []
    for v in values:
        label, sep, addr = v.partition("=")
        host, _, port = addr.partition(":")
        if not sep or not host or (port and not port.isdigit()):
            raise InputError(f"bad --bmc-address '{v}'", where=Where(flag="--bmc-address"),
                             hint="use BMC_MAC=IP or BMC_MAC=IP:PORT")
        # any label is fine; a MAC is only normalised
        out.append((parse_mac(label) or label, host, int(port) if port else 623))
    return out


def _retry_sec(env: Mapping[str, str]) -> float:
    value = env.get("RETRY_SEC", "")
    return float(value) if value.isdigit() else 150.0


def run(argv: Sequence[str], *, resolve: Resolver | None = None,
        env: Mapping[str, str] | None = None) -> int:
    """`racker bmc ...`"""
    args = _parser().parse_args(list(argv))
    if args.command not in ("rotate-credentials", "trust-cert"):
        print(f"Usage: {USAGE}", file=sys.stderr)
        return 2
    environ = os.environ if env is None else env
    paths = Paths.from_env(environ)
    from racker.compose import rack  # the BMC stack loads only when it is needed

    if args.command == "trust-cert":
        if not os.access(paths.state_dir, os.W_OK):
            raise InputError(f"cannot write to {paths.state_dir}", hint="run racker with sudo")
        print(rack.trust_bmc_certificate(paths, args.node))
        return 0

    current = rack.credentials(paths)
    if args.password_file is not None:
        password = read_secret_file(args.password_file, "--password-file")
    else:
        password = _ask_password()
    new = Credentials(args.new_user, password)
    if args.bmc_address:
        targets = parse_bmc_addresses(args.bmc_address)
    elif resolve is not None:
        targets = resolve(paths)
    else:
        targets = asyncio.run(rack.bmc_targets(paths, _retry_sec(environ)))
    if not args.dry_run and not os.access(paths.oem_dir, os.W_OK):
        raise InputError(f"cannot write to {paths.oem_dir}", hint="run racker with sudo")
    report = asyncio.run(rack.rotate_bmc_credentials(
        paths, targets, current, new, protocol=args.driver, disable_old=args.disable_old,
        dry_run=args.dry_run, env=environ))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1
