"""The management API's token: a random secret in `<state>/api-token`, mode 0600.

Created on first need, rotated on request, written atomically. Readers re-check the file's
modification time, so a rotation takes effect at once in a running listener.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.errors import InputError, Where

TOKEN_FILE = "api-token"


def token_path(state_dir: Path) -> Path:
    """Where the token lives."""
    return state_dir / TOKEN_FILE


def read_token(path: Path) -> str | None:
    """The token, or None when there is none yet. InputError when others may read the file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise InputError(f"the API token file may be read by others (mode "
                         f"{stat.S_IMODE(st.st_mode):04o})",
                         where=Where(file=str(path)),
                         hint=f"chmod 600 {path}, or rotate it with 'racker api token --rotate'")
    token = path.read_text().strip()
    return token or None


def new_token(path: Path) -> str:
    """Write a new random token (replacing any old one) and return it."""
    token = secrets.token_urlsafe(32)
    write_atomic(path, token + "\n", mode=0o600)
    return token


def ensure_token(path: Path) -> str:
    """The token, created when missing."""
    return read_token(path) or new_token(path)


@dataclass
class TokenFile:
    """The token as a running listener sees it: re-read when the file changes."""

    path: Path
    _stamp: tuple[int, int] | None = None
    _token: str | None = None

    def current(self) -> str | None:
        """The token now in the file (None: no token, so nothing needing it is allowed)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._token = None, None
            return None
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            self._token, self._stamp = read_token(self.path), stamp
        return self._token
