"""Use case: `racker ignition NODE`: a node's final Ignition config, as the node receives it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from racker.adapters.fs.node_ignition import FolderKind, find_config_folder, node_ignition
from racker.adapters.fs.rackmeta import load_inventory
from racker.core.macs import parse_mac
from racker.errors import RackerError
from racker.paths import Paths


@dataclass(frozen=True)
class NodeConfig:
    """The node's Ignition JSON, what the translation warned about, and the folder's kind."""

    json: str
    warnings: tuple[str, ...]
    lokomotive: bool


def node_config(paths: Paths, folder: Path | None, node: str, *, pretty: bool) -> NodeConfig:
    """The config of `node` (name, short name or any of its MACs) in `folder` (default: the
    current folder, else the one in the home folder)."""
    found = find_config_folder(folder, paths)
    result = node_ignition(found, _primary(paths, node), paths)
    return NodeConfig(result.to_json(pretty=pretty), tuple(str(w) for w in result.warnings),
                      found.kind is FolderKind.LOKOMOTIVE)


def _primary(paths: Paths, node: str) -> str:
    """A BMC or secondary MAC as its node's primary MAC (what the folder knows); anything
    else unchanged."""
    mac = parse_mac(node)
    if mac is None:
        return node
    try:
        inventory = load_inventory(paths)
    except RackerError:
        return node  # the folder alone decides, and names the node it does not know
    return next((n.primary_mac for n in inventory.nodes if mac in n.macs), node)
