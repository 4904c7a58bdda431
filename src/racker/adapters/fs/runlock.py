"""One running racker of a kind per state folder: an advisory lock the kernel releases.

`racker bootstrap` and `racker apply` share `<state>/run.lock` (one provisioning run at a time);
`racker serve` holds `<state>/serve.lock` (one long-running server). The lock is `flock` on an
open file: it goes away with the process, however the process ends (kill -9 included), so a
crash never leaves a stale lock to clean up. The file also names its holder (pid, command,
start time) so that the refusal can say which run is in the way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from racker.errors import RackerError, Where


class AlreadyRunning(RackerError):
    """Another racker holds the lock this command needs."""


def holder_text(pid: int, command: str, started: float) -> str:
    """What the lock file says about its holder (one line)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    return f"pid {pid}: {command} (started {stamp})\n"


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode(errors="replace").strip()
        if text:
            return text
    return "another racker process"


@contextlib.contextmanager
def held(lock_file: Path, command: str) -> Iterator[None]:
    """Hold `lock_file` while the block runs; AlreadyRunning at once (no waiting), naming the
    holder, when another process holds it. RackerError naming the path when the state folder
    cannot hold a lock file (read-only, full, not a folder)."""
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise RackerError(f"cannot create the lock file {lock_file}: {e.strerror}",
                          where=Where(file=str(lock_file)),
                          hint="racker's state folder (RACKER_STATE_DIR) must be a writable "
                               "folder with free space") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise AlreadyRunning(
                f"{command} refused: {_read_holder(fd)} is running on this state folder",
                where=Where(file=str(lock_file)),
                hint="wait for it to finish or stop it (Ctrl-C, or kill PID); its lock goes "
                     "away with it") from None
        # NOTE: rewritten in place, not atomically replaced: the lock lives on this inode.
        # A reader that loses the race sees an empty file and says "another racker process".
        with contextlib.suppress(OSError):  # a full disk must not stop the run it protects
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_text(os.getpid(), command, time.time()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock (the kernel does the same if we die first)


def holder(lock_file: Path) -> str | None:
    """What the lock file says of the process holding it (`pid N: COMMAND (started …)`), or
    None when no process holds it (or there is no such file). Takes the lock for an instant
    when it is free, as a holder would: a probe, never a wait."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            return _read_holder(fd)
        return None
    finally:
        os.close(fd)  # releases the shared lock taken above, if any
