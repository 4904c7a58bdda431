"""The bootstrap wizard as data: questions, defaults, choices, help and the links between them.

Pure: the terminal is behind the `Asker` protocol, so tests answer with a script and racker
answers with questionary (racker.cli.wizard_asker) or with the defaults when stdin is no terminal.

A question's answer is stored under its `key` (the flag name); several questions can share a key
(the HA and the single-controller type question, the IP mode and its editor). After an answer,
the first link whose condition holds picks the next question; otherwise `then` does; `None` ends.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from racker.core.bootstrap.options import (
    ALL,
    Check,
    RackFacts,
    check_backup_name,
    check_bucket,
    check_cluster_name,
    check_domain,
    check_key,
    check_region,
    check_storage_count,
    check_subnet_prefix,
    drop_blank_settings,
    fields,
    ip_addrs_checker,
)
from racker.errors import InputError
from racker.model import ANY_TYPE, Provision

HELP = "?"
"""What an Asker returns when the operator asks for the help of a question."""

OTHER = "_input"
"""The choice value that leads from a list to a free-text question."""

MAX_STEPS = 1000
"""Upper bound of questions in one walk, so that a misbehaving Asker cannot loop forever."""


class Kind(StrEnum):
    INPUT = "input"
    SECRET = "secret"
    """An input that is not echoed."""
    SELECT = "select"
    CONFIRM = "confirm"
    """Answered `true` or `false`."""
    EDITOR = "editor"
    """Opens $EDITOR on the default text; the answer is the edited text."""


@dataclass(frozen=True)
class Choice:
    value: str
    display: str


@dataclass(frozen=True)
class Link:
    """Go to `target` (None: end) when the answer equals `value` (or differs, with `negate`)."""

    target: str | None
    value: str
    negate: bool = False

    def matches(self, answer: str) -> bool:
        """Whether this link is taken for `answer`."""
        return (answer == self.value) != self.negate


@dataclass(frozen=True)
class Question:
    name: str
    key: str
    kind: Kind
    message: str
    help: str = ""
    default: str = ""
    choices: tuple[Choice, ...] = ()
    links: tuple[Link, ...] = ()
    then: str | None = None
    check: Check | None = field(default=None, compare=False)

    def next(self, answer: str) -> str | None:
        """The name of the question after `answer`, or None at the end."""
        for link in self.links:
            if link.matches(answer):
                return link.target
        return self.then


@dataclass(frozen=True)
class Graph:
    start: str | None
    """The first question; None: nothing to ask."""
    questions: Mapping[str, Question]


def without_keys(graph: Graph, keys: Collection[str]) -> Graph:
    """`graph` without the questions whose answer is known already (by key): whatever led to
    such a question leads past it, to its `then`.

    Used for answers given outside the wizard, e.g. the AWS secret key from the environment.
    """
    def past(name: str | None) -> str | None:
        seen: set[str] = set()
        while name is not None and graph.questions[name].key in keys and name not in seen:
            seen.add(name)
            name = graph.questions[name].then
        return name

    kept = {
        n: replace(q, links=tuple(replace(ln, target=past(ln.target)) for ln in q.links),
                   then=past(q.then))
        for n, q in graph.questions.items()
        if q.key not in keys
    }
    return Graph(past(graph.start), kept)


class Asker(Protocol):
    """Puts one question to the operator."""

    def ask(self, question: Question) -> str:
        """The raw answer: typed text (empty for none), a choice value, `true`/`false` for a
        confirmation, the edited text for an editor, or HELP."""
        ...

    def tell(self, text: str) -> None:
        """Show a line to the operator (help text, why an answer was refused)."""
        ...


class DefaultAsker:
    """Answers every question with its default: racker without a terminal on stdin."""

    def ask(self, question: Question) -> str:
        """The question's default (the editor's default text is kept unchanged)."""
        return question.default

    def tell(self, text: str) -> None:
        """Nobody is there to read it."""


def _yes_no() -> tuple[Choice, ...]:
    return (Choice("true", "Yes"), Choice("false", "No"))


def _choices(values: tuple[str, ...]) -> tuple[Choice, ...]:
    return tuple(Choice(v, v) for v in values)


# Operator-facing texts: the reference's questions and help, which operators know.
_TYPE_HELP = (
    "With different hardware in a rack you can specify which ones to use for the Kubernetes "
    "control plane (The node types are annotated in /usr/share/oem/nodes.csv)."
)
_IP_HELP = (
    "Each node needs an IP address, this can be done using DHCP or through manual assignment"
)
_BACKUP_HELP = (
    "Whether to set up a backup to S3 using Velero. Ensure the following AWS resources are "
    "created before proceeding:\n"
    " S3 bucket, IAM user for Velero, required policies by the IAM user on the S3 bucket, "
    "Access Keys for the IAM user.\n"
    " Following the steps outlined for the resources:\n"
    " Create S3 bucket: https://github.com/vmware-tanzu/velero-plugin-for-aws#create-s3-bucket\n"
    " Creation of IAM user and permissions for the IAM User: "
    "https://github.com/vmware-tanzu/velero-plugin-for-aws#set-permissions-for-velero"
)
AWS_REGIONS = (
    "us-east-2", "us-east-1", "us-west-1", "us-west-2", "eu-central-1", "eu-west-1",
    "eu-west-2", "eu-south-1", "eu-west-3", "eu-north-1", "me-south-1", "sa-east-1",
    "af-south-1", "ap-east-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ca-central-1",
)

_PREFILL_GUIDE = """\
# Static IP addresses for the public network interface (secondary NIC) of each node.
# Every section below is named by the MAC address of one node's secondary NIC.
# A section without an ip_addr is ignored, its gateway and dns too: that node uses DHCP.
# The first section with an ip_addr also needs a gateway and a dns. Later sections reuse the
# last gateway and dns given, unless they set their own, which are then reused onward.
# ip_addr is a.b.c.d/N, e.g. 60.50.40.31/24; gateway and dns take one address each.
# Lines starting with # are ignored anywhere; a comment cannot follow a value on its line.
# Leaving the editor without changes keeps DHCP for every node.
# To go back to the previous question, delete all content and save.
"""


def prefill(facts: RackFacts) -> str:
    """The editor's starting text: the guidance, then an empty section per secondary MAC."""
    parts = [_PREFILL_GUIDE]
    for mac, what in facts.secondary_macs:
        parts.append(f"\n# {what}\n[{mac}]\nip_addr =\ngateway =\ndns =\n")
    return "".join(parts)


def is_blank(text: str) -> bool:
    """True when `text` holds nothing but comments and white space."""
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines())


def provision_graph() -> Graph:
    """The first question: what to provision."""
    q = Question(
        "provision", "provision", Kind.SELECT, "Choose what to provision",
        help="Lokomotive Kubernetes sets up a Kubernetes cluster on the rack; Flatcar "
        "Container Linux installs each server with its own Ignition config",
        default=Provision.LOKOMOTIVE.value,
        choices=(Choice("lokomotive", "Lokomotive Kubernetes"),
                 Choice("flatcar", "Flatcar Container Linux")),
    )
    return Graph("provision", {q.name: q})


def _ip_questions(after: str | None, facts: RackFacts) -> list[Question]:
    return [
        Question(
            "ip-addrs", "ip-addrs", Kind.SELECT,
            "Choose how you want to assign the IP addresses", help=_IP_HELP, default="DHCP",
            choices=(Choice("DHCP", "Use DHCP"), Choice("manual", "Configure manually")),
            links=(Link("manual-ip-assignment", "manual"),), then=after,
        ),
        Question(
            "manual-ip-assignment", "ip-addrs", Kind.EDITOR,
            "An editor will open with instructions on how to configure the IP addresses",
            help=_IP_HELP + ", not configuring an address means using DHCP for this node",
            default=prefill(facts),
            links=(Link("ip-addrs", ""),), then=after,
            check=ip_addrs_checker("IP addresses", facts),
        ),
    ]


def _subnet_question(then: str | None) -> Question:
    return Question(
        "subnet-prefix", "subnet-prefix", Kind.INPUT,
        "Choose a subnet prefix for the rack-internal network, only change this if the "
        "default clashes with the external network",
        help="The subnet prefix is in the first three numbers of the decimal IP address "
        "format, so that .0/24 can be appended",
        default="172.24.213", then=then, check=check_subnet_prefix,
    )


def flatcar_graph(facts: RackFacts) -> Graph:
    """Flatcar: public IP addresses, then the internal subnet."""
    qs = [*_ip_questions("subnet-prefix", facts), _subnet_question(None)]
    return Graph("ip-addrs", {q.name: q for q in qs})


def lokomotive_graph(facts: RackFacts) -> Graph:
    """Lokomotive: cluster, control plane, addresses, components, storage and backups."""
    types = _choices((ANY_TYPE, *facts.node_types))
    first_cluster_q = "num-controllers" if facts.ha_possible else "controller-type"
    back = Link("config-backup", "")
    qs = [
        Question(
            "cluster-name", "cluster-name", Kind.INPUT, "Choose a cluster name",
            help="The name for the cluster", default="lokomotive",
            then=first_cluster_q, check=check_cluster_name,
        ),
        Question(
            "num-controllers", "num-controllers", Kind.SELECT,
            "Select the type of control plane you want",
            help="With 3 controllers the control plane stays operational when one controller "
            "is down; a single controller has no redundancy",
            default=fields(facts)["num-controllers"].default,
            choices=(
                Choice("3", "Highly-available (HA) control plane (3 redundant controller nodes)"),
                Choice("1", "Single-node control plane (no redundancy)"),
            ),
            links=(Link("controller-type-ha", "3"),), then="controller-type",
        ),
        Question(
            "controller-type", "controller-type", Kind.SELECT,
            "Choose a server type for the controller nodes", help=_TYPE_HELP,
            default=ANY_TYPE, choices=types, then="ip-addrs",
        ),
        Question(
            "controller-type-ha", "controller-type", Kind.SELECT,
            "Choose a server type for the controller nodes", help=_TYPE_HELP,
            default=ANY_TYPE, choices=_choices((ANY_TYPE, *facts.ha_types)), then="ip-addrs",
        ),
        # NOTE: the reference jumped from the IP editor straight to the subnet prefix and so
        # never asked for the domain name; the documentation asks both, in this order.
        *_ip_questions("k8s-domain-name", facts),
        Question(
            "k8s-domain-name", "k8s-domain-name", Kind.INPUT,
            "Choose a Kubernetes domain name (appended to the host names)",
            help="The Kubernetes domain name is appended to the host name of each node. It is "
            "used internally but you can also use a public domain and set its records manually.",
            default="k8s.localdomain", then="subnet-prefix", check=check_domain,
        ),
        _subnet_question("web-ui"),
        Question(
            "web-ui", "web-ui", Kind.SELECT, "Do you want to install the Lokomotive Web UI?",
            help="Whether to install the Web UI component (also installs metrics-server)",
            default="true", choices=_yes_no(), then="storage-provider",
        ),
        Question(
            "storage-provider", "storage-provider", Kind.SELECT,
            "Choose a Kubernetes storage provider",
            help="Whether to setup storage for the applications running on Lokomotive.",
            default="none",
            choices=(Choice("none", "None"), Choice("openebs", "OpenEBS"),
                     Choice("rook", "Rook")),
            links=(Link("config-backup", "none"),), then="storage-node-type",
        ),
        Question(
            "storage-node-type", "storage-node-type", Kind.SELECT,
            "Choose a node type for storage nodes",
            help="With different hardware in a rack you can specify which ones to use for "
            "storage (The node types are annotated in /usr/share/oem/nodes.csv).",
            default=ANY_TYPE, choices=types, then="number-of-storage-nodes",
        ),
        Question(
            "number-of-storage-nodes", "number-of-storage-nodes", Kind.INPUT,
            "Number of machines of selected type to use as storage nodes",
            help="The number of nodes of the selected type to be used for storage",
            default=ALL, then="config-backup", check=check_storage_count,
        ),
        Question(
            "config-backup", "config-backup", Kind.CONFIRM,
            "Do you want to set up backup/restore?", help=_BACKUP_HELP, default="false",
            links=(Link("aws-access-key", "true"),), then=None,
        ),
        Question(
            "aws-access-key", "aws-access-key", Kind.SECRET, "Enter your AWS access key",
            help="Provide your AWS access key; leave empty to go back",
            links=(back,), then="aws-secret-key", check=check_key,
        ),
        Question(
            "aws-secret-key", "aws-secret-key", Kind.SECRET, "Enter your AWS secret key",
            help="Provide your AWS secret key; leave empty to go back",
            links=(back,), then="backup-name", check=check_key,
        ),
        Question(
            "backup-name", "backup-name", Kind.INPUT, "Enter the backup name",
            help="Provide the name for the backup.", default="lokomotive-backup",
            links=(back,), then="backup-s3-bucket", check=check_backup_name,
        ),
        Question(
            "backup-s3-bucket", "backup-s3-bucket", Kind.INPUT, "Enter the S3 bucket name",
            help="Provide the name of the S3 bucket you want the back up to be stored at; "
            "leave empty to go back",
            links=(back,), then="backup-aws-location", check=check_bucket,
        ),
        Question(
            "backup-aws-location", "backup-aws-location", Kind.SELECT,
            "Enter the S3 bucket location",
            help="Provide the region of the S3 bucket you want the back up to be stored at",
            default="us-east-2",
            choices=(Choice(OTHER, "Other"), *_choices(AWS_REGIONS)),
            links=(Link("other-aws-location", OTHER),), then=None,
        ),
        # NOTE: the reference ended the wizard with an empty region here; going back to the
        # list is what an operator who changed their mind expects.
        Question(
            "other-aws-location", "backup-aws-location", Kind.INPUT,
            "Enter the S3 bucket region / zone",
            help="Provide the region of the S3 bucket you want the back up to be stored at; "
            "leave empty to go back to the list",
            links=(Link("backup-aws-location", ""),), then=None, check=check_region,
        ),
    ]
    return Graph("cluster-name", {q.name: q for q in qs})


def graph_for(provision: Provision, facts: RackFacts) -> Graph:
    """The questions for one provision type."""
    if provision is Provision.LOKOMOTIVE:
        return lokomotive_graph(facts)
    return flatcar_graph(facts)


def _settle(q: Question, raw: str) -> tuple[str, str | None]:
    """The answer to record for a raw answer, and why it is refused (None: accepted)."""
    if q.kind in (Kind.INPUT, Kind.SECRET):
        value = raw.strip()
        if not value:
            return q.default, None
        if q.check is not None:
            return value, q.check(value)
        return value, None
    if q.kind is Kind.EDITOR:
        if is_blank(raw):
            return "", None
        text = drop_blank_settings(raw)
        return text, (q.check(text) if q.check is not None else None)
    if q.kind is Kind.CONFIRM:
        if raw in ("true", "false"):
            return raw, None
        return raw, "answer yes or no"
    if raw in (c.value for c in q.choices):
        return raw, None
    return raw, "choose one of: " + ", ".join(c.display for c in q.choices)


def walk(graph: Graph, asker: Asker) -> dict[str, str]:
    """Put the questions of `graph` to `asker`, following the links; the answers by key.

    HELP shows the question's help and asks again; a refused answer says why and asks again
    (an editor then reopens on the operator's text, not on the starting text).
    """
    answers: dict[str, str] = {}
    name: str | None = graph.start
    retry: Question | None = None
    for _ in range(MAX_STEPS):
        if name is None:
            return answers
        q = graph.questions[name]
        raw = asker.ask(retry or q)
        if raw == HELP:
            asker.tell("ⓘ " + (q.help or "No help for this question."))
            continue
        value, problem = _settle(q, raw)
        if problem is not None:
            shown = repr(value) if q.kind in (Kind.INPUT, Kind.SELECT) else "the text"
            if q.kind is Kind.SECRET:
                shown = "the value"
            asker.tell(f"✗ {shown} is not accepted: {problem}")
            if q.kind is Kind.EDITOR:
                retry = replace(q, default=raw)
            continue
        answers[q.key] = value
        name, retry = q.next(value), None
    raise InputError(f"the wizard asked more than {MAX_STEPS} questions; giving up")
