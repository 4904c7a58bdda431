"""Which SSH host key `racker apply` expects of a node: the keys the node reported with its
first `booted` after its latest install (pinned in the store), else the one it showed racker
the first time (trust on first use, for nodes installed by an older racker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.store import Store
from racker.core.events import EventKind
from racker.core.hostkeys import known_hosts, last_installed, pinned_keys
from racker.model import PlannedNode


@dataclass(frozen=True)
class HostTrust:
    """The known_hosts file ssh checks a node against."""

    known_hosts: Path
    accept_new: bool = False
    """No key is known yet: ssh pins the one the node shows now (and checks it from then on)."""


def known_hosts_dir(state_dir: Path) -> Path:
    """Racker's known_hosts files, one per node."""
    return state_dir / "ssh-known-hosts"


def host_trust(store: Store, state_dir: Path, node: PlannedNode) -> HostTrust:
    """The node's known_hosts file, written from its pinned keys when it reported any."""
    events = [e for e in store.events(node.mac)
              if e.kind in (EventKind.INSTALLED, EventKind.BOOTED)]
    path = known_hosts_dir(state_dir) / node.mac.replace(":", "-")
    keys = pinned_keys(events)
    if keys:
        write_atomic(path, known_hosts(node.ip, keys), 0o644)
        return HostTrust(path)
    installed = last_installed(events)
    if path.exists() and (installed is None or path.stat().st_mtime >= installed):
        return HostTrust(path)  # pinned on first use, and the node was not reinstalled since
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return HostTrust(path, accept_new=True)
