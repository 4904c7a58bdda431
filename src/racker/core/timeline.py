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
    return e.kind.value


def timeline_lines(events: Sequence[Event], *, utc: bool = False) -> list[str]:
    """`time  +seconds since the first event  what` per event, oldest first by event time (the
    order events reached the store is not the order they happened)."""
    if not events:
        return []
    events = sorted(events, key=lambda e: e.ts)  # stable: equal times keep their order
    start = events[0].ts
    conv = time.gmtime if utc else time.localtime
    out = []
    for e in events:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", conv(e.ts)) + f".{int(e.ts * 1000) % 1000:03d}"
        out.append(f"{stamp}  +{e.ts - start:8.2f}s  {describe(e)}")
    return out
