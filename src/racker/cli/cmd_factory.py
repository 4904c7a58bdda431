"""`racker factory check | reset | gen-ssh-key | discover`: preparing a rack for its operator."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from racker.app import factory
from racker.errors import InputError, Where
from racker.paths import Paths

USAGE = """\
Usage: racker factory COMMAND

Commands:
  check                                        Check the rack metadata files nodes.csv,
                                               ipmi_user and ipmi_password
  reset [-racker-version] [-nodes] [-confirm]  Reset racker's version information and/or the
                                               rack metadata (asks for confirmation)
  gen-ssh-key [-print-private-key]             Create the SSH key ~/.ssh/id_ed25519(.pub)
                                               without passphrase and show its public key and
                                               fingerprint
  discover -interface IFACE [-force]           Find the servers of a rack without nodes.csv
                                               (by their BMCs and PXE) and write a proposed
                                               nodes.csv
  help                                         Show this help"""

RESET_USAGE = """\
Usage: racker factory reset [-racker-version] [-nodes] [-confirm]

  -racker-version
        Reset the current version information, so that the first time racker is used it
        updates to the latest version.
  -nodes
        Reset (empty) the rack metadata with the list of nodes and remove racker's state;
        afterwards the rack metadata needs to be filled in again.
  -confirm
        Confirm the actions directly instead of being asked "Are you sure?"; use this flag
        carefully (likely for automation only)."""

CHECK_USAGE = """\
Usage: racker factory check

Checks that ipmi_user, ipmi_password and nodes.csv exist and are valid, finds this machine's row
and its PXE interface, and shows how many nodes have each node type."""

GEN_USAGE = """\
Usage: racker factory gen-ssh-key [-print-private-key]

Creates racker's SSH key without passphrase, for logging in to the nodes via SSH instead of the
serial console, and shows its path, public key and fingerprint: an ed25519 key at
~/.ssh/id_ed25519, or the path RACKER_SSH_KEY names. Where ~/.ssh/id_rsa exists (a rack set up
by an older racker), that is racker's key and nothing is created.

  -print-private-key
        Also print the private key, to hand it out. Only when stdout is a terminal: a private
        key in a pipe, a log or a file is a key on the loose (copy the key file instead)."""

MAX_PROBLEMS = 20
_HELP = ("-h", "-help", "--help", "help")
_TRUE = ("true", "1", "yes", "y")
_FALSE = ("false", "0", "no", "n")


def _wants_help(argv: Sequence[str], usage: str) -> bool:
    if any(a in _HELP for a in argv):
        print(usage)
        return True
    return False


def _no_arguments(argv: Sequence[str], command: str) -> None:
    if argv:
        raise InputError(f"unexpected argument '{argv[0]}'", where=Where(flag=argv[0]),
                         hint=f"'racker factory {command}' takes no arguments")


def _parse_reset(argv: Sequence[str]) -> factory.ResetRequest:
    """Go-style (`-nodes`, `-nodes=false`) and GNU (`--nodes`) boolean flags."""
    names = {"racker-version": "racker_version", "nodes": "nodes", "confirm": "confirm",
             "confirm-reset": "confirm"}
    values = {"racker_version": False, "nodes": False, "confirm": False}
    for arg in argv:
        body = arg[2:] if arg.startswith("--") else arg[1:] if arg.startswith("-") else None
        name, eq, value = (body or "").partition("=")
        if body is None or name not in names:
            raise InputError(f"unknown flag or argument '{arg}'", where=Where(flag=arg),
                             hint="the flags are -racker-version, -nodes and -confirm")
        if eq and value.lower() not in _TRUE + _FALSE:
            raise InputError(f"'{value}' is not true or false", where=Where(flag=f"-{name}"),
                             hint=f"write -{name} or -{name}=true|false")
        values[names[name]] = not eq or value.lower() in _TRUE
    return factory.ResetRequest(**values)


def _ask(question: str) -> bool:
    """A yes/no question on the terminal; no answer (or no terminal) means no."""
    print(f"? {question} (y/N) ", end="", flush=True)
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        answer = ""
    if not answer or not sys.stdin.isatty():
        print(answer.strip())  # end the prompt's line when the answer was not typed
    return answer.strip().lower() in ("y", "yes")


def cmd_check(argv: Sequence[str]) -> int:
    """`racker factory check`: print ✓/🛈 lines, or every problem with its place."""
    if _wants_help(argv, CHECK_USAGE):
        return 0
    _no_arguments(argv, "check")
    result = factory.check(Paths.from_env())
    shown = 0
    for item in result.items:
        if isinstance(item, str):
            print(item)
        elif shown < MAX_PROBLEMS:
            print(f"× {item}")
            shown += 1
    if len(result.problems) > shown:
        print(f"× … and {len(result.problems) - shown} more problems")
    if result.problems:
        print(f"{len(result.problems)} problem(s) found; fix them and run 'racker factory "
              "check' again")
        return InputError.exit_code
    return 0


def cmd_reset(argv: Sequence[str]) -> int:
    """`racker factory reset [-racker-version] [-nodes] [-confirm]`"""
    if not argv:
        print(RESET_USAGE)
        return 0
    if _wants_help(argv, RESET_USAGE):
        return 0
    req = _parse_reset(argv)
    if not (req.racker_version or req.nodes):
        print(RESET_USAGE)
        return InputError.exit_code
    return factory.reset(req, Paths.from_env(), factory.version_file(), _ask, print)


_PRINT_PRIVATE = ("-print-private-key", "--print-private-key")


def cmd_gen_ssh_key(argv: Sequence[str], stdout_is_tty: bool | None = None) -> int:
    """`racker factory gen-ssh-key [-print-private-key]`: create racker's key, show the public
    key and fingerprint, and the private key only on request and only to a terminal.

    `stdout_is_tty` stands in for `sys.stdout.isatty()` (tests).
    """
    if _wants_help(argv, GEN_USAGE):
        return 0
    show_private = bool(argv) and argv[0] in _PRINT_PRIVATE
    _no_arguments(argv[1:] if show_private else argv, "gen-ssh-key")
    tty = sys.stdout.isatty() if stdout_is_tty is None else stdout_is_tty
    # NOTE: checked before the key is made: scrollback is the operator's choice, but a pipe, a
    # log (sudo, CI) or a file would keep an unencrypted private key around.
    if show_private and not tty:
        raise InputError("refusing to print the private key: stdout is not a terminal",
                         where=Where(flag="-print-private-key"),
                         hint="run it in a terminal, or leave the flag out and copy "
                              f"{Paths.from_env().ssh_key} with scp")
    key = factory.gen_ssh_key(Paths.from_env().ssh_key)
    print(f"✓ Created the SSH key {key.private_key} (no passphrase) and {key.private_key}.pub")
    print(f"Fingerprint: {key.fingerprint}")
    print(f"Public key:\n{key.public_key}")
    if show_private:
        private = key.private_key.read_text()
        print("\nPrivate key:\n")
        print(private, end="" if private.endswith("\n") else "\n")
    return 0


def cmd_discover(argv: Sequence[str]) -> int:
    """`racker factory discover -interface IFACE [-force] [-management-bmc MAC]`"""
    from racker.cli.factory_discover import run as discover

    return discover(argv)


SUBCOMMANDS = {"check": cmd_check, "reset": cmd_reset, "gen-ssh-key": cmd_gen_ssh_key,
               "discover": cmd_discover}


def run(argv: Sequence[str]) -> int:
    """`racker factory COMMAND [ARGS...]`"""
    if not argv:
        print(USAGE)
        return InputError.exit_code
    if argv[0] in _HELP:
        print(USAGE)
        return 0
    sub = SUBCOMMANDS.get(argv[0])
    if sub is None:
        print(f"racker factory: unknown command '{argv[0]}'\n\n{USAGE}", file=sys.stderr)
        return InputError.exit_code
    return sub(argv[1:])
