"""Shell blocks of the user guide (docs/*.md): ```sh blocks, ```sh sim blocks that the e2e
test runs inside a simulated rack, and the ```sh simhost block of the simulator page that it runs
on the host as written."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
README = DOCS.parent / "README.md"
_BLOCK = re.compile(r"^```(sh(?: sim| simhost)?)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(kind: str | None = None) -> list[tuple[Path, str]]:
    """(file, text) of every shell block, or of those fenced exactly as `kind`."""
    out = []
    for md in sorted(DOCS.glob("*.md")):
        for m in _BLOCK.finditer(md.read_text()):
            if kind is None or m.group(1) == kind:
                out.append((md, m.group(2)))
    return out
