"""Container Linux Config (YAML) → a typed intermediate, with file:line in every error.

The subset is what racker's own files and operators' snippets use; see `racker.render.ignition`
for the translation to Ignition 3.3.0 and for the decisions on unknown and unsupported keys.
Pure: text in, dataclasses out.

Scalars follow go-yaml v2, which `ct` used: a string field takes any scalar's text as written
(`name: 123` is the name "123"), integers and booleans use YAML 1.1 (`mode: 0644` is octal,
`enabled: yes` is true), and `~`/`null`/nothing means "not set".
"""

from __future__ import annotations

import difflib

import yaml
from yaml.constructor import SafeConstructor

from racker.errors import InputError, Where
from racker.render.ignition_ir import (
    Clc,
    ClcWarning,
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

_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"


# Keys of the CLC spec that racker's transpiler does not translate, with what to do instead.
UNSUPPORTED: dict[str, str] = {
    "etcd": "run etcd from a systemd unit under systemd.units",
    "flannel": "run flannel from a systemd unit under systemd.units",
    "docker": "configure docker with a drop-in under systemd.units",
    "update": "write /etc/flatcar/update.conf under storage.files",
    "locksmith": "write /etc/flatcar/update.conf (REBOOT_STRATEGY=…) under storage.files",
    "raid": "set up the array from a systemd unit, or provision it outside Ignition",
    "security": "put the CA certificate under storage.files",
    "local": "paste the file's text under contents.inline",
}

_SAFE = SafeConstructor()
# libyaml's composer when PyYAML was built with it (same nodes and marks, several times faster)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Ctx:
    """The file being read and the warnings found so far."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[ClcWarning] = []

    def where(self, node: yaml.Node) -> Where:
        m = node.start_mark
        return Where(file=self.source, line=m.line + 1, column=m.column + 1)

    def error(self, node: yaml.Node, message: str, hint: str | None = None) -> InputError:
        return InputError(message, where=self.where(node), hint=hint)

    def warn(self, node: yaml.Node, message: str) -> None:
        self.warnings.append(ClcWarning(message, self.where(node)))


class _Map:
    """A YAML mapping read field by field; `finish()` refuses the keys nobody asked for."""

    def __init__(self, node: yaml.Node, ctx: _Ctx, path: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            raise ctx.error(node, f"{path or 'the document'} must be a mapping (key: value)")
        self.node, self.ctx, self.path = node, ctx, path
        self.items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise ctx.error(k, f"{path or 'the document'} has a key that is not a plain word")
            if k.value in self.items:
                raise ctx.error(k, f"{self._sub(k.value)} is given twice")
            self.items[k.value] = (k, v)
        self.used: set[str] = set()

    def _sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def value(self, key: str) -> yaml.Node | None:
        """The node under `key`, or None when absent or null."""
        self.used.add(key)
        kv = self.items.get(key)
        if kv is None or (isinstance(kv[1], yaml.ScalarNode) and kv[1].tag == _NULL):
            return None
        return kv[1]

    def key_node(self, key: str) -> yaml.Node:
        return self.items[key][0] if key in self.items else self.node

    def text(self, key: str, required: bool = False) -> str | None:
        node = self.value(key)
        if node is None:
            if required:
                self._typo_for(key)
                raise self.ctx.error(self.node, f"{self._sub(key)} is required")
            return None
        if not isinstance(node, yaml.ScalarNode):
            raise self.ctx.error(node, f"{self._sub(key)} must be a text value")
        return str(node.value)

    def req(self, key: str) -> str:
        text = self.text(key, required=True)
        assert text is not None
        return text

    def integer(self, key: str) -> int | None:
        node = self.value(key)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
            hint = "write an octal mode without quotes, e.g. mode: 0644" if key == "mode" else None
            raise self.ctx.error(node, f"{self._sub(key)} must be an integer", hint)
        try:
            return int(_SAFE.construct_yaml_int(node))
        except (ValueError, IndexError) as e:  # e.g. `!!int ""` or `!!int x`
            raise self.ctx.error(node, f"{self._sub(key)} is not a valid integer") from e

    def flag(self, key: str) -> bool | None:
        node = self.value(key)
        if node is None:
            return None
        if (not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL
                or str(node.value).lower() not in _SAFE.bool_values):
            raise self.ctx.error(node, f"{self._sub(key)} must be true or false")
        return bool(_SAFE.bool_values[str(node.value).lower()])

    def texts(self, key: str) -> tuple[str, ...]:
        node = self.value(key)
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, f"{self._sub(key)} must be a list")
        out: list[str] = []
        for i, item in enumerate(node.value):
            if not isinstance(item, yaml.ScalarNode) or item.tag == _NULL:
                raise self.ctx.error(item, f"{self._sub(key)}[{i}] must be a text value")
            if str(item.value) in out:  # Ignition refuses a config with a duplicate entry
                self.ctx.warn(item, f"{self._sub(key)}[{i}] repeats an earlier entry; racker "
                              "keeps one")
                continue
            out.append(str(item.value))
        return tuple(out)

    def sub(self, key: str) -> _Map | None:
        node = self.value(key)
        return None if node is None else _Map(node, self.ctx, self._sub(key))

    def subs(self, key: str) -> list[_Map]:
        node = self.value(key)
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.ctx.error(node, f"{self._sub(key)} must be a list (items start with '- ')")
        return [_Map(item, self.ctx, f"{self._sub(key)}[{i}]") for i, item in enumerate(node.value)]

    def _typo_for(self, key: str) -> None:
        """A missing key is most often misspelt: report the misspelling instead."""
        unread = [k for k in self.items if k not in self.used]
        close = difflib.get_close_matches(key, unread, n=1)
        if close:
            raise self.ctx.error(self.items[close[0]][0], f"unknown key {self._sub(close[0])}",
                                 hint=f"did you mean '{key}'?")

    def finish(self, known: tuple[str, ...] = ()) -> None:
        """Raise for the first key that was not read: unsupported CLC keys and typos alike."""
        for key, (knode, _) in self.items.items():
            if key in self.used:
                continue
            if key in UNSUPPORTED:
                raise self.ctx.error(
                    knode,
                    f"{self._sub(key)} is not supported by racker's Container Linux Config "
                    "transpiler",
                    hint=UNSUPPORTED[key],
                )
            close = difflib.get_close_matches(key, sorted(self.used | set(known)), n=1)
            hint = f"did you mean '{close[0]}'?" if close else (
                "known keys here: " + ", ".join(sorted(self.used | set(known))))
            raise self.ctx.error(knode, f"unknown key {self._sub(key)}", hint=hint)


def parse_clc(text: str, source: str) -> Clc:
    """Parse one Container Linux Config; raise InputError naming `source`, line and column."""
    ctx = _Ctx(source)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Where(file=source, line=mark.line + 1, column=mark.column + 1) if mark else Where(
            file=source)
        raise InputError(f"not valid YAML: {e.problem or e.context}", where=where) from e
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        code = e.character if isinstance(e.character, int) else ord(str(e.character)[:1] or " ")
        raise InputError(f"character #x{code:04x} is not allowed in YAML",
                         where=Where(file=source, line=line)) from e
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {e}", where=Where(file=source)) from e
    except UnicodeEncodeError as e:  # lone surrogates cannot be UTF-8 encoded for libyaml
        raise InputError(f"not valid text: {e.reason}", where=Where(file=source)) from e
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
        return Clc(source=source)
    top = _Map(root, ctx, "")
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
    merge, replace, timeouts = _ignition(top.sub("ignition"), ctx)
    top.finish(("ignition", "storage", "systemd", "networkd", "passwd"))
    return Clc(source=source, units=units, networkd=networkd, nodes=tuple(nodes),
               filesystems=tuple(filesystems), disks=tuple(disks), users=tuple(users),
               groups=tuple(groups), merge=merge, replace=replace, timeouts=timeouts,
               warnings=tuple(ctx.warnings))


def _section(top: _Map, name: str, key: str) -> list[_Map]:
    sec = top.sub(name)
    if sec is None:
        return []
    items = sec.subs(key)
    sec.finish()
    return items


_UNIT_TYPES = (".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target",
               ".path", ".timer", ".snapshot", ".slice", ".scope")


def _unit(m: _Map, ctx: _Ctx, systemd: bool) -> Unit:
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


def _abs_path(m: _Map, ctx: _Ctx) -> str:
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


def _owner(m: _Map, key: str) -> Owner | None:
    o = m.sub(key)
    if o is None:
        return None
    owner = Owner(id=o.integer("id"), name=o.text("name"))
    o.finish()
    return owner


def _mode(m: _Map, ctx: _Ctx) -> int | None:
    mode = m.integer("mode")
    if mode is not None and not 0 <= mode <= 0o7777:
        raise ctx.error(m.key_node("mode"), f"{m.path}.mode {mode:#o} is not a file mode",
                        hint="write it in octal with a leading 0, e.g. mode: 0644")
    if mode is not None and mode & 0o7000:
        ctx.warn(m.key_node("mode"), f"{m.path}.mode {mode:#o}: Ignition spec 3.3 does not "
                 "support the setuid, setgid and sticky bits")
    return mode


def _verification(m: _Map | None, ctx: _Ctx) -> str | None:
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


def _file(m: _Map, ctx: _Ctx) -> Node:
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


def _dir(m: _Map, ctx: _Ctx) -> Node:
    node = Node(kind="directory", path=_abs_path(m, ctx), line=m.line, mode=_mode(m, ctx),
                overwrite=m.flag("overwrite"), user=_owner(m, "user"), group=_owner(m, "group"))
    m.finish()
    return node


def _link(m: _Map, ctx: _Ctx) -> Node:
    node = Node(kind="link", path=_abs_path(m, ctx), line=m.line, target=m.req("target"),
                hard=m.flag("hard"), overwrite=m.flag("overwrite"), user=_owner(m, "user"),
                group=_owner(m, "group"))
    m.finish()
    return node


_FORMATS = ("ext4", "btrfs", "xfs", "vfat", "swap", "none")


def _filesystem(m: _Map, ctx: _Ctx) -> Filesystem:
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


def _size_mib(m: _Map, key: str, ctx: _Ctx) -> int | None:
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


def _disk(m: _Map, ctx: _Ctx) -> Disk:
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


def _user(m: _Map, ctx: _Ctx) -> User:
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


def _group(m: _Map, ctx: _Ctx) -> Group:
    group = Group(name=m.req("name"), line=m.line, gid=m.integer("gid"),
                  password_hash=m.text("password_hash"), system=m.flag("system"))
    m.finish()
    return group


def _ref(m: _Map, ctx: _Ctx) -> ConfigRef:
    ref = ConfigRef(source=m.req("source"), verification=_verification(m.sub("verification"),
                                                                       ctx))
    m.finish()
    return ref


def _ignition(m: _Map | None, ctx: _Ctx) -> tuple[
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
