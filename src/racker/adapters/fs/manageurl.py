"""`<state>/manage-url`: the address of the running management listener, so that a command
that borrows `racker serve`'s services can tell the operator where serve's dashboard shows
its run (serve may run with other settings than the command)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic

URL_FILE = "manage-url"


def url_path(state_dir: Path) -> Path:
    """Where the running listener records its URL."""
    return state_dir / URL_FILE


def write_url(state_dir: Path, url: str) -> None:
    """Record the listener's URL (atomically; readable by root only, like the state folder)."""
    write_atomic(url_path(state_dir), url + "\n", mode=0o600)


def remove_url(state_dir: Path, url: str) -> None:
    """Forget the URL when the listener stops, unless another listener recorded its own."""
    with contextlib.suppress(OSError):
        if read_url(state_dir) == url:
            url_path(state_dir).unlink()


def read_url(state_dir: Path) -> str | None:
    """The recorded URL, None when there is none (no listener, or an unreadable file)."""
    try:
        text = url_path(state_dir).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    # only a URL as write_url wrote it: never echo arbitrary bytes to a terminal
    if not text.startswith("http://") or not text.isprintable() or len(text) > 200:
        return None
    return text
