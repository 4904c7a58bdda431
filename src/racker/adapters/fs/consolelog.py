"""Each node's serial console on disk: `<state>/console/<mac>.log` and its one rotation.

Lines are appended whole (one `write` each batch, the file opened with O_APPEND), so a reader
never sees half a line; at `limit / 2` bytes the log is renamed to `.log.1` (replacing the
older one), which bounds a node's console to `limit` bytes. A full filesystem drops lines and
counts them; it never stops a provisioning run. Files are the owner's only (a console can show
what a node prints of its configuration).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from racker.core.consolelines import LineSplitter, format_line, parse_line

LIMIT = 4 << 20
"""Bytes of console kept per node, the rotation included."""


def log_path(console_dir: Path, mac: str) -> Path:
    """The console log of the node with primary MAC `mac`."""
    return console_dir / f"{mac.lower().replace(':', '-')}.log"


class ConsoleLog:
    """Appends one node's console, line by line with times; rotates at `limit / 2`."""

    def __init__(self, console_dir: Path, mac: str, limit: int = LIMIT,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = log_path(console_dir, mac)
        self.limit = limit
        self.clock = clock
        self.dropped = 0
        """Lines lost to a failing write (a full filesystem)."""
        self._split = LineSplitter()
        self._fd: int | None = None
        self._size = 0

    def write(self, data: bytes) -> int:
        """Append the lines `data` completes; how many were written."""
        return self.append_lines(self._split.feed(data))

    def feed(self, data: bytes) -> list[str]:
        """Append the lines `data` completes; those lines (written or not)."""
        lines = self._split.feed(data)
        self.append_lines(lines)
        return lines

    def note(self, text: str) -> None:
        """A line of racker's own about the console (`[racker] …`), e.g. that SOL ended."""
        self.append_lines([*self._split.flush(), f"[racker] {text}"])

    def close(self) -> None:
        """Write the unfinished last line, if any, and close the file."""
        self.append_lines(self._split.flush())
        self._close_fd()

    def append_lines(self, lines: list[str]) -> int:
        """Append `lines` (cleaned already) with the time now; how many were written."""
        if not lines:
            return 0
        stamp = format_line(self.clock(), "")  # one time for the batch, as it arrived at once
        data = "".join(f"{stamp}{line}\n" for line in lines).encode()
        try:
            fd = self._open(len(data))
            written = os.write(fd, data)
            self._size += max(written, 0)
            if written != len(data):
                raise OSError("short write")
        except OSError:
            self.dropped += len(lines)
            self._close_fd()  # opened again next time (the disk may have room by then)
            return 0
        return len(lines)

    def _open(self, adding: int) -> int:
        """The log's descriptor, rotated first when `adding` bytes would pass `limit / 2`.
        NOTE: kept open between writes: a console sends many small packets, and opening the
        file for each cost more than the write (one provisioning run writes a node's log)."""
        if self._fd is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o600)
            self._size = os.fstat(self._fd).st_size
        if self._size + adding > self.limit // 2 and self._size > 0:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self._close_fd()
            return self._open(adding)
        return self._fd

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_lines(console_dir: Path, mac: str) -> list[tuple[float, str]]:
    """Every kept console line of the node, oldest first, as (time, text)."""
    path = log_path(console_dir, mac)
    out: list[tuple[float, str]] = []
    for p in (path.with_name(path.name + ".1"), path):
        with contextlib.suppress(FileNotFoundError):
            for raw in p.read_text(errors="replace").splitlines():
                parsed = parse_line(raw)
                if parsed is not None:
                    out.append(parsed)
    return out


TAIL_BLOCK = 16 << 10
"""Bytes read at a time from a log's end for its last lines."""


def tail(console_dir: Path, mac: str, n: int) -> list[tuple[float, str]]:
    """The node's last `n` console lines, read from the end (a failure report wants 20 lines
    of a log of up to 2 MiB; the whole of it cost more than capturing it)."""
    path = log_path(console_dir, mac)
    found: list[tuple[float, str]] = []
    for p in (path, path.with_name(path.name + ".1")):
        if len(found) >= n:
            break
        found = _last_lines(p, n - len(found)) + found
    return found


def _last_lines(path: Path, n: int) -> list[tuple[float, str]]:
    """The last `n` log lines of the file `path` (none when it is missing)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return []
    with f:
        end = start = f.seek(0, os.SEEK_END)
        while True:
            start = max(0, start - TAIL_BLOCK)
            f.seek(start)
            raws = f.read(end - start).split(b"\n")
            if start > 0:
                raws = raws[1:]  # the block may begin inside a line
            out: list[tuple[float, str]] = []
            for raw in reversed(raws):
                parsed = parse_line(raw.decode(errors="replace"))
                if parsed is not None:
                    out.append(parsed)
                    if len(out) == n:
                        return out[::-1]
            if start == 0:
                return out[::-1]


def follow(console_dir: Path, mac: str, interval: float = 0.5,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[tuple[float, str]]:
    """Console lines as they are appended (after the ones there at the call, not at the first
    `next`), forever; survives the rotation (a renamed log is read to its end first)."""
    path = log_path(console_dir, mac)
    try:
        st = path.stat()
        pos, ino = st.st_size, st.st_ino
    except FileNotFoundError:
        pos, ino = 0, None
    return _follow(path, pos, ino, interval, sleep)


def _follow(path: Path, pos: int, ino: int | None, interval: float,
            sleep: Callable[[float], None]) -> Iterator[tuple[float, str]]:
    rest = b""
    while True:
        try:
            st = path.stat()
        except FileNotFoundError:
            sleep(interval)
            continue
        if ino is not None and st.st_ino != ino:  # rotated: finish the old one, start anew
            yield from _read_from(path.with_name(path.name + ".1"), pos, rest)
            pos, rest, ino = 0, b"", st.st_ino
        ino = st.st_ino
        if st.st_size > pos:
            with path.open("rb") as f:
                f.seek(pos)
                data = f.read(st.st_size - pos)
            pos += len(data)
            *lines, rest = (rest + data).split(b"\n")
            for raw in lines:
                parsed = parse_line(raw.decode(errors="replace"))
                if parsed is not None:
                    yield parsed
        else:
            sleep(interval)


def _read_from(path: Path, pos: int, rest: bytes) -> Iterator[tuple[float, str]]:
    with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
        f.seek(pos)
        data = rest + f.read()
        for raw in data.split(b"\n"):
            parsed = parse_line(raw.decode(errors="replace"))
            if parsed is not None:
                yield parsed


def _held_path(console_dir: Path, mac: str) -> Path:
    return log_path(console_dir, mac).with_suffix(".held")


def mark_held(console_dir: Path, mac: str) -> None:
    """Note that this process holds the node's SOL session now (the `ipmi` helper says so).
    NOTE: a hint, not state: written without fsync (a run marks 48 nodes at once on its event
    loop), and a reader checks that the pid still runs."""
    with contextlib.suppress(OSError):
        path = _held_path(console_dir, mac)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, path)


def clear_held(console_dir: Path, mac: str) -> None:
    """This process no longer holds the node's SOL session."""
    with contextlib.suppress(OSError):
        path = _held_path(console_dir, mac)
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()


def holder(console_dir: Path, mac: str) -> int | None:
    """The pid of the racker that holds the node's SOL session, if it still runs."""
    try:
        pid = int(_held_path(console_dir, mac).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid
