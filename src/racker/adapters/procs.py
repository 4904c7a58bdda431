"""Whether a process still runs, as /proc tells."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """True when process `pid` exists and has not exited (a zombie, not yet reaped, has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split(" ", 1)[0] != "Z"
