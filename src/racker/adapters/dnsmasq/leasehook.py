"""dnsmasq's `--dhcp-script`: every lease change and TFTP transfer becomes an event.

dnsmasq runs the hook as `HOOK add|old|del MAC IP [HOSTNAME]` and `HOOK tftp SIZE IP FILE`, one
call after the other. The hook is a few lines of `sh` that drop one file per call into a spool
folder; racker (the process supervising dnsmasq) moves the files into the event store. The hook
must never fail loudly: a broken hook must not stop DHCP.

NOTE: a rack of 48 servers makes about 250 hook calls while it is provisioned, one after the
other. A Python hook cost 27 ms of CPU per call (6.5 s in all, on a management node that is
busy serving the same rack); `sh` and `date` cost about 2.5 ms, `sh` alone about 1.2 ms: the
call's time is the file's modification time, not a `date` run, and the store sees the events
within one collection interval instead of after the queue of hook runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from racker.adapters.fs.store import Store
from racker.core.events import EventKind

LEASE_ACTIONS = ("add", "old", "del")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_NAME = re.compile(r"(\d{10,}\.\d{1,9})-\d+")
_PID_NAME = re.compile(r"(\d{1,9})\.(\d)")
STALE_SEC = 2.0
"""A spool file this old that is still incomplete is dropped (its hook was killed)."""


def hook_script(spool: Path) -> str:
    """The `--dhcp-script`: one file per call, named `<pid>.<n>` (`n` counts up from 0 where an
    uncollected file of a pid used before still exists: `set -C` never overwrites), a line per
    argument. `printf` writes it in one go; the collector skips files without their last line
    and takes the file's modification time as the call's."""
    folder = shlex.quote(str(spool) + "/")
    return ("#!/bin/sh\n"
            "# racker's dnsmasq --dhcp-script (rewritten whenever racker starts dnsmasq).\n"
            "case \"$1\" in add|old|del|tftp) ;; *) exit 0 ;; esac\n"
            "set -C\n"
            "n=0\n"
            f"until printf '%s\\n' \"$@\" > {folder}\"$$.$n\" 2>/dev/null; do\n"
            "  n=$((n + 1)); [ \"$n\" -lt 8 ] || exit 0\n"
            "done\n"
            "exit 0\n")


def event_of(args: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """(MAC, detail) of one hook call, or None for calls that are not node events (pure)."""
    if len(args) >= 3 and args[0] in LEASE_ACTIONS:
        mac = args[1].strip().lower().replace("-", ":")
        if not _MAC.fullmatch(mac):  # e.g. an InfiniBand or client-id lease: not one of our nodes
            return None
        detail = {"action": args[0], "ip": args[2]}
        if len(args) > 3 and args[3]:
            detail["hostname"] = args[3]
        return mac, detail
    if len(args) >= 4 and args[0] == "tftp":
        return "", {"action": "tftp", "size": args[1], "ip": args[2], "file": args[3]}
    return None


def parse_call(name: str, text: str, mtime: float | None = None
               ) -> tuple[float, list[str]] | None:
    """(time, arguments) of one spool file, or None while it is incomplete (pure).

    The time is the file's modification time `mtime` for the hook's `<pid>.<n>` files, the
    name's own for the `<epoch>-<pid>` files of an older racker's hook."""
    m = _NAME.fullmatch(name)
    if m is not None:
        when = float(m.group(1))
    elif mtime is not None and _PID_NAME.fullmatch(name):
        when = mtime
    else:
        return None
    if not text.endswith("\n"):
        return None
    return when, text[:-1].split("\n")


def _order(name: str) -> tuple[int, int]:
    """Calls within one tick of the file system's clock: by pid (dnsmasq runs them one after
    the other, and pids count up), then by `n`."""
    m = _PID_NAME.fullmatch(name)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


class LeaseSpool:
    """The hook's spool folder: `collect()` moves complete calls into the store, oldest first."""

    def __init__(self, folder: Path, store: Store) -> None:
        self.folder = folder
        self.store = store

    def prepare(self) -> None:
        """Create the folder (root only: the file names are predictable)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def close(self) -> None:
        """Record what is left, then close the store."""
        self.collect()
        self.store.close()

    def collect(self) -> int:
        """Record every complete call as an event and remove its file; return how many."""
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return 0
        calls: list[tuple[float, tuple[int, int], str, list[str]]] = []
        for entry in entries:
            try:
                text = Path(entry.path).read_text(errors="replace")
                mtime = entry.stat().st_mtime_ns / 1e9
            except OSError:
                continue
            parsed = parse_call(entry.name, text, mtime)
            if parsed is None:
                self._drop_if_stale(entry)
                continue
            calls.append((parsed[0], _order(entry.name), entry.path, parsed[1]))
        calls.sort()
        recorded = 0
        for when, _, path, args in calls:
            found = event_of(args)
            if found is not None:
                self.store.add(found[0], EventKind.LEASE, detail=found[1], ts=when)
                recorded += 1
            _remove(path)
        return recorded

    @staticmethod
    def _drop_if_stale(entry: os.DirEntry[str]) -> None:
        """A file still incomplete after STALE_SEC belongs to a hook that was killed: its
        event is lost either way, and dnsmasq repeats lease states at its next start."""
        try:
            age = time.time() - entry.stat().st_mtime
        except OSError:
            return
        if age > STALE_SEC:
            _remove(entry.path)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
