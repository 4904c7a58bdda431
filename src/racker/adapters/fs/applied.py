"""What Ignition each provisioned node last got: `<state>/applied/<MAC>.sha256`.

`racker apply` compares a node's current Ignition with this to decide on an Ignition-only
re-run. A node without a record is compared with what racker rendered for it (the folder as
`racker bootstrap` wrote it), so edits made after the bootstrap are found too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic

_WRITERS = 16


def ignition_hash(ignition_json: str) -> str:
    """The SHA-256 of a node's Ignition JSON text (compact form)."""
    return hashlib.sha256(ignition_json.encode()).hexdigest()


class AppliedHashes:
    """The per-node records under the state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "applied"

    def path(self, mac: str) -> Path:
        return self.dir / f"{mac}.sha256"

    def get(self, mac: str) -> str | None:
        """The recorded hash, or None."""
        try:
            text = self.path(mac).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text or None

    def record(self, mac: str, digest: str) -> None:
        """Remember that node `mac` now runs the Ignition of `digest`."""
        write_atomic(self.path(mac), digest + "\n")

    def record_many(self, digests: Mapping[str, str]) -> None:
        """`record` for many nodes (MAC → digest) at once."""
        # NOTE: each write waits for its fsync; in parallel the file system commits them
        # together (one by one, 48 records took a second on a busy management node)
        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            list(pool.map(lambda item: self.record(*item), digests.items()))

    def forget(self, mac: str) -> None:
        """Drop the record (the node leaves, or its server is replaced)."""
        self.path(mac).unlink(missing_ok=True)
