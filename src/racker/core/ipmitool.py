"""The pure part of the `ipmi` helper: arguments, settings, node lookup, argv and output text.

No I/O: `racker.cli.ipmi` reads the files, finds the BMC and runs `ipmitool`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from racker.core import discovery
from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import Inventory, Node

SOL = ("sol", "activate")
DIAG = ("diag",)
POWER_STATUS = (("power", "status"), ("chassis", "power", "status"))
"""Spellings of the power query the helper answers itself (racker's driver, not ipmitool)."""
DIAG_COMMANDS = (("chassis", "status"), ("chassis", "bootparam", "get", "5"))
"""What `diag` asks the BMC, in order."""
BATCH = ("exec", "/dev/stdin")
"""ipmitool reads commands from stdin and runs them in one session (exit code ≠ 0 if any
failed), so `diag` costs the BMC one session slot instead of two."""
ALL = "--all"
DEFAULT_RETRY_SEC = 150
ALL_DEFAULT_DEADLINE_SEC = 60.0
"""Wall-clock limit per ipmitool call in `--all` mode when IPMI_TIMEOUT is not set."""
MAX_PARALLEL = 16
"""BMCs queried at once by `--all`: enough for a rack, few enough for a busy management node."""


def usage(prog: str = "ipmi", retry_sec: int = DEFAULT_RETRY_SEC) -> str:
    """The `-h` text (the documented usage, plus racker's own environment variables)."""
    return "\n".join([
        f"Usage: {prog} domain|primary-mac|bmc-mac|--all diag|[ipmitool commands]",
        'If no command is given, defaults to "sol activate" for attaching the serial console '
        "(refused with --all).",
        'The "diag" command shows the BMC MAC address, BMC IP address, node MAC address, '
        'internal IP address and host name, and the IPMI "chassis status" and '
        '"chassis bootparam get 5" output.',
        "This helper attaches the terminal and stdin by default; for usage in scripts set the "
        "env vars USE_STDIN=0 USE_TTY=0 as needed.",
        f"When the BMC IP address can't be found, the helper retries for {retry_sec} seconds, "
        "configurable through the env var RETRY_SEC.",
        "IPMI_TIMEOUT=S makes ipmitool give up on a silent BMC after about 2*S seconds "
        f"(--all stops waiting for a BMC after {ALL_DEFAULT_DEADLINE_SEC:g} s unless set).",
    ])


class Kind(Enum):
    """What the helper does with a node."""

    SOL = "sol"
    DIAG = "diag"
    POWER_STATUS = "power-status"
    PASSTHROUGH = "passthrough"

    @property
    def builtin(self) -> bool:
        """Answered through racker's own BMC driver (pooled sessions), not by ipmitool."""
        return self in (Kind.DIAG, Kind.POWER_STATUS)


@dataclass(frozen=True)
class Request:
    """A parsed command line."""

    target: str
    """`--all`, a MAC in any form, or a host name."""
    command: tuple[str, ...]
    kind: Kind

    @property
    def all_nodes(self) -> bool:
        return self.target == ALL


def parse_args(argv: Sequence[str]) -> Request | None:
    """The request, or None when usage should be printed (no arguments, `-h`, `--help`)."""
    if not argv or argv[0] in ("-h", "--help"):
        return None
    command = tuple(argv[1:]) or SOL
    kind = (Kind.SOL if command == SOL else Kind.DIAG if command == DIAG
            else Kind.POWER_STATUS if command in POWER_STATUS else Kind.PASSTHROUGH)
    req = Request(target=argv[0], command=command, kind=kind)
    if req.all_nodes and kind is Kind.SOL:
        raise InputError(
            "the serial console cannot be attached for all nodes at once",
            where=Where(flag=ALL),
            hint="name one node: ipmi MAC|DOMAIN [sol activate]",
        )
    return req


@dataclass(frozen=True)
class Settings:
    """The environment variables the helper reads."""

    use_stdin: bool = True
    use_tty: bool = True
    retry_sec: int = DEFAULT_RETRY_SEC
    ipmi_timeout: int | None = None
    """Seconds per ipmitool attempt (`-N`, with one retry `-R 1`); None keeps ipmitool's."""
    in_ssh: bool = False


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip()
    if value == "":
        return default
    if value in ("0", "1"):
        return value == "1"
    raise InputError(f"{name} must be 0 or 1, not {value!r}", where=Where(flag=name))


def _seconds(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = env.get(name, "").strip()
    if value == "":
        return None
    if not value.isdigit() or int(value) < minimum:
        raise InputError(f"{name} must be a whole number of seconds ≥ {minimum}, not {value!r}",
                         where=Where(flag=name))
    return int(value)


def parse_settings(env: Mapping[str, str]) -> Settings:
    """Read USE_STDIN, USE_TTY, RETRY_SEC, IPMI_TIMEOUT and whether we run inside SSH."""
    retry = _seconds(env, "RETRY_SEC", 0)
    return Settings(
        use_stdin=_flag(env, "USE_STDIN", True),
        use_tty=_flag(env, "USE_TTY", True),
        retry_sec=DEFAULT_RETRY_SEC if retry is None else retry,
        ipmi_timeout=_seconds(env, "IPMI_TIMEOUT", 1),
        in_ssh=bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY")),
    )


def deadline_sec(settings: Settings) -> float:
    """Wall-clock limit for one captured ipmitool call: a little over ipmitool's own give-up."""
    if settings.ipmi_timeout is None:
        return ALL_DEFAULT_DEADLINE_SEC
    # ipmitool -N S -R 1 gives up after about 2·S seconds (two attempts); 3 s of slack.
    return 2.0 * settings.ipmi_timeout + 3.0


def ipmitool_argv(ip: str, user: str, command: Sequence[str],
                  timeout: int | None = None) -> list[str]:
    """The ipmitool command line. The password is never part of it: `-E` reads IPMI_PASSWORD."""
    argv = ["ipmitool", "-I", "lanplus", "-C3", "-H", ip, "-U", user, "-E"]
    if timeout is not None:
        argv += ["-N", str(timeout), "-R", "1"]
    return [*argv, *command]


def batch_input(commands: Iterable[Sequence[str]]) -> str:
    """The stdin text for `ipmitool … exec /dev/stdin`: one command per line."""
    return "".join(" ".join(c) + "\n" for c in commands)


def child_env(base: Mapping[str, str], password: str) -> dict[str, str]:
    """The environment for ipmitool: ours plus IPMI_PASSWORD (the only place it goes)."""
    env = dict(base)
    env["IPMI_PASSWORD"] = password
    return env


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` masked (defence in depth for captured output)."""
    return text.replace(secret, "********") if secret else text


def detach_hint(in_ssh: bool) -> str:
    """What to type to leave the serial console."""
    if in_ssh:
        return ("Opening serial console, detach with ~~. (the first ~ escapes SSH's own escape "
                "character; add one ~ per further SSH hop, e.g. ~~~. through two connections)")
    return "Opening serial console, detach with ~. (after Enter)"


# --- nodes ---------------------------------------------------------------------------------------

def _all_rows(inventory: Inventory) -> tuple[Node, ...]:
    return (*inventory.nodes, inventory.management)


def resolve_node(
    target: str,
    inventory: Inventory,
    planned: Mapping[str, str],
    hosts: Sequence[discovery.HostsEntry],
) -> Node:
    """The node named by a primary, BMC or secondary MAC (any case, `:` or `-`) or a host name.

    A host name is looked up in the hosts file, its address in the planned addresses
    (dnsmasq.conf `dhcp-host` lines) and that MAC in the inventory.
    """
    mac = parse_mac(target)
    if mac is not None:
        for node in _all_rows(inventory):
            if mac in node.macs:
                return node
        raise InputError(
            f"no node in {inventory.path} has the MAC address {mac}",
            where=Where(file=str(inventory.path)),
            hint="use a node's primary or BMC MAC address as listed in nodes.csv",
        )
    by_mac = {m: n for n in _all_rows(inventory) for m in n.macs}
    matches: dict[str, Node] = {}
    for ip in discovery.ips_for_name(hosts, target):
        for m in discovery.macs_for_ip(planned, ip):
            if m in by_mac:
                matches.setdefault(by_mac[m].primary_mac, by_mac[m])
    if len(matches) == 1:
        return next(iter(matches.values()))
    if not matches:
        raise InputError(
            f"could not find a MAC address for {target!r}",
            hint="give the node's primary or BMC MAC address, or a host name that the hosts "
            "file and racker's dnsmasq.conf know (set up by racker bootstrap)",
        )
    raise InputError(
        f"{target!r} names more than one node: {', '.join(sorted(matches))}",
        hint="give the full host name or a MAC address",
    )


def all_nodes(inventory: Inventory) -> list[Node]:
    """Every node except the management node, sorted by primary MAC (the reference's order)."""
    return sorted(inventory.nodes, key=lambda n: n.primary_mac)


# --- output --------------------------------------------------------------------------------------

def bmc_ip_warning(found: str, planned: str | None) -> str | None:
    """The warning printed when a BMC answers on another address than planned."""
    if planned is None or planned == found:
        return None
    return ("Warning: BMC IP address does not match the static IP address set up with dnsmasq, "
            f'expected "{planned}"')


def internal_ip_warning(found: str | None, planned: str | None) -> str | None:
    """The warning printed when the node's internal address is not the planned one."""
    if planned is None or planned == found:
        return None
    if found is None:
        return ("Warning: Internal IP address not found (node off, or not booted yet?), "
                f'expected "{planned}"')
    return ("Warning: Internal IP address does not match the static IP address set up with "
            f'dnsmasq and Ignition, expected "{planned}"')


def diag_lines(bmc_mac: str, bmc_ip: str, node_mac: str, internal_ip: str | None,
               host_names: Iterable[str]) -> list[str]:
    """The five header lines of `diag`."""
    return [
        f"BMC MAC address: {bmc_mac}",
        f"BMC IP address: {bmc_ip}",
        f"Node MAC address: {node_mac}",
        f"Internal IP address: {internal_ip or ''}",
        f"Internal host name: {' '.join(host_names)}",
    ]


_FAILURE_HINTS = (
    ("Unable to establish IPMI v2 / RMCP+ session",
     "hint: no session with this BMC: it does not answer on UDP 623, is out of session slots, "
     "or refused ipmi_user/ipmi_password"),
    ("Insufficient privilege level",
     "hint: ipmi_user lacks the privilege for this command (racker's user needs ADMINISTRATOR)"),
    ("Invalid command", "hint: this BMC does not support the command"),
)


def failure_hint(output: str) -> str | None:
    """A hint for a failed ipmitool run whose output shows a known error, else None."""
    for needle, hint in _FAILURE_HINTS:
        if needle in output:
            return hint
    return None


def all_block(bmc_mac: str, output: str, ok: bool) -> str:
    """One node's block of `--all` output: header, its output, `Failed` on failure, blank line."""
    body = output if not output or output.endswith("\n") else output + "\n"
    tail = "" if ok else "Failed\n"
    return f"Output for {bmc_mac}:\n{body}{tail}\n"


def waiting_line(bmc_mac: str, interface: str, retry_sec: int) -> str:
    """What the helper says while it looks for a BMC it does not know yet (pure)."""
    return (f"Waiting up to {retry_sec} s for BMC {bmc_mac} to appear on {interface} (a DHCP "
            "lease from racker's dnsmasq, the neighbour table or an ARP scan); a BMC gets an "
            "address only while racker serves DHCP ('racker serve'). Ctrl-C stops, RETRY_SEC "
            "changes the wait.")


# --- BMCs driven over Redfish: what of the helper's commands carries over -----------------

REDFISH_POWER = {"status": "status", "on": "on", "off": "off", "cycle": "cycle",
                 "reset": "cycle"}
"""`power X` / `chassis power X` words → the Redfish power action the helper runs."""

POWER_LINES = {"status": "Chassis Power is {state}", "on": "Chassis Power Control: Up/On",
               "off": "Chassis Power Control: Down/Off", "cycle": "Chassis Power Control: Cycle"}
"""What ipmitool prints for each action, so that scripts read a Redfish BMC's answer alike."""


def redfish_power_action(command: Sequence[str]) -> str | None:
    """The power action of an ipmitool command (`power on`, `chassis power status`), or None
    when the command is something else. Pure."""
    words = tuple(w.lower() for w in command)
    if words[:1] == ("chassis",):
        words = words[1:]
    if len(words) == 2 and words[0] == "power":
        return REDFISH_POWER.get(words[1])
    return None


def redfish_only_error(node_mac: str, command: Sequence[str]) -> InputError:
    """The error for an ipmitool command sent to a BMC that racker drives over Redfish."""
    return InputError(
        f"the BMC of {node_mac} is driven over Redfish; '{' '.join(command)}' is an ipmitool "
        "command", hint="for a Redfish BMC the ipmi helper runs 'diag' and 'power "
                        "status|on|off|cycle'; set RACKER_BMC_PROTOCOL=ipmi if the BMC also "
                        "speaks IPMI over LAN")


def no_sol_error(node_mac: str) -> InputError:
    """The error for a serial console on a BMC that speaks only Redfish."""
    return InputError(
        f"the BMC of {node_mac} speaks Redfish only: it has no IPMI Serial over LAN, which is "
        "racker's serial console", hint="enable IPMI over LAN on the BMC (racker then uses its "
                                        "SOL), or use the BMC's own web console")
