"""The marker file that says "this folder is racker's state" (`<state dir>/.racker-state`).

`racker install` writes it into the state folder it creates; `racker uninstall -purge` removes
only a folder that has it, so a mistyped RACKER_STATE_DIR (`/var/lib`, `/srv`) is never deleted.
"""

from __future__ import annotations

from pathlib import Path

MARKER_NAME = ".racker-state"
MARKER_TEXT = ("This folder holds racker's state; 'racker uninstall -purge' removes it only "
               "while this file is here.\n")


def marker(state_dir: Path) -> Path:
    """The marker file of `state_dir`."""
    return state_dir / MARKER_NAME


def is_marked(state_dir: Path) -> bool:
    """True when `state_dir` holds racker's marker file (a regular file, not a link)."""
    m = marker(state_dir)
    return m.is_file() and not m.is_symlink()
