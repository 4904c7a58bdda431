"""Use cases: a node's hardware inventory (`racker node show`, `racker status --full`) and the
cabling check over what the store holds.

The installer reports the inventory (`inventory` events, core/hardware.py); the newest one of
each node is its inventory, with the time it was reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from racker.adapters.fs.rackmeta import load_inventory
from racker.adapters.fs.store import Store
from racker.core.cabling import check_hardware, recorded_guid
from racker.core.events import Event, EventKind
from racker.core.hardware import Hardware, hardware_from_json
from racker.errors import InputError, Where
from racker.model import Node, PlannedNode
from racker.paths import Paths


@dataclass(frozen=True)
class Reported:
    """A node's newest inventory and when it came."""

    ts: float
    hardware: Hardware
    client: str = ""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: `{"reported_at": ts, "from": address, **hardware}`."""
        return {"reported_at": self.ts, "from": self.client, **self.hardware.as_json()}


def reported(event: Event | None) -> Reported | None:
    """The inventory an `inventory` event carries, or None (no event, or an unreadable one)."""
    if event is None:
        return None
    data = event.detail.get("hardware")
    if not isinstance(data, dict):
        return None
    try:
        hw = hardware_from_json(data)
    except (KeyError, TypeError, ValueError):  # written by another racker version
        return None
    return Reported(event.ts, hw, str(event.detail.get("client", "")))


def cabling_problems(nodes: Sequence[PlannedNode], store: Store) -> list[str]:
    """The cabling check over what the store holds: each node's newest inventory against its
    row, with the BMC GUID of its last BMC check (`racker status --full`, and a Lokomotive
    bring-up, whose installs lokoctl drives)."""
    guids = {}
    for n in nodes:
        last = store.last_of(n.mac, (EventKind.STAGE,), stage="bmc")
        guid = recorded_guid(last.detail) if last is not None else None
        if guid is not None:
            guids[n.name] = guid
    found = {n.mac: reported(store.last_of(n.mac, (EventKind.INVENTORY,))) for n in nodes}
    out = []
    for n in nodes:
        inv = found[n.mac]
        if inv is not None:
            out += [str(p) for p in check_hardware(n, inv.hardware, guids.get(n.name), guids)]
    return out


def node_of(paths: Paths, mac: str) -> Node:
    """The nodes.csv row with `mac` among its MACs; InputError naming nodes.csv otherwise."""
    node = next((n for n in load_inventory(paths).nodes if mac in n.macs), None)
    if node is None:
        raise InputError(f"no node with MAC {mac} in nodes.csv",
                         where=Where(file=str(paths.nodes_csv)),
                         hint="use a primary, BMC or secondary MAC of a node")
    return node


def node_hardware(paths: Paths, mac: str, open_store: Callable[[], Store]
                  ) -> tuple[Node, Reported | None]:
    """The node of `mac` and its newest inventory (None: it never reported one)."""
    node = node_of(paths, mac)
    with open_store() as store:
        return node, reported(store.last_of(node.primary_mac, (EventKind.INVENTORY,)))


def rack_hardware(macs: Iterable[str], open_store: Callable[[], Store]
                  ) -> dict[str, Reported]:
    """The newest inventory of each of the primary MACs `macs` that reported one."""
    wanted = set(macs)
    with open_store() as store:
        last = store.last_by_kind(EventKind.INVENTORY)
    out = {}
    for mac, event in last.items():
        found = reported(event) if mac in wanted else None
        if found is not None:
            out[mac] = found
    return out
