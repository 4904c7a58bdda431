"""Shell blocks of the user guide (docs/*.md): ```sh blocks, and ```sh sim blocks that the e2e
test runs inside a simulated rack."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
README = DOCS.parent / "README.md"
_BLOCK = re.compile(r"^```(sh(?: sim)?)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(kind: str | None = None) -> list[tuple[Path, str]]:
    """(file, text) of every shell block, or of those fenced exactly as `kind`."""
    out = []
    for md in sorted(DOCS.glob("*.md")):
        for m in _BLOCK.finditer(md.read_text()):
            if kind is None or m.group(1) == kind:
                out.append((md, m.group(2)))
    return out
