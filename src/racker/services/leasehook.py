"""dnsmasq's `--dhcp-script`: every lease change and TFTP transfer becomes an event.

dnsmasq runs it as `SCRIPT add|old|del MAC IP [HOSTNAME]` and `SCRIPT tftp SIZE IP FILE`.
It must never fail loudly: a broken hook must not stop DHCP, so errors go to stderr (dnsmasq's
log) and the exit code is 0.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from racker.errors import RackerError
from racker.macs import parse_mac
from racker.store import EventKind, Store

LEASE_ACTIONS = ("add", "old", "del")


def event_of(args: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """(MAC, detail) of one hook call, or None for calls that are not node events (pure)."""
    if len(args) >= 3 and args[0] in LEASE_ACTIONS:
        mac = parse_mac(args[1])
        if mac is None:  # e.g. an InfiniBand or client-id lease: not one of our nodes
            return None
        detail = {"action": args[0], "ip": args[2]}
        if len(args) > 3:
            detail["hostname"] = args[3]
        return mac, detail
    if len(args) >= 4 and args[0] == "tftp":
        return "", {"action": "tftp", "size": args[1], "ip": args[2], "file": args[3]}
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m racker.services.leasehook --state-dir DIR ACTION ARGS...`"""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--state-dir":
        print("usage: leasehook --state-dir DIR ACTION ARGS...", file=sys.stderr)
        return 0
    state_dir, rest = Path(args[1]), args[2:]
    found = event_of(rest)
    if found is None:
        return 0
    mac, detail = found
    try:
        with Store.in_state_dir(state_dir) as store:
            store.add(mac, EventKind.LEASE, detail=detail)
    except RackerError as e:
        print(f"racker lease hook: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
