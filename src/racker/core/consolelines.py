"""A serial console as lines with times (pure): the bytes a host writes split into lines,
cleaned of terminal control sequences, and the line format of racker's console logs.

A console log line is `2026-12-04T03:38:32.123Z text`: UTC with milliseconds, one space, the
line as the host wrote it with every control sequence removed and every other character that
is not printable escaped (`racker.core.timeline.printable`).
"""

from __future__ import annotations

import calendar
import codecs
import datetime
import re
import time
from dataclasses import dataclass, field

from racker.core.timeline import printable

MAX_LINE = 4096
"""Characters of one line at most; a host that writes no newline gets its output cut here."""

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab, newline and return
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z (.*)$")


def clean(text: str) -> str:
    """`text` without terminal control sequences, the rest printable (`printable`)."""
    if text.isprintable() and "\\" not in text:  # the usual line: nothing to remove or escape
        return text
    text = _CONTROL.sub("", text).replace("\t", "    ")
    if text.isprintable() and "\\" not in text:
        return text
    return printable(text)


@dataclass
class LineSplitter:
    """Cuts a byte stream into lines: `\\n` ends a line, `\\r` alone too (firmware redraws a
    line with it), empty lines are dropped."""

    _rest: str = ""
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))
    """Keeps a character cut between two SOL packets whole."""

    def feed(self, data: bytes) -> list[str]:
        """The lines `data` completes, cleaned."""
        text = self._rest + self._decoder.decode(data)
        parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._rest = parts.pop()
        out = [c for c in (clean(p) for p in parts) if c.strip()]
        while len(self._rest) > MAX_LINE:
            out.append(clean(self._rest[:MAX_LINE]))
            self._rest = self._rest[MAX_LINE:]
        return out

    def flush(self) -> list[str]:
        """The unfinished line, if any (the console is closing)."""
        rest, self._rest = self._rest + self._decoder.decode(b"", final=True), ""
        line = clean(rest)
        return [line] if line.strip() else []


def format_line(ts: float, text: str) -> str:
    """One console log line (without its newline)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + \
        f".{int(ts * 1000) % 1000:03d}Z {text}"


def parse_line(line: str) -> tuple[float, str] | None:
    """(time, text) of a console log line, None if it is not one."""
    m = _STAMP.match(line.rstrip("\n"))
    if m is None:
        return None
    try:
        # NOTE: not strptime, which cost more than the rest of reading a log
        stamp = datetime.datetime.fromisoformat(m.group(1))
    except ValueError:
        return None
    return calendar.timegm(stamp.timetuple()) + int(m.group(2)) / 1000, m.group(3)


_TIERS = (
    ("critical", "panic", "fatal"),  # Ignition's CRITICAL, a kernel panic: the cause
    ("error",),
    ("emergency shell", "emergency mode"),  # where the node stopped, not why
    ("fail", "cannot", "not found", "timed out"),
)


_STOPS = ("emergency mode", "emergency shell", "emergency.target", "kernel panic - not syncing")
"""What a host writes when it has stopped for good: systemd's or the initrd's emergency shell
(where Flatcar stops when Ignition fails), a kernel panic."""


def _from_host(line: str) -> bool:
    """A line the host wrote (not empty, not one of racker's own `[racker] …` notes)."""
    return bool(line.strip()) and not line.startswith("[racker] ")


def is_stop_line(line: str) -> bool:
    """`line` says the host stopped for good (it will not report or boot on by itself)."""
    return _from_host(line) and any(w in line.lower() for w in _STOPS)


def telling_line(lines: list[str]) -> str | None:
    """The console line that best says why a node stopped: the last one of the most telling
    kind (Ignition's `CRITICAL` or a kernel panic, then an error, then the emergency shell,
    then any failure), else the last line; None without lines. racker's own notes
    (`[racker] …`) never count."""
    host = [line for line in lines if _from_host(line)]
    for words in _TIERS:
        found = [line for line in host if any(w in line.lower() for w in words)]
        if found:
            return found[-1]
    return host[-1] if host else None


_SINCE_FORMATS = ("%Y%m%d-%H%M%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                  "%Y-%m-%d %H:%M", "%Y-%m-%d")


def parse_since(text: str) -> float | None:
    """The time a `--since RUN` names: a run's log folder name (`20261204-033832`, as the
    `Logs:` line of a run prints it) or a local date and time (`2026-12-04 03:38`); None if it
    is neither."""
    for fmt in _SINCE_FORMATS:
        try:
            return time.mktime(time.strptime(text.strip(), fmt))
        except ValueError:
            continue
    return None
