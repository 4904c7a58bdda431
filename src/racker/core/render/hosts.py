"""Hosts-file entries for the planned nodes, and merging them into an existing hosts file.

Racker marks every line it writes with a trailing comment; a merge replaces exactly the marked
lines (also stale ones from an earlier subnet prefix or cluster name) and keeps every other line
byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from racker.model import ClusterPlan, Provision

MARKER = "managed by racker"


@dataclass(frozen=True)
class HostsEntry:
    """One hosts line: an address and its names."""

    ip: str
    names: tuple[str, ...]

    def line(self) -> str:
        """The line as racker writes it, with the marker comment."""
        return f"{self.ip} {' '.join(self.names)} # {MARKER}"


def hosts_entries(plan: ClusterPlan) -> tuple[HostsEntry, ...]:
    """Every node's `IP name`.

    For Lokomotive, first `IP <cluster>.<domain> <cluster>-etcd<i>.<domain>` per controller, so
    that the API server name resolves to every controller.
    """
    o = plan.options
    out: list[HostsEntry] = []
    if o.provision is Provision.LOKOMOTIVE:
        api = f"{o.cluster_name}.{o.k8s_domain_name}"
        out += [HostsEntry(c.ip, (api, f"{o.cluster_name}-etcd{c.index}.{o.k8s_domain_name}"))
                for c in plan.controllers]
    out += [HostsEntry(n.ip, (n.name,)) for n in plan.nodes]
    return tuple(out)


def is_managed(line: str) -> bool:
    """True for a line racker wrote: an entry whose trailing comment is exactly the marker."""
    data, sep, comment = line.partition("#")
    return bool(sep) and bool(data.strip()) and comment.strip() == MARKER


def merge(existing: str, entries: Sequence[HostsEntry]) -> str:
    """`existing` with racker's lines replaced by `entries`, all other lines unchanged.

    The new block goes where the first old racker line was, or at the end.
    """
    # NOTE: only "\n" ends a line of /etc/hosts; str.splitlines would also split at form
    # feeds and other separators that may stand inside a comment
    parts = existing.split("\n")
    lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    kept: list[str] = []
    insert_at: int | None = None
    for line in lines:
        if is_managed(line):
            if insert_at is None:
                insert_at = len(kept)
            continue
        kept.append(line)
    if insert_at is None:
        insert_at = len(kept)
    if insert_at > 0 and not kept[insert_at - 1].endswith(("\n", "\r")):
        kept[insert_at - 1] += "\n"
    block = [e.line() + "\n" for e in entries]
    return "".join(kept[:insert_at] + block + kept[insert_at:])
