"""The flags of `racker bootstrap`: parsing (Go style and GNU style), checking and `-h` output.

Every flag is accepted as `-name value`, `-name=value`, `--name value` and `--name=value`, as the
reference's Go flag package did, plus the GNU spelling. Pure: the caller prints.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from racker.core.bootstrap.options import (
    SECRET_KEY_ENV,
    SECRET_KEYS,
    RackFacts,
    fields,
    flag_where,
    normalize,
)
from racker.core.suggest import did_you_mean
from racker.errors import InputError, Where
from racker.model import Provision

LOKO = frozenset({Provision.LOKOMOTIVE})
BOTH = frozenset({Provision.LOKOMOTIVE, Provision.FLATCAR})
GENERAL: frozenset[Provision] = frozenset()
_BACKUP_ONLY = "; only needed when configuring backups"


@dataclass(frozen=True)
class Flag:
    name: str
    help: str
    scope: frozenset[Provision]
    """The provision types the flag applies to; empty: every type (a general flag)."""


# Operator-facing help texts: the reference's, which operators and their scripts know.
FLAGS: tuple[Flag, ...] = (
    Flag("provision", 'Value should be "lokomotive" or "flatcar"', GENERAL),
    Flag("onfailure", "behavior on provisioning failure; options are: "
         "ask|retry|exclude|cancel.", GENERAL),
    Flag("retries", "if -onfailure=retry or -onfailure=exclude is set, the number of retries "
         "before giving up", GENERAL),
    Flag("exclude", "exclude these nodes from provisioning, expects a string containing a "
         "white-space separated list of MAC addresses", GENERAL),
    Flag("cluster-name", "The name for the cluster", LOKO),
    Flag("num-controllers", "The number of controller nodes: 3 for a highly-available control "
         "plane, 1 for a single-node control plane", LOKO),
    Flag("controller-type", "With different hardware in a rack you can specify which ones to "
         "use for the Kubernetes control plane (The node types are annotated in "
         "/usr/share/oem/nodes.csv).", LOKO),
    Flag("ip-addrs", 'Set as "DHCP" for automatically assigning IP address, or provide the '
         "configuration of each node in the INI format "
         '"[aa:bb:cc:dd:ee:ff]\\nip_addr = 11.22.33.44/22\\ngateway = 11.22.33.1\\n'
         'dns = 11.22.33.1"', BOTH),
    Flag("k8s-domain-name", "The Kubernetes domain name is appended to the host name of each "
         "node. It is used internally but you can also use a public domain and set its "
         "records manually.", LOKO),
    Flag("subnet-prefix", "The subnet prefix is in the first three numbers of the decimal IP "
         "address format, so that .0/24 can be appended", BOTH),
    Flag("web-ui", "Whether to install the Web UI component (also installs metrics-server)",
         LOKO),
    Flag("storage-provider", "Setup storage for Lokomotive. Options are 'none', 'rook', "
         "'openebs'", LOKO),
    Flag("storage-node-type", "With different hardware in a rack you can specify which ones "
         "to use for storage (The node types are annotated in /usr/share/oem/nodes.csv).",
         LOKO),
    Flag("number-of-storage-nodes", "The number of nodes of the selected type to be used for "
         "storage", LOKO),
    Flag("config-backup", "Whether to set up a backup to S3 using Velero. Ensure the following "
         "AWS resources are created before proceeding:\n S3 bucket, IAM user for Velero, "
         "required policies by the IAM user on the S3 bucket, Access Keys for the IAM user.\n"
         " Following the steps outlined for the resources:\n Create S3 bucket: "
         "https://github.com/vmware-tanzu/velero-plugin-for-aws#create-s3-bucket\n Creation "
         "of IAM user and permissions for the IAM User: "
         "https://github.com/vmware-tanzu/velero-plugin-for-aws#set-permissions-for-velero",
         LOKO),
    Flag("aws-access-key", "Provide your AWS access key" + _BACKUP_ONLY, LOKO),
    Flag("aws-secret-key", "Provide your AWS secret key" + _BACKUP_ONLY
         + " (visible to other users in ps: prefer -aws-secret-key-file or "
         "$" + SECRET_KEY_ENV + ")", LOKO),
    Flag("aws-secret-key-file", "Read the AWS secret key from this file (one line, not "
         "accessible by group or others)" + _BACKUP_ONLY, LOKO),
    Flag("backup-name", "Provide the name for the backup" + _BACKUP_ONLY, LOKO),
    Flag("backup-s3-bucket", "Provide the name of the S3 bucket you want the back up to be "
         "stored at" + _BACKUP_ONLY, LOKO),
    Flag("backup-aws-location", "Provide the region of the S3 bucket you want the back up to "
         "be stored at" + _BACKUP_ONLY, LOKO),
)
BY_NAME: Mapping[str, Flag] = {f.name: f for f in FLAGS}
RENDER_ONLY_HELP = (
    "write the configuration folder, dnsmasq.conf and the hosts entries, then stop before any "
    "BMC, service or network is touched"
)
_HELP_WORDS = ("-h", "-help", "--help")
_RENDER_ONLY = re.compile(r"--?render-only(?:=(.*))?")


@dataclass(frozen=True)
class ParsedFlags:
    values: Mapping[str, str]
    """Raw values of the flags given, by flag name (without dashes)."""
    help: bool = False
    render_only: bool = False

    @property
    def provision_specific(self) -> tuple[str, ...]:
        """The flags given that belong to a provision type: they switch the wizard off."""
        return tuple(k for k in self.values if BY_NAME[k].scope)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print and exit; racker reports through its error tree instead.
        raise InputError(message, hint="run 'racker bootstrap -h' for the flags")


def _parser() -> _Parser:
    p = _Parser(prog="racker bootstrap", add_help=False, allow_abbrev=False,
                exit_on_error=False)
    for f in FLAGS:
        p.add_argument(f"-{f.name}", f"--{f.name}", dest=f.name, default=None)
    return p


def _check_names(args: Sequence[str]) -> None:
    """Refuse unknown flags by their exact name: argparse would take `-p` for `-provision`."""
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if not word.startswith("-") or word == "-" or " " in word:
            continue
        name, eq, _ = word.lstrip("-").partition("=")
        if name not in BY_NAME or word.startswith("---"):
            shown = word.split("=", 1)[0]
            known = [f"-{n}" for n in (*BY_NAME, "render-only")]
            guess = did_you_mean(shown, known)
            raise InputError(f"unknown flag {shown}", where=Where(flag=shown),
                             hint=(f"{guess} " if guess else "")
                             + "run 'racker bootstrap -h' for the flags")
        if not eq:
            i += 1  # the next word is this flag's value, whatever it looks like


def parse_flags(argv: Sequence[str]) -> ParsedFlags:
    """Parse the arguments of `racker bootstrap` into raw flag values (checked later).

    Raises InputError naming the flag for an unknown flag, a missing value or a positional.
    """
    rest: list[str] = []
    want_help = False
    render_only = False
    for arg in argv:
        m = _RENDER_ONLY.fullmatch(arg)
        if arg in _HELP_WORDS:
            want_help = True
        elif m:
            word = (m.group(1) or "true").lower()
            if word not in ("true", "false", "1", "0"):
                raise InputError(f"invalid value {m.group(1)!r}; allowed values: true, false",
                                 where=Where(flag="-render-only"))
            render_only = word in ("true", "1")
        else:
            rest.append(arg)
    _check_names(rest)
    try:
        ns, extra = _parser().parse_known_args(rest)
    except argparse.ArgumentError as e:
        name = (e.argument_name or "").split("/")[0]
        text = "a value is missing" if "expected one argument" in e.message else e.message
        raise InputError(text, where=Where(flag=name),
                         hint="give it as -name value, -name=value or --name=value") from None
    for word in extra:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            raise InputError(f"unknown flag {name}", where=Where(flag=name),
                             hint="run 'racker bootstrap -h' for the flags")
        raise InputError(f"unexpected argument {word!r}",
                         hint="every value belongs to a flag, e.g. -cluster-name NAME; quote "
                         "values that contain spaces")
    values = {k: v for k, v in vars(ns).items() if v is not None}
    return ParsedFlags(values=values, help=want_help, render_only=render_only)


def checked_value(name: str, raw: str, facts: RackFacts) -> str:
    """The normalised value of flag `name`, or InputError naming the flag and what is allowed."""
    field = fields(facts)[name]
    value = normalize(name, raw)
    problem = field.problem(value)
    if problem is None:
        return value
    shown = repr(raw)
    if name in SECRET_KEYS:
        shown = "the value given"
    elif len(raw) > 60 or "\n" in raw:
        shown = "given"
    raise InputError(f"invalid value {shown}: {problem}", where=flag_where(name))


def check_scope(parsed: ParsedFlags, provision: Provision) -> None:
    """Refuse flags that do not apply to `provision`, e.g. -cluster-name with flatcar."""
    for name in parsed.values:
        scope = BY_NAME[name].scope
        if scope and provision not in scope:
            allowed = " or ".join(sorted(p.value for p in scope))
            raise InputError(
                f"-{name} applies only to -provision {allowed}, not to {provision.value}",
                where=flag_where(name),
                hint=f"run 'racker bootstrap -provision {provision.value} -h' for its flags",
            )


def _entry(name: str, text: str, default: str, boolean: bool = False) -> list[str]:
    head = f"  -{name}" if boolean else f"  -{name} string"
    body = text.replace("\n", "\n    \t")
    if default.startswith("("):
        body += f" {default}"
    elif default:
        body += f' (default "{default}")'
    return [head, "    \t" + body]


def usage(provision: Provision | None, facts: RackFacts | None) -> str:
    """The `-h` text: the general flags, or those of one provision type, sorted by name.

    `facts` fills in rack-dependent defaults (-num-controllers); None when the rack is unknown.
    """
    defaults = {k: f.default for k, f in fields(facts or RackFacts()).items()}
    if facts is None:
        defaults["num-controllers"] = (
            '(default "3" when a node type has at least 3 nodes, else "1")')
    lines: list[str]
    if provision is None:
        lines = ["Usage: racker bootstrap [-provision lokomotive|flatcar] [flags]",
                 "Flags are given as -name value, -name=value or --name=value."]
        chosen = [f for f in FLAGS if not f.scope]
    else:
        lines = [f"Usage: racker bootstrap -provision {provision.value} [flags]"]
        chosen = [f for f in FLAGS if provision in f.scope]
    for f in sorted(chosen, key=lambda f: f.name):
        lines += _entry(f.name, f.help, defaults[f.name])
    if provision is None:
        lines += _entry("render-only", RENDER_ONLY_HELP, "", boolean=True)
        lines += ["",
                  "Without flags, a wizard asks for the options; a flag of one provision type",
                  "skips the remaining questions and takes the defaults. The options of each",
                  "type: 'racker bootstrap -provision lokomotive -h' and "
                  "'racker bootstrap -provision flatcar -h'."]
    return "\n".join(lines)
