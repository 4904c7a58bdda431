"""The bootstrap answers: what each one may hold, its default, and how answers become `Options`.

Answers are keyed by flag name (`cluster-name`, `provision`, ...) and are plain strings, whether
they came from a flag or from the wizard. This module checks them and turns them into the
`racker.model.Options` the rest of racker works with. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from racker.core import plan
from racker.core.ipaddrs import parse_ip_addr_sections
from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import (
    ANY_TYPE,
    Backup,
    Inventory,
    OnFailure,
    Options,
    Provision,
    StorageProvider,
)

Check = Callable[[str], "str | None"]
"""A value check: the reason the value is refused, or None when it is fine."""

HA_MIN_NODES = 3
"""A highly-available control plane needs three controllers of one node type."""

ALL = "all"
TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")


@dataclass(frozen=True)
class RackFacts:
    """What the wizard needs to know about the rack: node types, counts, MACs."""

    type_counts: tuple[tuple[str, int], ...] = ()
    """(node type, number of nodes) sorted by type; the empty type counts untyped nodes."""
    secondary_macs: tuple[tuple[str, str], ...] = ()
    """(secondary MAC, short description) of every node that has one, in file order."""
    known_macs: frozenset[str] = frozenset()
    """Every MAC (primary, BMC, secondary) of every node, for -exclude."""

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> RackFacts:
        """Collect the facts from a loaded inventory (the management node is not a node)."""
        counts: dict[str, int] = {}
        for n in inventory.nodes:
            counts[n.node_type] = counts.get(n.node_type, 0) + 1
        described = []
        for n in inventory.nodes:
            if n.secondary_mac:
                what = f"primary MAC {n.primary_mac}"
                if n.node_type:
                    what += f", node type {n.node_type}"
                if n.comment:
                    what += f", {n.comment}"
                described.append((n.secondary_mac, what))
        return cls(
            type_counts=tuple(sorted(counts.items())),
            secondary_macs=tuple(described),
            known_macs=frozenset(m for n in inventory.nodes for m in n.macs),
        )

    @property
    def node_types(self) -> tuple[str, ...]:
        """The non-empty node types, sorted."""
        return tuple(t for t, _ in self.type_counts if t)

    @property
    def ha_types(self) -> tuple[str, ...]:
        """Node types with enough nodes for a highly-available control plane."""
        return tuple(t for t, c in self.type_counts if t and c >= HA_MIN_NODES)

    @property
    def ha_possible(self) -> bool:
        """True when some node type (untyped nodes count as one) has at least three nodes."""
        return any(c >= HA_MIN_NODES for _, c in self.type_counts)

    def count(self, node_type: str) -> int:
        """Number of nodes of `node_type` (`any`: all nodes)."""
        if node_type == ANY_TYPE:
            return sum(c for _, c in self.type_counts)
        return dict(self.type_counts).get(node_type, 0)


# --- value checks -------------------------------------------------------------------------------

_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_CLUSTER = re.compile(rf"(?=.{{1,63}}\Z){_LABEL}")
_DOMAIN = re.compile(rf"(?=.{{1,200}}\Z){_LABEL}(\.{_LABEL})*")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PREFIX = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BACKUP_NAME = re.compile(r"(?=.{1,63}\Z)[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")


def check_cluster_name(v: str) -> str | None:
    """A cluster name becomes part of host names: a lower-case DNS label."""
    if _CLUSTER.fullmatch(v):
        return None
    return "expected lower-case letters, digits and inner hyphens, e.g. lokomotive"


def check_domain(v: str) -> str | None:
    """A DNS domain name in lower case, e.g. k8s.localdomain."""
    if _DOMAIN.fullmatch(v):
        return None
    return "expected a lower-case domain name such as k8s.localdomain"


def check_subnet_prefix(v: str) -> str | None:
    """Three decimal octets of a usable private network, e.g. 172.24.213 (`.0/24` is appended).

    The plan's own check decides, so that the wizard and the plan agree.
    """
    if not _PREFIX.fullmatch(v):
        return "expected the first three numbers of an IPv4 address, e.g. 172.24.213"
    try:
        plan.check_subnet_prefix(v)
    except InputError as e:
        return e.message
    return None


def check_count(v: str) -> str | None:
    """A whole number, zero or more."""
    if v.isascii() and v.isdigit() and len(v) <= 4:
        return None
    return "expected a whole number, 0 or more"


def check_storage_count(v: str) -> str | None:
    """`all` or a whole number."""
    if v == ALL or check_count(v) is None:
        return None
    return "expected 'all' or a whole number"


def ip_addrs_checker(source: str, facts: RackFacts) -> Check:
    """A check of `-ip-addrs` text: `DHCP`, or INI `[secondary MAC]` sections of known nodes.

    `source` names the text in messages (the flag, or the editor); line and column are given.
    """

    def check(v: str) -> str | None:
        if v == "DHCP":
            return None
        if not any(line.strip().startswith("[") for line in v.splitlines()):
            return 'expected "DHCP" or INI text with [aa:bb:cc:dd:ee:ff] sections'
        try:
            sections = parse_ip_addr_sections(v, source)
        except InputError as e:
            return str(e)
        known = {m for m, _ in facts.secondary_macs}
        for s in sections:
            if known and s.address.secondary_mac not in known:
                return (f"{source}:{s.line}:{s.column}: [{s.address.secondary_mac}] is not the "
                        "secondary MAC address of any node")
        return None

    return check


def check_key(v: str) -> str | None:
    """An access key: no spaces. Never quoted back, it is a secret."""
    if v and not any(c.isspace() for c in v):
        return None
    return "expected a key without spaces"


def check_file_name(v: str) -> str | None:
    """A file name on one line (the file itself is read when the rack is configured)."""
    if v and "\n" not in v and "\r" not in v and "\0" not in v:
        return None
    return "expected the name of a file"


def check_bucket(v: str) -> str | None:
    """An S3 bucket name."""
    if _BUCKET.fullmatch(v):
        return None
    return "expected an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens"


def check_backup_name(v: str) -> str | None:
    """The Velero backup name, a Kubernetes object name."""
    if _BACKUP_NAME.fullmatch(v):
        return None
    return "expected lower-case letters, digits, dots and hyphens, e.g. lokomotive-backup"


def check_region(v: str) -> str | None:
    """An S3 region or zone such as eu-central-1."""
    if _REGION.fullmatch(v):
        return None
    return "expected a region such as us-east-2"


def check_exclude(v: str) -> str | None:
    """White-space separated MAC addresses."""
    bad = [w for w in v.split() if parse_mac(w) is None]
    if bad:
        return f"not a MAC address: {bad[0]!r} (expected e.g. aa:bb:cc:dd:ee:ff)"
    return None


_BLANK_SETTING = re.compile(r"[ \t]*(ip_addr|gateway|dns)[ \t]*=[ \t]*", re.IGNORECASE)


def drop_blank_settings(text: str) -> str:
    """Remove `key =` lines without a value from -ip-addrs text.

    The editor starts with such lines for every node, and the documentation says an entry
    without an address is ignored: a blank setting means "not given".
    """
    kept = [ln for ln in text.splitlines() if not _BLANK_SETTING.fullmatch(ln)]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def normalize(key: str, value: str) -> str:
    """Spellings racker accepts for a value, mapped to the one it records."""
    v = value.strip()
    if key in BOOLEAN_KEYS:
        low = v.lower()
        if low in TRUE_WORDS:
            return "true"
        if low in FALSE_WORDS:
            return "false"
    if key == "ip-addrs" and v.lower() == "dhcp":
        return "DHCP"
    if key in ("provision", "storage-provider", "onfailure", "number-of-storage-nodes"):
        return v.lower()
    return drop_blank_settings(value) if key == "ip-addrs" else v


BOOLEAN_KEYS = frozenset({"web-ui", "config-backup"})
SECRET_KEYS = frozenset({"aws-access-key", "aws-secret-key"})
SECRET_KEY_ENV = "RACKER_AWS_SECRET_KEY"
"""The environment variable that gives the AWS secret key without putting it into argv."""


@dataclass(frozen=True)
class Field:
    """One answer: its default, its allowed values (empty: free text) and its check."""

    key: str
    default: str
    choices: tuple[str, ...] = ()
    check: Check | None = None

    def problem(self, value: str) -> str | None:
        """Why `value` is refused, or None. Choice fields list the allowed values."""
        if self.choices:
            if value in self.choices:
                return None
            return "allowed values: " + ", ".join(self.choices)
        if self.check is not None:
            return self.check(value)
        return None


def fields(facts: RackFacts) -> dict[str, Field]:
    """Every answer racker bootstrap takes, with the rack's node types filled in."""
    types = (ANY_TYPE, *facts.node_types)
    table = [
        Field("provision", Provision.LOKOMOTIVE.value, tuple(p.value for p in Provision)),
        Field("onfailure", OnFailure.ASK.value, tuple(o.value for o in OnFailure)),
        Field("retries", "3", check=check_count),
        Field("exclude", "", check=check_exclude),
        Field("cluster-name", "lokomotive", check=check_cluster_name),
        Field("num-controllers", "3" if facts.ha_possible else "1", ("1", "3")),
        Field("controller-type", ANY_TYPE, types),
        Field("ip-addrs", "DHCP", check=ip_addrs_checker("-ip-addrs", facts)),
        Field("k8s-domain-name", "k8s.localdomain", check=check_domain),
        Field("subnet-prefix", "172.24.213", check=check_subnet_prefix),
        Field("web-ui", "true", ("true", "false")),
        Field("storage-provider", "none", tuple(s.value for s in StorageProvider)),
        Field("storage-node-type", ANY_TYPE, types),
        Field("number-of-storage-nodes", ALL, check=check_storage_count),
        Field("config-backup", "false", ("true", "false")),
        Field("aws-access-key", "", check=check_key),
        Field("aws-secret-key", "", check=check_key),
        Field("aws-secret-key-file", "", check=check_file_name),
        Field("backup-name", "lokomotive-backup", check=check_backup_name),
        Field("backup-s3-bucket", "", check=check_bucket),
        Field("backup-aws-location", "us-east-2", check=check_region),
    ]
    return {f.key: f for f in table}


def defaults(facts: RackFacts) -> dict[str, str]:
    """The default of every answer."""
    return {k: f.default for k, f in fields(facts).items()}


def flag_where(key: str) -> Where:
    """The place at fault for an answer: its flag."""
    return Where(flag=f"-{key}")


def options_from_answers(answers: Mapping[str, str], facts: RackFacts) -> Options:
    """Turn checked answers (defaults filled in) into Options, with the checks across answers.

    Raises InputError naming the flag at fault, e.g. -config-backup true without its keys.
    """
    a = {**defaults(facts), **answers}
    provision = Provision(a["provision"])
    backup = None
    if provision is Provision.LOKOMOTIVE and a["config-backup"] == "true":
        for key in ("aws-access-key", "aws-secret-key", "backup-s3-bucket"):
            if not a[key]:
                raise InputError(
                    f"-{key} is needed when backups are configured",
                    where=flag_where(key),
                    hint="give -aws-access-key, -aws-secret-key and -backup-s3-bucket, "
                    "or -config-backup false",
                )
        backup = Backup(
            aws_access_key=a["aws-access-key"],
            aws_secret_key=a["aws-secret-key"],
            name=a["backup-name"],
            s3_bucket=a["backup-s3-bucket"],
            aws_location=a["backup-aws-location"],
        )
    num_controllers = int(a["num-controllers"])
    storage = StorageProvider(a["storage-provider"])
    storage_count = None if a["number-of-storage-nodes"] == ALL else int(
        a["number-of-storage-nodes"])
    if provision is Provision.LOKOMOTIVE:
        _check_counts(a, facts, num_controllers, storage, storage_count)
        if storage_count == 0:
            # NOTE: as in the reference, zero storage nodes means no storage provider.
            storage = StorageProvider.NONE
    exclude = tuple(parse_mac(w) or w for w in a["exclude"].split())
    unknown = [m for m in exclude if facts.known_macs and m not in facts.known_macs]
    if unknown:
        raise InputError(
            f"{unknown[0]} is not a MAC of any node in nodes.csv",
            where=flag_where("exclude"),
            hint="use a primary, BMC or secondary MAC of a node row (not the management node)",
        )
    common = Options(
        provision=provision,
        ip_addrs=a["ip-addrs"],
        subnet_prefix=a["subnet-prefix"],
        onfailure=OnFailure(a["onfailure"]),
        retries=int(a["retries"]),
        exclude=exclude,
    )
    if provision is Provision.FLATCAR:
        return common  # the Lokomotive answers keep Options' defaults: they do not apply
    return replace(
        common,
        cluster_name=a["cluster-name"],
        num_controllers=num_controllers,
        controller_type=a["controller-type"],
        k8s_domain_name=a["k8s-domain-name"],
        web_ui=a["web-ui"] == "true",
        storage_provider=storage,
        storage_node_type=a["storage-node-type"],
        number_of_storage_nodes=storage_count,
        backup=backup,
    )


def _check_counts(
    a: Mapping[str, str],
    facts: RackFacts,
    controllers: int,
    storage: StorageProvider,
    storage_count: int | None,
) -> None:
    """Refuse counts the rack cannot hold (exclusions can only make it worse)."""
    ctype = a["controller-type"]
    have = facts.count(ctype)
    if facts.type_counts and have < controllers:
        enough = [t for t in (ANY_TYPE, *facts.node_types) if facts.count(t) >= controllers]
        raise InputError(
            f"{controllers} controllers of node type {ctype!r} asked for, "
            f"the rack has {have} such nodes",
            where=flag_where("controller-type" if controllers == 1 else "num-controllers"),
            hint=(f"choose a node type with enough nodes ({', '.join(enough)})"
                  + (" or -num-controllers 1" if controllers > 1 else "")) if enough
            else "use -num-controllers 1",
        )
    if storage is not StorageProvider.NONE and storage_count and facts.type_counts:
        stype = a["storage-node-type"]
        if facts.count(stype) < storage_count:
            raise InputError(
                f"{storage_count} storage nodes of node type {stype!r} asked for, "
                f"the rack has {facts.count(stype)} such nodes",
                where=flag_where("number-of-storage-nodes"),
                hint="use a smaller number or 'all'",
            )


def describe(options: Options) -> list[str]:
    """Operator-facing summary lines of the chosen options. Secrets show as `(set)`."""
    o = options
    static = "DHCP" if o.ip_addrs == "DHCP" else "static (INI)"
    lines = [f"provision: {o.provision.value}"]
    if o.provision is Provision.LOKOMOTIVE:
        storage = o.storage_provider.value
        if o.storage_provider is not StorageProvider.NONE:
            count = ALL if o.number_of_storage_nodes is None else str(o.number_of_storage_nodes)
            storage += f" on {count} nodes of type {o.storage_node_type}"
        lines += [
            f"cluster name: {o.cluster_name}",
            f"controllers: {o.num_controllers} of node type {o.controller_type}",
            f"public IP addresses: {static}",
            f"Kubernetes domain name: {o.k8s_domain_name}",
            f"subnet prefix: {o.subnet_prefix}",
            f"web UI: {'yes' if o.web_ui else 'no'}",
            f"storage: {storage}",
        ]
        if o.backup is None:
            lines.append("backup: no")
        else:
            b = o.backup
            lines.append(
                f"backup: {b.name} to S3 bucket {b.s3_bucket} in {b.aws_location} "
                "(access key (set), secret key (set))"
            )
    else:
        lines += [f"public IP addresses: {static}", f"subnet prefix: {o.subnet_prefix}"]
    lines.append(f"on failure: {o.onfailure.value} (retries {o.retries})")
    if o.exclude:
        lines.append("excluded: " + " ".join(o.exclude))
    return lines


def recorded_values(o: Options) -> dict[str, str]:
    """The flag values (normalised as `checked_value` gives them) that the recorded options of
    a configuration stand for: what a resumed bootstrap compares the flags it is given with."""
    values = {
        "provision": o.provision.value, "onfailure": o.onfailure.value,
        "retries": str(o.retries), "exclude": " ".join(o.exclude), "ip-addrs": o.ip_addrs,
        "subnet-prefix": o.subnet_prefix,
    }
    if o.provision is Provision.LOKOMOTIVE:
        values |= {
            "cluster-name": o.cluster_name, "num-controllers": str(o.num_controllers),
            "controller-type": o.controller_type, "k8s-domain-name": o.k8s_domain_name,
            "web-ui": "true" if o.web_ui else "false",
            "storage-provider": o.storage_provider.value,
            "storage-node-type": o.storage_node_type,
            "number-of-storage-nodes": (ALL if o.number_of_storage_nodes is None
                                        else str(o.number_of_storage_nodes)),
            "config-backup": "true" if o.backup else "false",
        }
        if o.backup is not None:
            values |= {"backup-name": o.backup.name, "backup-s3-bucket": o.backup.s3_bucket,
                       "backup-aws-location": o.backup.aws_location,
                       "aws-access-key": o.backup.aws_access_key,
                       "aws-secret-key": o.backup.aws_secret_key}
    return values
