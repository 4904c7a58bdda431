"""Use cases: `racker node timeline MAC`: what the event store holds about one node;
`racker node console-log MAC`: its serial console as racker recorded it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from racker.adapters.fs.consolelog import follow, read_lines
from racker.adapters.fs.store import Store
from racker.app.hardware import node_of
from racker.core.events import Event
from racker.model import Node
from racker.paths import Paths


def node_events(paths: Paths, mac: str, open_store: Callable[[], Store]
                ) -> tuple[Node, list[Event]]:
    """The node of `mac` (any of its MACs) and the events of its primary and BMC MACs, oldest
    first by event time (ties in the order they were recorded)."""
    node = node_of(paths, mac)
    # NOTE: by time, not by row id: the lease hook's events reach the store up to a spool pass
    # after they happened, so insertion order can put a DHCP lease after a later request.
    with open_store() as store:
        events = sorted(store.events(node.primary_mac) + store.events(node.bmc_mac),
                        key=lambda e: (e.ts, e.id))
    return node, events


def node_console(paths: Paths, mac: str, since: float | None = None
                 ) -> tuple[Node, list[tuple[float, str]]]:
    """The node of `mac` and its recorded console lines (time, text), oldest first, from
    `since` on (a time) if given."""
    node = node_of(paths, mac)
    lines = read_lines(paths.console_dir, node.primary_mac)
    return node, [x for x in lines if since is None or x[0] >= since]


def follow_console(paths: Paths, node: Node) -> Iterator[tuple[float, str]]:
    """The node's console lines as racker records them, forever (Ctrl-C ends it)."""
    return follow(paths.console_dir, node.primary_mac)


def events_json(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Events as `racker node timeline --json` prints them (and the API returns them)."""
    return [{"ts": e.ts, "mac": e.mac, "kind": e.kind.value, "stage": e.stage,
             "detail": dict(e.detail)} for e in events]
