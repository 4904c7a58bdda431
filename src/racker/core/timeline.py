"""`racker node timeline MAC`: what happened to a node, with times (pure formatting)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from racker.core.events import Event, EventKind


def describe(e: Event) -> str:
    """One event in words."""
    d: Mapping[str, Any] = e.detail
    if e.kind is EventKind.LEASE:
        return f"DHCP lease {d.get('action', '')} {d.get('ip', '')}".rstrip()
    if e.kind is EventKind.REQUEST:
        query = f"?{d['query']}" if d.get("query") else ""
        return f"HTTP {d.get('path', '')}{query} → {d.get('status', '')} from {d.get('client', '')}"
    if e.kind is EventKind.STAGE:
        if d.get("result") == "ok":
            return f"stage {e.stage} done" + (f" (BMC at {d['bmc']})" if d.get("bmc") else "")
        return f"stage {e.stage} started"
    if e.kind is EventKind.ERROR:
        return f"error in stage {e.stage}: {d.get('error', '')}"
    if e.kind is EventKind.RUN:
        if d.get("phase") == "start":
            return f"racker {d.get('command', '')} started"
        return f"racker {d.get('command', '')} finished (exit code {d.get('exit_code', '')})"
    if e.kind in (EventKind.INSTALLED, EventKind.BOOTED):
        return f"node reported {e.kind.value}"
    return e.kind.value


def timeline_lines(events: Sequence[Event], *, utc: bool = False) -> list[str]:
    """`time  +seconds since the first event  what` per event."""
    if not events:
        return []
    start = events[0].ts
    conv = time.gmtime if utc else time.localtime
    out = []
    for e in events:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", conv(e.ts)) + f".{int(e.ts * 1000) % 1000:03d}"
        out.append(f"{stamp}  +{e.ts - start:8.2f}s  {describe(e)}")
    return out
