"""`racker node timeline MAC`: what happened to a node, with times (pure formatting)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from racker.core.events import Event, EventKind


def printable(value: object) -> str:
    """`value` as text safe for a terminal: every character that is not printable (escape
    sequences, newlines, bidirectional overrides) and the backslash itself written as an
    escape, so that what a client sent can neither move the cursor nor pass for another line."""
    out = []
    for c in str(value):
        if c == "\\":
            out.append("\\\\")
        elif c.isprintable():
            out.append(c)
        else:
            out.append(c.encode("unicode_escape").decode("ascii"))
    return "".join(out)


FOREIGN = " [not from the node's address]"


def describe(e: Event) -> str:
    """One event in words; what clients sent is escaped (`printable`)."""
    d: Mapping[str, Any] = {k: printable(v) for k, v in e.detail.items()}
    if e.kind is EventKind.LEASE:
        return f"DHCP lease {d.get('action', '')} {d.get('ip', '')}".rstrip()
    if e.kind is EventKind.REQUEST:
        query = f"?{d['query']}" if d.get("query") else ""
        foreign = FOREIGN if e.detail.get("foreign") is True else ""
        return (f"HTTP {d.get('path', '')}{query} → {d.get('status', '')} from "
                f"{d.get('client', '')}{foreign}")
    if e.kind is EventKind.STAGE:
        if d.get("result") == "ok":
            return f"stage {e.stage} done" + (f" (BMC at {d['bmc']})" if d.get("bmc") else "")
        return f"stage {printable(e.stage)} started"
    if e.kind is EventKind.ERROR:
        return f"error in stage {printable(e.stage)}: {d.get('error', '')}"
    if e.kind is EventKind.RUN:
        command = printable(str(d.get("command", "")))
        if d.get("phase") == "start":
            return f"racker {command} started"
        return f"racker {command} finished (exit code {d.get('exit_code', '')})"
    if e.kind in (EventKind.INSTALLED, EventKind.BOOTED):
        return f"node reported {e.kind.value}"
    if e.kind is EventKind.INVENTORY:
        return f"node reported its hardware: {d.get('summary', '')}".rstrip(": ")
    if e.kind is EventKind.CABLING:
        return f"cabling check: {d.get('problem', '')}"
    if e.kind is EventKind.CONSOLE:
        state = e.detail.get("state")
        what = {"capturing": "console capture: Serial over LAN",
                "unsupported": "console capture: none, the BMC has no serial console",
                "lost": "console capture interrupted"}.get(str(state), f"console {d.get('state')}")
        return what + (f" ({d['detail']})" if d.get("detail") else "")
    if e.kind is EventKind.INSTALL_FAILED:
        journal = e.detail.get("journal")
        lines = [printable(x) for x in journal] if isinstance(journal, list) else []
        status = e.detail.get("exit_status")
        head = "node reported install-failed" + (
            f" (exit status {printable(status)})" if status is not None else "")
        return "\n".join([head + (", its journal's tail:" if lines else ""),
                           *(f"    | {x}" for x in lines)])
    return e.kind.value


def timeline_lines(events: Sequence[Event], *, utc: bool = False,
                   console: Sequence[tuple[float, str]] = ()) -> list[str]:
    """`time  +seconds since the first event  what` per event, oldest first by event time (the
    order events reached the store is not the order they happened); with `console`, the
    node's console lines (time, text) interleaved as `console | text`."""
    entries = sorted([(e.ts, 0, describe(e)) for e in events]
                     + [(ts, 1, f"console | {_shown(text)}") for ts, text in console],
                     key=lambda x: (x[0], x[1]))  # stable: equal times keep their order
    if not entries:
        return []
    start = entries[0][0]
    conv = time.gmtime if utc else time.localtime
    out = []
    for ts, _, what in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", conv(ts)) + f".{int(ts * 1000) % 1000:03d}"
        out.append(f"{stamp}  +{ts - start:8.2f}s  {what}")
    return out


def _shown(text: str) -> str:
    """A console log line as shown: it was escaped when recorded (`consolelines.clean`), so
    only what is still not printable (a log edited by hand) is replaced."""
    return "".join(c if c.isprintable() else "?" for c in text)
