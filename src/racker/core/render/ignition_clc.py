"""Container Linux Config (YAML) → a typed intermediate, with file:line in every error.

The subset is what racker's own files and operators' snippets use; see `racker.core.render.ignition`
for the translation to Ignition 3.3.0 and for the decisions on unknown and unsupported keys.
Pure: text in, dataclasses out.
"""

from __future__ import annotations

import json

import yaml

from racker.core.render.ignition_ir import (
    Clc,
    ConfigRef,
    Disk,
    Dropin,
    Filesystem,
    Group,
    Node,
    Owner,
    Partition,
    Unit,
    User,
)
from racker.core.render.ignition_yaml import NULL, Ctx, Map, compose

UPDATE_CONF = "/etc/flatcar/update.conf"


def parse_clc(text: str, source: str) -> Clc:
    """Parse one Container Linux Config; raise InputError naming `source`, line and column."""
    ctx = Ctx(source)
    root = compose(text, source)
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == NULL):
        return Clc(source=source)
    top = Map(root, ctx, "")
    units = tuple(_unit(m, ctx, systemd=True) for m in _section(top, "systemd", "units"))
    networkd = tuple(_unit(m, ctx, systemd=False) for m in _section(top, "networkd", "units"))
    storage = top.sub("storage")
    nodes: list[Node] = []
    filesystems: list[Filesystem] = []
    disks: list[Disk] = []
    if storage is not None:
        nodes += [_file(m, ctx) for m in storage.subs("files")]
        nodes += [_dir(m, ctx) for m in storage.subs("directories")]
        nodes += [_link(m, ctx) for m in storage.subs("links")]
        filesystems += [_filesystem(m, ctx) for m in storage.subs("filesystems")]
        disks += [_disk(m, ctx) for m in storage.subs("disks")]
        storage.finish()
    if "filesystems" in top.items:
        # NOTE: the reference's node template put the ROOT wipe here, where ct ignored it.
        ctx.warn(top.key_node("filesystems"), "filesystems belongs under storage; racker "
                 "reads it as storage.filesystems")
        filesystems += [_filesystem(m, ctx) for m in top.subs("filesystems")]
    passwd = top.sub("passwd")
    users: list[User] = []
    groups: list[Group] = []
    if passwd is not None:
        users = [_user(m, ctx) for m in passwd.subs("users")]
        groups = [_group(m, ctx) for m in passwd.subs("groups")]
        passwd.finish()
    update = _update_conf(top, ctx)
    if update is not None:
        nodes.append(update)
    merge, replace, timeouts = _ignition(top.sub("ignition"), ctx)
    top.finish(("ignition", "storage", "systemd", "networkd", "passwd", "update", "locksmith"))
    return Clc(source=source, units=units, networkd=networkd, nodes=tuple(nodes),
               filesystems=tuple(filesystems), disks=tuple(disks), users=tuple(users),
               groups=tuple(groups), merge=merge, replace=replace, timeouts=timeouts,
               warnings=tuple(ctx.warnings))


def _section(top: Map, name: str, key: str) -> list[Map]:
    sec = top.sub(name)
    if sec is None:
        return []
    items = sec.subs(key)
    sec.finish()
    return items


_UNIT_TYPES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target",
               ".path", ".timer", ".snapshot", ".slice", ".scope")


def _unit(m: Map, ctx: Ctx, systemd: bool) -> Unit:
    name = m.req("name")
    enabled = mask = None
    if systemd:
        enabled = m.flag("enabled")
        if "enable" in m.items:
            ctx.warn(m.key_node("enable"), f"{m.path}.enable is deprecated; racker reads it as "
                     "enabled")
            old = m.flag("enable")
            enabled = enabled if enabled is not None else old
        mask = m.flag("mask")
    contents = m.text("contents")
    dropins = []
    for d in m.subs("dropins"):
        dname = d.req("name")
        if not dname.endswith(".conf"):
            raise ctx.error(d.key_node("name"), f"{d.path}.name must end with .conf")
        dropins.append(Dropin(dname, d.text("contents")))
        d.finish()
    if enabled and contents is not None and "[Install]" not in contents:
        ctx.warn(m.key_node("enabled" if "enabled" in m.items else "enable"),
                 f"{m.path} ({name}) is enabled but has no [Install] section, so enabling "
                 "does nothing")
    if "/" in name or not name.strip():
        raise ctx.error(m.key_node("name"), f"{m.path}.name must be a file name, not a path")
    if systemd and not name.endswith(_UNIT_TYPES):
        raise ctx.error(m.key_node("name"), f"{m.path}.name {name!r} has no systemd unit type",
                        hint="end it with one of " + ", ".join(_UNIT_TYPES))
    m.finish()
    return Unit(name=name, line=m.line, enabled=enabled, mask=mask, contents=contents,
                dropins=tuple(dropins))


def _abs_path(m: Map, ctx: Ctx) -> str:
    path = m.req("path")
    if not path.startswith("/"):
        raise ctx.error(m.key_node("path"), f"{m.path}.path must be absolute (start with /)")
    fs = m.text("filesystem")
    if fs not in (None, "root"):
        raise ctx.error(m.key_node("filesystem"),
                        f"{m.path}.filesystem '{fs}' is not supported; Ignition 3 paths are "
                        "absolute in the installed system", hint="use filesystem: root or leave "
                        "it out, and give the full path")
    return path


def _owner(m: Map, key: str) -> Owner | None:
    o = m.sub(key)
    if o is None:
        return None
    owner = Owner(id=o.integer("id"), name=o.text("name"))
    o.finish()
    return owner


def _mode(m: Map, ctx: Ctx) -> int | None:
    mode = m.integer("mode")
    if mode is not None and not 0 <= mode <= 0o7777:
        raise ctx.error(m.key_node("mode"), f"{m.path}.mode {mode:#o} is not a file mode",
                        hint="write it in octal with a leading 0, e.g. mode: 0644")
    if mode is not None and mode & 0o7000:
        ctx.warn(m.key_node("mode"), f"{m.path}.mode {mode:#o}: Ignition spec 3.3 does not "
                 "support the setuid, setgid and sticky bits")
    return mode


def _verification(m: Map | None, ctx: Ctx) -> str | None:
    if m is None:
        return None
    h = m.sub("hash")
    m.finish()
    if h is None:
        return None
    function, total = h.req("function"), h.req("sum")
    size = {"sha512": 128, "sha256": 64}.get(function)
    if size is None:
        raise ctx.error(h.key_node("function"), f"{h.path}.function must be sha512 or sha256")
    if len(total) != size or any(c not in "0123456789abcdefABCDEF" for c in total):
        raise ctx.error(h.key_node("sum"), f"{h.path}.sum must be {size} hex digits for "
                        f"{function}")
    h.finish()
    return f"{function}-{total}"


def _file(m: Map, ctx: Ctx) -> Node:
    path = _abs_path(m, ctx)
    source = inline = compression = verification = None
    c = m.sub("contents")
    if c is not None:
        inline = c.text("inline")
        r = c.sub("remote")
        if r is not None:
            url = r.text("url")
            compression = r.text("compression")
            verification = _verification(r.sub("verification"), ctx)
            r.finish()
            if url is not None and inline is not None:
                raise ctx.error(c.node, f"{c.path} has both inline and remote.url; give one")
            source = url
        c.finish()
    node = Node(kind="file", path=path, line=m.line, mode=_mode(m, ctx),
                overwrite=m.flag("overwrite"), user=_owner(m, "user"), group=_owner(m, "group"),
                source=source, inline=inline, compression=compression,
                verification=verification, append=m.flag("append"))
    if node.append and node.overwrite:
        raise ctx.error(m.node, f"{m.path} sets both append and overwrite; choose one")
    m.finish()
    return node


def _dir(m: Map, ctx: Ctx) -> Node:
    node = Node(kind="directory", path=_abs_path(m, ctx), line=m.line, mode=_mode(m, ctx),
                overwrite=m.flag("overwrite"), user=_owner(m, "user"), group=_owner(m, "group"))
    m.finish()
    return node


def _link(m: Map, ctx: Ctx) -> Node:
    node = Node(kind="link", path=_abs_path(m, ctx), line=m.line, target=m.req("target"),
                hard=m.flag("hard"), overwrite=m.flag("overwrite"), user=_owner(m, "user"),
                group=_owner(m, "group"))
    m.finish()
    return node


_FORMATS = ("ext4", "btrfs", "xfs", "vfat", "swap", "none")


def _filesystem(m: Map, ctx: Ctx) -> Filesystem:
    m.text("name")  # only a handle for storage.files in spec 2; paths are absolute in spec 3
    mount = m.sub("mount")
    if mount is None:
        raise ctx.error(m.node, f"{m.path}.mount is required (device and format)")
    if "path" in m.items:
        raise ctx.error(m.key_node("path"), f"{m.path}.path is not supported",
                        hint="mount the filesystem with a systemd .mount unit")
    device, fmt = mount.req("device"), mount.req("format")
    if not device.startswith("/"):
        raise ctx.error(mount.key_node("device"), f"{mount.path}.device must be an absolute path")
    if fmt not in _FORMATS:
        raise ctx.error(mount.key_node("format"), f"{mount.path}.format must be one of "
                        + ", ".join(_FORMATS))
    wipe = mount.flag("wipe_filesystem")
    options = mount.texts("options")
    create = mount.sub("create")
    if create is not None:
        ctx.warn(mount.key_node("create"), f"{mount.path}.create is deprecated; racker reads "
                 "force as wipe_filesystem")
        force = create.flag("force")
        wipe = wipe if wipe is not None else force
        options = options or create.texts("options")
        create.finish()
    fs = Filesystem(device=device, format=fmt, line=m.line, wipe_filesystem=wipe,
                    label=mount.text("label"), uuid=mount.text("uuid"), options=options)
    mount.finish()
    m.finish()
    return fs


_KIB = {"KiB": 1, "MiB": 1024, "GiB": 1024**2, "TiB": 1024**3}


def _size_mib(m: Map, key: str, ctx: Ctx) -> int | None:
    """A CLC size such as `512MiB` or `2GiB` in whole MiB, the unit Ignition 3 counts in."""
    text = m.text(key)
    if text is None:
        return None
    t = text.strip()
    if t == "0":
        return 0
    for unit, factor in _KIB.items():
        number = t.removesuffix(unit).strip()
        if t.endswith(unit) and number.isdigit():
            kib = int(number) * factor
            if kib % 1024 == 0:
                return kib // 1024
    raise ctx.error(m.key_node(key), f"{m.path}.{key} '{text}' is not a whole number of MiB",
                    hint="give a number with a unit: KiB, MiB, GiB or TiB")


_TYPE_GUIDS = {
    "linux_filesystem_data": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
    "raid_partition": "A19D880F-05FC-4D3B-A006-743F0F84911E",
    "swap_partition": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
    "raid_containing_root": "BE9067B9-EA49-4F15-B4F6-F36F8C9E1818",
}


def _disk(m: Map, ctx: Ctx) -> Disk:
    device = m.req("device")
    parts = []
    for p in m.subs("partitions"):
        tg = p.text("type_guid")
        parts.append(Partition(label=p.text("label"), number=p.integer("number"),
                               size_mib=_size_mib(p, "size", ctx),
                               start_mib=_size_mib(p, "start", ctx),
                               type_guid=_TYPE_GUIDS.get(tg, tg) if tg else None,
                               guid=p.text("guid")))
        p.finish()
    disk = Disk(device=device, line=m.line, wipe_table=m.flag("wipe_table"),
                partitions=tuple(parts))
    m.finish()
    return disk


def _user(m: Map, ctx: Ctx) -> User:
    if "create" in m.items:
        raise ctx.error(m.key_node("create"), f"{m.path}.create is not supported",
                        hint="move its fields (uid, groups, shell, …) up into the user")
    user = User(name=m.req("name"), line=m.line, password_hash=m.text("password_hash"),
                ssh_authorized_keys=m.texts("ssh_authorized_keys"), uid=m.integer("uid"),
                gecos=m.text("gecos"), home_dir=m.text("home_dir"),
                no_create_home=m.flag("no_create_home"), primary_group=m.text("primary_group"),
                groups=m.texts("groups"), no_user_group=m.flag("no_user_group"),
                no_log_init=m.flag("no_log_init"), shell=m.text("shell"),
                system=m.flag("system"))
    m.finish()
    return user


def _group(m: Map, ctx: Ctx) -> Group:
    group = Group(name=m.req("name"), line=m.line, gid=m.integer("gid"),
                  password_hash=m.text("password_hash"), system=m.flag("system"))
    m.finish()
    return group


def _ref(m: Map, ctx: Ctx) -> ConfigRef:
    ref = ConfigRef(source=m.req("source"), verification=_verification(m.sub("verification"),
                                                                       ctx))
    m.finish()
    return ref


def _ignition(m: Map | None, ctx: Ctx) -> tuple[
        tuple[ConfigRef, ...], ConfigRef | None, tuple[int | None, int | None]]:
    if m is None:
        return (), None, (None, None)
    merge: list[ConfigRef] = []
    replace = None
    c = m.sub("config")
    if c is not None:
        merge = [_ref(r, ctx) for r in c.subs("append")]
        merge += [_ref(r, ctx) for r in c.subs("merge")]
        r = c.sub("replace")
        replace = _ref(r, ctx) if r is not None else None
        c.finish()
    timeouts: tuple[int | None, int | None] = (None, None)
    t = m.sub("timeouts")
    if t is not None:
        timeouts = (t.integer("http_response_headers"), t.integer("http_total"))
        t.finish()
    m.finish()
    return tuple(merge), replace, timeouts


_UPDATE = (("group", "GROUP"), ("server", "SERVER"), ("pcr_policy_server", "PCR_POLICY_SERVER"),
           ("download_user", "DOWNLOAD_USER"), ("download_password", "DOWNLOAD_PASSWORD"),
           ("machine_alias", "MACHINE_ALIAS"))
_LOCKSMITH = (("reboot_strategy", "REBOOT_STRATEGY"),
              ("window_start", "LOCKSMITHD_REBOOT_WINDOW_START"),
              ("window_length", "LOCKSMITHD_REBOOT_WINDOW_LENGTH"),
              ("group", "LOCKSMITHD_GROUP"), ("etcd_endpoints", "LOCKSMITHD_ENDPOINTS"),
              ("etcd_cafile", "LOCKSMITHD_ETCD_CAFILE"),
              ("etcd_certfile", "LOCKSMITHD_ETCD_CERTFILE"),
              ("etcd_keyfile", "LOCKSMITHD_ETCD_KEYFILE"))


def _update_conf(top: Map, ctx: Ctx) -> Node | None:
    """`update` and `locksmith` → the update.conf file that ct wrote (under /etc/flatcar)."""
    lines: list[str] = []
    update = top.sub("update")
    if update is not None:
        for key, var in _UPDATE:
            value = update.text(key)
            if value:
                lines.append(f"{var}={value.lower() if key == 'group' else value}")
        update.finish()
    lock = top.sub("locksmith")
    if lock is not None:
        values = {key: lock.text(key) for key, _ in _LOCKSMITH}
        strategy = values["reboot_strategy"]
        if strategy is not None and strategy.lower() not in ("reboot", "etcd-lock", "off"):
            raise ctx.error(lock.key_node("reboot_strategy"), "locksmith.reboot_strategy must be "
                            "reboot, etcd-lock or off")
        if (values["window_start"] is None) != (values["window_length"] is None):
            raise ctx.error(lock.node, "locksmith needs both window_start and window_length")
        lines += [f"{var}={json.dumps(values[key])}" for key, var in _LOCKSMITH if values[key]]
        lock.finish()
    if not lines:
        return None
    line = (update or lock or top).line
    return Node(kind="file", path=UPDATE_CONF, line=line, mode=0o644,
                inline="\n".join(lines) + "\n")
