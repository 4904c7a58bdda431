"""dnsmasq's `--dhcp-script`: every lease change and TFTP transfer becomes an event.

dnsmasq runs it as `SCRIPT add|old|del MAC IP [HOSTNAME]` and `SCRIPT tftp SIZE IP FILE`, one
call after the other. It must never fail loudly: a broken hook must not stop DHCP, so errors go
to stderr (dnsmasq's log) and the exit code is 0.

NOTE: this file imports nothing but the standard library and runs as `python -I -S FILE`: a
rack of 48 servers makes about 100 leases at once and dnsmasq runs the hook serially, so its
start-up time (20 ms instead of 150 ms with racker imported) decides when the engine hears of
the last lease. It writes the same rows as `racker.store.Store.add` (the store creates the
table before dnsmasq starts).
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

LEASE_ACTIONS = ("add", "old", "del")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
KIND = "lease"
"""`racker.store.EventKind.LEASE`"""


def event_of(args: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """(MAC, detail) of one hook call, or None for calls that are not node events (pure)."""
    if len(args) >= 3 and args[0] in LEASE_ACTIONS:
        mac = args[1].strip().lower().replace("-", ":")
        if not _MAC.match(mac):  # e.g. an InfiniBand or client-id lease: not one of our nodes
            return None
        detail = {"action": args[0], "ip": args[2]}
        if len(args) > 3:
            detail["hostname"] = args[3]
        return mac, detail
    if len(args) >= 4 and args[0] == "tftp":
        return "", {"action": "tftp", "size": args[1], "ip": args[2], "file": args[3]}
    return None


def record(state_dir: Path, mac: str, detail: dict[str, str]) -> None:
    """Append the event to `<state>/racker.db` in one transaction."""
    db = sqlite3.connect(state_dir / "racker.db", timeout=30, isolation_level=None)
    try:
        db.execute("INSERT INTO events (ts, mac, kind, stage, detail) VALUES (?, ?, ?, ?, ?)",
                   (time.time(), mac, KIND, None, json.dumps(detail, sort_keys=True)))
    finally:
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -I -S leasehook.py --state-dir DIR ACTION ARGS...`"""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--state-dir":
        print("usage: leasehook --state-dir DIR ACTION ARGS...", file=sys.stderr)
        return 0
    found = event_of(args[2:])
    if found is None:
        return 0
    try:
        record(Path(args[1]), *found)
    except sqlite3.Error as e:
        print(f"racker lease hook: cannot record {found[0]}: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
