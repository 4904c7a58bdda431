"""Folders racker writes into, checked before the first write: a location racker cannot use
(e.g. `RACKER_STATE_DIR=/proc/nope`) is an InputError naming the path and the setting, never
an internal error, and nothing is written before the check."""

from __future__ import annotations

import os
from pathlib import Path

from racker.errors import InputError, Where


def ensure_dir(path: Path, what: str, variable: str, *, create: bool = True) -> Path:
    """`path` as a folder racker can write into (made with its parents when `create`)."""
    hint = (f"set {variable} to a folder racker may write into (run racker as root for the "
            "default locations)")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            raise InputError(f"{what} {path} does not exist", where=Where(variable=variable),
                             hint=hint)
    except OSError as e:
        raise InputError(f"{what} {path} cannot be created: {e.strerror}",
                         where=Where(variable=variable), hint=hint) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path} is not writable", where=Where(variable=variable),
                         hint=hint)
    return path
