"""The hosts file ($RACKER_HOSTS_FILE, default /etc/hosts): racker's lines, nothing else touched.

Reading and writing only; what the lines are and how they merge is `racker.core.render.hosts`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.core.render.hosts import HostsEntry, is_managed, merge
from racker.errors import RackerError, Where

# Bytes that are not UTF-8 (old latin-1 comments) must survive a rewrite unchanged.
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


def read_text(path: Path) -> str:
    """The whole hosts file as text (empty when it cannot be read: names are a convenience)."""
    try:
        return path.read_bytes().decode(_ENCODING, "replace")
    except OSError:
        return ""


def read_managed(path: Path) -> tuple[str, ...]:
    """The racker-managed lines currently in the hosts file (none when it does not exist)."""
    try:
        text = path.read_bytes().decode(_ENCODING, _ERRORS)
    except FileNotFoundError:
        return ()
    return tuple(line.rstrip("\r\n") for line in text.splitlines() if is_managed(line))


def update_hosts(path: Path, entries: Sequence[HostsEntry]) -> bool:
    """Replace racker's lines in the hosts file by `entries`; True when the file changed.

    A symlinked hosts file is written through to its target; mode and owner are kept. When the
    file is a mount point (a container's bind-mounted /etc/hosts, or the only writable path in a
    read-only /etc as racker's service sees it) it cannot be renamed over, and is rewritten in
    place instead.
    """
    target = path.resolve()
    try:
        raw = target.read_bytes()
        st: os.stat_result | None = target.stat()
    except FileNotFoundError:
        raw, st = b"", None
    except OSError as e:
        raise RackerError(f"cannot read the hosts file: {e.strerror}",
                          where=Where(file=str(path))) from e
    new = merge(raw.decode(_ENCODING, _ERRORS), entries).encode(_ENCODING, _ERRORS)
    if new == raw:
        return False
    mode = (st.st_mode & 0o7777) if st else 0o644
    try:
        try:
            write_atomic(target, new, mode=mode)
        except OSError as e:
            # EROFS: the unit's ProtectSystem=strict leaves /etc read-only and only the file
            # itself writable (ReadWritePaths=/etc/hosts)
            if e.errno not in (errno.EBUSY, errno.EXDEV, errno.EROFS):
                raise
            _write_in_place(target, new)
        if st is not None and (st.st_uid, st.st_gid) != _owner(target):
            os.chown(target, st.st_uid, st.st_gid)
    except OSError as e:
        raise RackerError(
            f"cannot write the hosts file: {e.strerror}", where=Where(file=str(path)),
            hint="racker needs write access to the hosts file; set RACKER_HOSTS_FILE to use "
                 "another one",
        ) from e
    return True


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def _write_in_place(path: Path, data: bytes) -> None:
    # Not atomic, but the only way to change a bind-mounted file.
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
