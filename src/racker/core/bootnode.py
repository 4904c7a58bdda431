"""What the boot server knows of each node, and the catalog it looks nodes up in (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class BootNode:
    """What the boot server knows of one node."""

    mac: str
    ip: str
    name: str
    install_ignition: bytes
    """Ignition JSON of the installer (`os=installer`)."""
    node_ignition: bytes
    """Ignition JSON of the installed node (`os=installed`)."""
    metadata: Mapping[str, str] = field(default_factory=dict)


class Catalog(Protocol):
    """Where the boot server looks nodes up; the engine swaps in a new one on re-render."""

    def get(self, mac: str) -> BootNode | None: ...

    def all(self) -> Sequence[BootNode]: ...


class StaticCatalog:
    """A catalog held in memory, replaceable as a whole."""

    def __init__(self, nodes: Sequence[BootNode] = ()) -> None:
        self.replace(nodes)

    def replace(self, nodes: Sequence[BootNode]) -> None:
        """Swap in a new set of nodes (one assignment, so readers never see half of it)."""
        self._by_mac = {n.mac: n for n in nodes}

    def get(self, mac: str) -> BootNode | None:
        """The node of primary MAC `mac` (normalised colon form), if any."""
        return self._by_mac.get(mac)

    def all(self) -> Sequence[BootNode]:
        """Every node, in no particular order."""
        return list(self._by_mac.values())

