"""The typed intermediate between a Container Linux Config and Ignition 3.3.0 (pure data).

Field names follow the CLC spec; `line` is where the entry starts in its file, for errors that
are found only when entries are compared (the same path twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from racker.errors import Where


@dataclass(frozen=True)
class ClcWarning:
    """Something racker accepted but the operator should know about."""

    message: str
    where: Where

    def __str__(self) -> str:
        return f"{self.where}: warning: {self.message}"


@dataclass(frozen=True)
class Dropin:
    name: str
    contents: str | None


@dataclass(frozen=True)
class Unit:
    """A systemd unit (`systemd.units`) or a networkd file (`networkd.units`, no enabled/mask)."""

    name: str
    line: int
    enabled: bool | None = None
    mask: bool | None = None
    contents: str | None = None
    dropins: tuple[Dropin, ...] = ()


@dataclass(frozen=True)
class Owner:
    id: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class Node:
    """A file, directory or link; `kind` says which. Paths are absolute."""

    kind: str
    path: str
    line: int
    mode: int | None = None
    overwrite: bool | None = None
    user: Owner | None = None
    group: Owner | None = None
    # files
    source: str | None = None
    """`data:,…` for inline contents, the URL for remote ones, None for none."""
    inline: str | None = None
    compression: str | None = None
    verification: str | None = None
    """`<function>-<sum>`, as Ignition 3 writes it."""
    append: bool | None = None
    # links
    target: str | None = None
    hard: bool | None = None


@dataclass(frozen=True)
class Filesystem:
    device: str
    format: str
    line: int
    wipe_filesystem: bool | None = None
    label: str | None = None
    uuid: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Partition:
    label: str | None = None
    number: int | None = None
    size_mib: int | None = None
    start_mib: int | None = None
    type_guid: str | None = None
    guid: str | None = None


@dataclass(frozen=True)
class Disk:
    device: str
    line: int
    wipe_table: bool | None = None
    partitions: tuple[Partition, ...] = ()


@dataclass(frozen=True)
class User:
    name: str
    line: int
    password_hash: str | None = None
    ssh_authorized_keys: tuple[str, ...] = ()
    uid: int | None = None
    gecos: str | None = None
    home_dir: str | None = None
    no_create_home: bool | None = None
    primary_group: str | None = None
    groups: tuple[str, ...] = ()
    no_user_group: bool | None = None
    no_log_init: bool | None = None
    shell: str | None = None
    system: bool | None = None


@dataclass(frozen=True)
class Group:
    name: str
    line: int
    gid: int | None = None
    password_hash: str | None = None
    system: bool | None = None


@dataclass(frozen=True)
class ConfigRef:
    source: str
    verification: str | None = None


@dataclass(frozen=True)
class Clc:
    """One parsed Container Linux Config."""

    source: str
    units: tuple[Unit, ...] = ()
    networkd: tuple[Unit, ...] = ()
    nodes: tuple[Node, ...] = ()
    filesystems: tuple[Filesystem, ...] = ()
    disks: tuple[Disk, ...] = ()
    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()
    merge: tuple[ConfigRef, ...] = ()
    replace: ConfigRef | None = None
    timeouts: tuple[int | None, int | None] = (None, None)
    """(http_response_headers, http_total)"""
    warnings: tuple[ClcWarning, ...] = field(default=(), compare=False)
