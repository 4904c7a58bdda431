"""A node's final Ignition config, read from a configuration folder (the I/O side).

`~/flatcar-container-linux`: `templates/base.yaml.tmpl` rendered with the management node's
SSH key, then the node's `clc_snippets` from `terraform.tfvars` in order (by default
`cl/NAME.yaml`, `cl/NAME-custom.yaml`). `~/lokomotive`: the node's `clc_snippets` from
`lokocfg.vars`; lokoctl adds its own Kubernetes configuration to them when it applies.
Without a vars file (or without `clc_snippets` in it) the `cl/` folder names the nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from racker.core.macs import parse_mac
from racker.core.render.ignition import Transpiled, transpile
from racker.core.render.ignition_folder import (
    base_template_variables,
    node_macs,
    parse_clc_snippets,
    render_template,
)
from racker.errors import InputError, Where
from racker.paths import Paths

BASE_TEMPLATE = Path("templates/base.yaml.tmpl")


class FolderKind(StrEnum):
    FLATCAR = "flatcar"
    LOKOMOTIVE = "lokomotive"


@dataclass(frozen=True)
class ConfigFolder:
    """A configuration folder and the node snippets it lists."""

    path: Path
    kind: FolderKind
    snippets: dict[str, list[Path]]
    """Node name → its CLC snippet files, in merge order."""
    from_vars: bool = False
    """The snippets are listed in the vars file (then each listed file must exist)."""
    macs: dict[str, str] = field(default_factory=dict)
    """Primary MAC (lower-case colon form) → node name, from the vars file."""

    @property
    def vars_file(self) -> Path:
        """terraform.tfvars (Flatcar) or lokocfg.vars (Lokomotive)."""
        name = "terraform.tfvars" if self.kind is FolderKind.FLATCAR else "lokocfg.vars"
        return self.path / name


def _kind(folder: Path) -> FolderKind | None:
    if (folder / "lokocfg.vars").is_file() or (folder / "baremetal.lokocfg").is_file():
        return FolderKind.LOKOMOTIVE
    if (folder / "terraform.tfvars").is_file() or (folder / BASE_TEMPLATE).is_file():
        return FolderKind.FLATCAR
    return None


def find_config_folder(start: Path | None, paths: Paths) -> ConfigFolder:
    """The folder `start` (when given), else the current one, else the one under $HOME."""
    if start is not None:
        candidates = [start]
    else:
        candidates = [Path.cwd(), paths.flatcar_dir, paths.lokomotive_dir]
    for folder in candidates:
        kind = _kind(folder)
        if kind is not None:
            return read_config_folder(folder, kind)
    raise InputError(
        f"{candidates[0]} is not a racker configuration folder",
        hint="run this inside ~/flatcar-container-linux or ~/lokomotive, or pass -C DIR",
    )


def read_config_folder(folder: Path, kind: FolderKind) -> ConfigFolder:
    """Read which snippets each node has: from the vars file, else from `cl/`."""
    vars_file = ConfigFolder(folder, kind, {}).vars_file
    listed = None
    macs: dict[str, str] = {}
    if vars_file.is_file():
        text = _read(vars_file)
        listed = parse_clc_snippets(text, str(vars_file))
        macs = node_macs(text)
    if listed is not None:
        return ConfigFolder(folder, kind, {n: [folder / p for p in ps] for n, ps in listed.items()},
                            from_vars=True, macs=macs)
    cl = folder / "cl"
    names = sorted(p.name.removesuffix(".yaml") for p in cl.glob("*.yaml")) if cl.is_dir() else []
    snippets = {}
    for name in names:
        if name.endswith("-custom") and name.removesuffix("-custom") in names:
            continue
        snippets[name] = [cl / f"{name}.yaml", cl / f"{name}-custom.yaml"]
    return ConfigFolder(folder, kind, snippets, macs=macs)


def resolve_node(folder: ConfigFolder, name: str) -> str:
    """The full node name for `name`: the name, a unique short name (before the first dot), or
    the node's primary MAC."""
    if name in folder.snippets:
        return name
    mac = parse_mac(name)
    if mac is not None and folder.macs.get(mac) in folder.snippets:
        return folder.macs[mac]
    short = [n for n in folder.snippets if n.split(".", 1)[0] == name]
    if len(short) == 1:
        return short[0]
    known = ", ".join(sorted(folder.snippets)) or "(none)"
    raise InputError(f"unknown node '{name}' in {folder.path}", hint=f"known nodes: {known}")


def node_ignition(folder: ConfigFolder, name: str, paths: Paths,
                  extra: Sequence[tuple[str, str]] = ()) -> Transpiled:
    """The node's final Ignition config and the warnings met while building it.

    `extra` are `(source, CLC text)` snippets merged last, e.g. the unit with which the boot
    server learns that the node has booted.
    """
    node = resolve_node(folder, name)
    snippets: list[tuple[str, str]] = []
    if folder.kind is FolderKind.FLATCAR:
        template = folder.path / BASE_TEMPLATE
        if template.is_file():
            key_file = paths.ssh_public_key
            if not key_file.is_file():
                raise InputError(f"{key_file} is missing; the base config needs it",
                                 hint="create it with 'racker factory gen-ssh-key'")
            text = render_template(_read(template), str(template),
                                   base_template_variables(_read(key_file)))
            snippets.append((str(template), text))
    for path in folder.snippets[node]:
        if not path.is_file():
            if not folder.from_vars and path.name.endswith("-custom.yaml"):
                continue  # optional when only the cl/ folder names the snippets
            raise InputError(f"snippet {path} of node {node} does not exist",
                             where=Where(file=str(folder.vars_file) if folder.from_vars else None,
                                         node=node),
                             hint="create the file or remove it from clc_snippets")
        snippets.append((str(path), _read(path)))
    return transpile([*snippets, *extra])


def installer_ignition(folder: ConfigFolder, name: str, installer: tuple[str, str]
                       ) -> Transpiled:
    """The installer's Ignition for a node: `installer` (source, CLC text) merged with the
    node's `installer_clc_snippets` from the vars file (its custom snippet with static
    addresses, so that the installer can reach racker)."""
    node = resolve_node(folder, name)
    listed: dict[str, list[str]] | None = None
    if folder.vars_file.is_file():
        listed = parse_clc_snippets(_read(folder.vars_file), str(folder.vars_file),
                                    "installer_clc_snippets")
    snippets = [installer]
    for rel in (listed or {}).get(node, []):
        path = folder.path / rel
        if not path.is_file():
            raise InputError(f"installer snippet {path} of node {node} does not exist",
                             where=Where(file=str(folder.vars_file), node=node),
                             hint="create the file or remove it from installer_clc_snippets")
        snippets.append((str(path), _read(path)))
    return transpile(snippets)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text", where=Where(file=str(path))) from e
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}", where=Where(file=str(path))) from e
