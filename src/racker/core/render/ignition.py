"""Container Linux Configs → one Ignition 3.3.0 config, the way Flatcar's `ct` meant them.

Pure: YAML texts in, a JSON-ready dict out. What racker does, and why:

- **Translation** (CLC → spec 3.3.0, as Butane's `flatcar` variant does): `networkd.units`
  become files `/etc/systemd/network/<name>` (mode 0644), drop-ins
  `/etc/systemd/network/<name>.d/<dropin>`; `contents.inline` becomes a `data:,` URL
  percent-escaped like ct's (RFC 2397); modes are decimal in JSON (0644 → 420);
  `filesystem: root` is dropped (spec-3 paths are absolute); `ignition.config.append` becomes
  `ignition.config.merge`; `update` and `locksmith` become `/etc/flatcar/update.conf` with
  ct's lines (ct wrote `/etc/coreos/update.conf`, which on Flatcar is only a compatibility
  link to that folder). ct's defaults are kept, because the snippets were written for them: a
  file without `mode` gets 0644, a directory 0755, and a file without `overwrite` replaces
  what is there (`overwrite: true`; spec 3 would otherwise refuse to write `/etc/hosts`).
- **Merging** snippets in order (the base config first, then `cl/NAME.yaml`, then
  `cl/NAME-custom.yaml`): Ignition 3's own merge rules, so that what `racker ignition` prints is
  what Ignition would do with a `merge` reference. Entries with the same key are merged field by
  field, the later snippet winning for each field it sets; other entries are appended. Keys:
  files, directories and links by `path` (one key space: a later link at a file's path removes
  the file), units by `name` and their drop-ins by `name`, filesystems and disks by `device`,
  partitions by `number` (else `label`), users and groups by `name`, config references by
  `source`; lists of words (SSH keys, groups, options) are unions in first-seen order; a file's
  `append` list is concatenated. Within ONE snippet the same key twice is an error (Ignition
  would refuse the config).
- **Unknown keys** are errors with file, line and a "did you mean" hint: a typo such as
  `ssh_authorized_key` would otherwise silently drop the operator's keys. CLC keys that racker
  does not translate (etcd, flannel, docker, raid, local contents, TLS settings) are
  errors saying what to write instead. Warnings (returned with the config, never raised) name
  what racker accepts but the operator should know: the deprecated `enable` and
  `mount.create`; a top-level `filesystems:` (the reference's node template put the ROOT wipe
  there, where ct ignored it; racker reads it as `storage.filesystems`, which is what it was
  written for); a repeated SSH key or group (kept once: Ignition refuses duplicates); an
  enabled unit without `[Install]`; setuid/setgid/sticky mode bits (not in spec 3.3).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from racker.core.render.ignition_clc import parse_clc
from racker.core.render.ignition_ir import Clc, ClcWarning, ConfigRef, Node, Owner, Unit
from racker.errors import InputError, Where

IGNITION_VERSION = "3.3.0"
NETWORKD_DIR = "/etc/systemd/network"
DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755

Json = dict[str, Any]

# RFC 2397 / ct's `dataurl.EscapeString`: unreserved and reserved URL characters stay as they are.
_DATA_URL_SAFE = "-_.~;/?:@&=+$,"


@dataclass(frozen=True)
class Transpiled:
    """The final Ignition config of a node and the warnings met on the way."""

    config: Json
    warnings: tuple[ClcWarning, ...] = ()

    def to_json(self, pretty: bool = True) -> str:
        """The config as JSON text (what the node fetches and `racker ignition` prints)."""
        return to_json(self.config, pretty)


def data_url(text: str) -> str:
    """`text` as a `data:,` URL, percent-escaped the way ct does it."""
    return "data:," + urllib.parse.quote(text, safe=_DATA_URL_SAFE)


def to_json(config: Mapping[str, Any], pretty: bool = True) -> str:
    """Serialise an Ignition config; key order is kept so the output is stable."""
    if pretty:
        return json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False)


def transpile(snippets: Iterable[tuple[str, str]]) -> Transpiled:
    """Translate `(source name, CLC text)` snippets and merge them in order."""
    config: Json = {"ignition": {"version": IGNITION_VERSION}}
    warnings: list[ClcWarning] = []
    for source, text in snippets:
        clc = parse_clc(text, source)
        warnings += clc.warnings
        config = merge(config, clc_to_ignition(clc))
    rank = {k: i for i, k in enumerate(("ignition", "storage", "systemd", "passwd"))}
    config = {k: config[k] for k in sorted(config, key=lambda k: (rank.get(k, len(rank)), k))}
    return Transpiled(config=config, warnings=tuple(warnings))


def transpile_one(text: str, source: str) -> Transpiled:
    """Translate one CLC text (no merging)."""
    return transpile([(source, text)])


# --- CLC → Ignition ---------------------------------------------------------------------------


def clc_to_ignition(clc: Clc) -> Json:
    """The Ignition 3.3.0 dict for one parsed CLC; empty sections are left out."""
    _check_unique(clc)
    ign: Json = {"version": IGNITION_VERSION}
    config: Json = {}
    if clc.merge:
        config["merge"] = [_ref(r) for r in clc.merge]
    if clc.replace is not None:
        config["replace"] = _ref(clc.replace)
    if config:
        ign["config"] = config
    timeouts = _drop_none({"httpResponseHeaders": clc.timeouts[0], "httpTotal": clc.timeouts[1]})
    if timeouts:
        ign["timeouts"] = timeouts
    files = [_node(n) for n in clc.nodes if n.kind == "file"]
    for unit in clc.networkd:
        files += _networkd_files(unit)
    storage = _drop_empty({
        "disks": [_drop_none({
            "device": d.device, "wipeTable": d.wipe_table,
            "partitions": [_drop_none({
                "label": p.label, "number": p.number, "sizeMiB": p.size_mib,
                "startMiB": p.start_mib, "typeGuid": p.type_guid, "guid": p.guid,
            }) for p in d.partitions] or None,
        }) for d in clc.disks],
        "filesystems": [_drop_none({
            "device": f.device, "format": f.format, "wipeFilesystem": f.wipe_filesystem,
            "label": f.label, "uuid": f.uuid, "options": list(f.options) or None,
        }) for f in clc.filesystems],
        "files": files,
        "directories": [_node(n) for n in clc.nodes if n.kind == "directory"],
        "links": [_node(n) for n in clc.nodes if n.kind == "link"],
    })
    systemd = _drop_empty({"units": [_unit(u) for u in clc.units]})
    passwd = _drop_empty({
        "users": [_drop_none({
            "name": u.name, "passwordHash": u.password_hash,
            "sshAuthorizedKeys": list(u.ssh_authorized_keys) or None, "uid": u.uid,
            "gecos": u.gecos, "homeDir": u.home_dir, "noCreateHome": u.no_create_home,
            "primaryGroup": u.primary_group, "groups": list(u.groups) or None,
            "noUserGroup": u.no_user_group, "noLogInit": u.no_log_init, "shell": u.shell,
            "system": u.system,
        }) for u in clc.users],
        "groups": [_drop_none({
            "name": g.name, "gid": g.gid, "passwordHash": g.password_hash, "system": g.system,
        }) for g in clc.groups],
    })
    return _drop_empty({"ignition": ign, "storage": storage, "systemd": systemd,
                        "passwd": passwd})


def _drop_none(d: Json) -> Json:
    return {k: v for k, v in d.items() if v is not None}


def _drop_empty(d: Json) -> Json:
    return {k: v for k, v in d.items() if v not in (None, [], {})}


def _ref(r: ConfigRef) -> Json:
    out: Json = {"source": r.source}
    if r.verification:
        out["verification"] = {"hash": r.verification}
    return out


def _owner(o: Owner | None) -> Json | None:
    return None if o is None else (_drop_none({"id": o.id, "name": o.name}) or None)


def _node(n: Node) -> Json:
    out: Json = {"path": n.path}
    if n.kind == "file":
        contents = _drop_none({
            "source": data_url(n.inline) if n.inline is not None else (n.source or "data:,"),
            "compression": n.compression,
            "verification": {"hash": n.verification} if n.verification else None,
        })
        if n.append:
            out["append"] = [contents]
        else:
            out["overwrite"] = True if n.overwrite is None else n.overwrite
            out["contents"] = contents
        out["mode"] = DEFAULT_FILE_MODE if n.mode is None else n.mode
    elif n.kind == "directory":
        out["overwrite"] = n.overwrite
        out["mode"] = DEFAULT_DIR_MODE if n.mode is None else n.mode
    else:
        out.update(overwrite=n.overwrite, target=n.target, hard=n.hard)
    out.update(user=_owner(n.user), group=_owner(n.group))
    return _drop_none(out)


def _networkd_files(u: Unit) -> list[Json]:
    def file(path: str, text: str | None) -> Json:
        return {"path": path, "overwrite": True, "contents": {"source": data_url(text or "")},
                "mode": DEFAULT_FILE_MODE}

    out = [] if u.contents is None else [file(f"{NETWORKD_DIR}/{u.name}", u.contents)]
    out += [file(f"{NETWORKD_DIR}/{u.name}.d/{d.name}", d.contents) for d in u.dropins]
    return out


def _unit(u: Unit) -> Json:
    return _drop_none({
        "name": u.name, "enabled": u.enabled, "mask": u.mask, "contents": u.contents,
        "dropins": [_drop_none({"name": d.name, "contents": d.contents}) for d in u.dropins]
        or None,
    })


def _check_unique(clc: Clc) -> None:
    """Ignition refuses a config with the same path, unit or user twice; say where instead."""
    def check(items: Iterable[tuple[str, int]], what: str) -> None:
        seen: dict[str, int] = {}
        for key, line in items:
            if key in seen:
                raise InputError(f"{what} {key} is given twice (first on line {seen[key]})",
                                 where=Where(file=clc.source, line=line),
                                 hint="merge the two entries into one")
            seen[key] = line

    paths = [(n.path, n.line) for n in clc.nodes]
    for u in clc.networkd:
        if u.contents is not None:
            paths.append((f"{NETWORKD_DIR}/{u.name}", u.line))
        paths += [(f"{NETWORKD_DIR}/{u.name}.d/{d.name}", u.line) for d in u.dropins]
    check(paths, "path")
    check(((u.name, u.line) for u in clc.units), "systemd unit")
    check(((f.device, f.line) for f in clc.filesystems), "filesystem device")
    check(((d.device, d.line) for d in clc.disks), "disk")
    check(((u.name, u.line) for u in clc.users), "user")
    check(((g.name, g.line) for g in clc.groups), "group")


# --- Ignition 3 merge ---------------------------------------------------------------------------

KeyFn = Callable[[Json], str]


def _by(field: str) -> KeyFn:
    return lambda item: str(item.get(field))


def _partition_key(p: Json) -> str:
    number = p.get("number")
    return str(number) if number else f"label:{p.get('label')}"


# Lists of objects and the field that identifies an entry, as Ignition's Key() methods say.
_KEYS: dict[tuple[str, ...], KeyFn] = {
    ("ignition", "config", "merge"): _by("source"),
    ("ignition", "security", "tls", "certificateAuthorities"): _by("source"),
    ("storage", "disks"): _by("device"),
    ("storage", "disks", "partitions"): _partition_key,
    ("storage", "raid"): _by("name"),
    ("storage", "filesystems"): _by("device"),
    ("storage", "files"): _by("path"),
    ("storage", "directories"): _by("path"),
    ("storage", "links"): _by("path"),
    ("systemd", "units"): _by("name"),
    ("systemd", "units", "dropins"): _by("name"),
    ("passwd", "users"): _by("name"),
    ("passwd", "groups"): _by("name"),
}
_APPENDED = {("storage", "files", "append")}
# Files, directories and links share one key space (Ignition's MergedKeys).
_SHARED = ("files", "directories", "links")


def merge(parent: Mapping[str, Any], child: Mapping[str, Any]) -> Json:
    """Merge two Ignition configs the way Ignition 3 merges a `merge` reference into its parent."""
    return _merge_obj(parent, child, ())


def _merge_obj(parent: Mapping[str, Any], child: Mapping[str, Any], path: tuple[str, ...]) -> Json:
    out: Json = {}
    shared_child: dict[str, str] = {}
    if path == ("storage",):
        for name in _SHARED:
            for item in child.get(name, []):
                shared_child[item["path"]] = name
    for key in [*parent, *(k for k in child if k not in parent)]:
        here = (*path, key)
        if key not in child:
            out[key] = parent[key]
            continue
        if key not in parent:
            out[key] = child[key]
            continue
        p, c = parent[key], child[key]
        if isinstance(p, dict) and isinstance(c, dict):
            out[key] = _merge_obj(p, c, here)
        elif isinstance(p, list) and isinstance(c, list):
            if here in _APPENDED:
                out[key] = [*p, *c]
            else:
                others = {k for k, n in shared_child.items() if n != key and key in _SHARED}
                out[key] = _merge_list(p, c, here, others)
        else:
            out[key] = c
    if shared_child:
        # an entry of the parent whose path the child gives in another list is removed
        for name in _SHARED:
            if name in out and name not in child:
                drop = {k for k, n in shared_child.items() if n != name}
                out[name] = [i for i in out[name] if i["path"] not in drop]
                if not out[name]:
                    del out[name]
    return out


def _merge_list(parent: Sequence[Any], child: Sequence[Any], path: tuple[str, ...],
                removed: set[str]) -> list[Any]:
    keyfn = _KEYS.get(path)
    key: Callable[[Any], str] = keyfn if keyfn is not None else json.dumps
    by_key = {key(c): c for c in child}
    out: list[Any] = []
    for p in parent:
        k = key(p)
        if k in by_key:
            c = by_key[k]
            out.append(_merge_obj(p, c, path) if isinstance(p, dict) else c)
        elif k not in removed:
            out.append(p)
    parent_keys = {key(p) for p in parent}
    out += [c for c in child if key(c) not in parent_keys]
    return out


__all__ = ["IGNITION_VERSION", "ClcWarning", "Transpiled", "clc_to_ignition", "data_url",
           "merge", "parse_clc", "to_json", "transpile", "transpile_one"]
