"""The installer's failure report (pure): the tail of its journal, as the node sent it, bounded
and made safe to show on a terminal.

The installer's unit posts `{"event": "install-failed", "exit_status": N, "journal_b64": "…"}`
when any of its steps fails (docs/troubleshooting.md). The journal is base64 on the wire because
the installer has no JSON encoder: a shell `printf` of base64 text is always valid JSON.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from racker.core.timeline import printable

JOURNAL_LINES = 100
"""Lines of the installer's journal kept (the installer sends as many)."""
JOURNAL_BYTES = 32 * 1024
"""Bytes of the journal kept at most, whatever the node sends."""
SHOWN_LINES = 20
"""Lines of a report shown in a failure summary (the timeline and the run's log keep all)."""


def journal_of(body: Mapping[str, object]) -> list[str]:
    """The journal lines of a report body (`journal_b64`, or `journal` as plain text), at most
    the last JOURNAL_LINES lines and JOURNAL_BYTES bytes, each escaped (`printable`): what a
    node sends can neither move the operator's cursor nor pass for another line."""
    raw: bytes
    encoded = body.get("journal_b64")
    if isinstance(encoded, str):
        # NOTE: the body is bounded (MAX_BODY), so decoding all of it costs little
        compact = "".join(encoded.split())
        try:
            raw = base64.b64decode(compact + "=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            raw = b""
    elif isinstance(body.get("journal"), str):
        raw = str(body["journal"]).encode()
    else:
        raw = b""
    text = raw[-JOURNAL_BYTES:].decode("utf-8", errors="replace")
    lines = [printable(line.rstrip("\r")) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines[-JOURNAL_LINES:]


def exit_status_of(body: Mapping[str, object]) -> int | None:
    """The installer's exit status if the body gives a plausible one."""
    value = body.get("exit_status")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
        return value
    return None


def failure_reason(journal: Sequence[str], exit_status: int | None) -> str:
    """The one line a stage failure names: the journal's last line that says something about
    the failure (an error, else the last line). systemd's own lines about the unit (`Main
    process exited`, `Failed with result`) only repeat that it failed, so the installer's
    lines come first."""
    status = f" (exit status {exit_status})" if exit_status is not None else ""
    every = [line.strip() for line in journal if line.strip()]
    lines = [line for line in every if " systemd[1]: " not in line] or every
    words = ("error", "fail", "fatal", "cannot", "can't", "no such", "denied", "refused")
    telling = [line for line in lines if any(w in line.lower() for w in words)]
    last = (telling or lines or [""])[-1]
    # NOTE: a journal line begins with its time and the unit; the message is what matters
    message = last.split(": ", 1)[1] if ": " in last and "[" in last.split(": ", 1)[0] else last
    if not message:
        return f"the installer failed{status}; it sent no journal"
    return f"the installer failed{status}: {message[:200]}"
