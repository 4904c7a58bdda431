"""Use case: `racker ignition NODE`: a node's final Ignition config, as the node receives it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from racker.adapters.fs.node_ignition import FolderKind, find_config_folder, node_ignition
from racker.paths import Paths


@dataclass(frozen=True)
class NodeConfig:
    """The node's Ignition JSON, what the translation warned about, and the folder's kind."""

    json: str
    warnings: tuple[str, ...]
    lokomotive: bool


def node_config(paths: Paths, folder: Path | None, node: str, *, pretty: bool) -> NodeConfig:
    """The config of `node` (name, short name or primary MAC) in `folder` (default: the current
    folder, else the one in the home folder)."""
    found = find_config_folder(folder, paths)
    result = node_ignition(found, node, paths)
    return NodeConfig(result.to_json(pretty=pretty), tuple(str(w) for w in result.warnings),
                      found.kind is FolderKind.LOKOMOTIVE)
