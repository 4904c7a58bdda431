"""Pure parsers for the places a MAC's IPv4 address can be learned from.

dnsmasq's lease database, the kernel neighbour table (`ip -j neigh`), `ip -j route get`,
`arp-scan` output, the `dhcp-host=` lines of the rendered dnsmasq.conf (the planned addresses) and
the hosts file. No I/O here: `racker.adapters.bmc.locate` reads the files and runs the tools.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from racker.core.macs import parse_mac

# Neighbour states that do not prove the address answers: the kernel gave up or is still asking.
_DEAD_NEIGH_STATES = frozenset({"FAILED", "INCOMPLETE", "NOARP", "NONE"})


def _ipv4(text: str) -> str | None:
    """`text` as a dotted IPv4 address, or None."""
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        return None


@dataclass(frozen=True)
class Lease:
    """One IPv4 lease of dnsmasq's lease database."""

    expiry: int
    """Unix time the lease ends; 0 means it never does."""
    mac: str
    ip: str
    hostname: str | None


def parse_leases(text: str) -> list[Lease]:
    """Parse dnsmasq's lease file: `EXPIRY MAC IP HOSTNAME CLIENT-ID` per line.

    IPv6 entries (the `duid` line and leases keyed by IAID) and malformed lines are skipped:
    the file is written by another process and may be caught half-written.
    """
    leases: list[Lease] = []
    for raw in text.splitlines():
        fields = raw.split()
        if len(fields) < 3 or not fields[0].isdigit():
            continue
        mac = parse_mac(fields[1])
        ip = _ipv4(fields[2])
        if mac is None or ip is None:
            continue
        host = fields[3] if len(fields) > 3 and fields[3] != "*" else None
        leases.append(Lease(expiry=int(fields[0]), mac=mac, ip=ip, hostname=host))
    return leases


def leases_by_mac(leases: Iterable[Lease], now: float) -> dict[str, str]:
    """MAC → IP of the leases still valid at `now`; the longest-lived lease wins per MAC."""
    best: dict[str, Lease] = {}
    for lease in leases:
        if lease.expiry != 0 and lease.expiry < now:
            continue
        old = best.get(lease.mac)
        if old is None or (old.expiry != 0 and (lease.expiry == 0 or lease.expiry >= old.expiry)):
            best[lease.mac] = lease
    return {mac: lease.ip for mac, lease in best.items()}


@dataclass(frozen=True)
class Neighbour:
    """One IPv4 entry of the kernel neighbour table."""

    ip: str
    mac: str
    dev: str
    states: tuple[str, ...]


def _json_list(text: str) -> list[object]:
    try:
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError:
        return []
    return data if isinstance(data, list) else []


def parse_neigh_json(text: str) -> list[Neighbour]:
    """Parse `ip -j neigh` output; IPv6 entries and entries without a link address are skipped."""
    out: list[Neighbour] = []
    for item in _json_list(text):
        if not isinstance(item, dict):
            continue
        ip = _ipv4(str(item.get("dst", "")))
        mac = parse_mac(str(item.get("lladdr", "")))
        if ip is None or mac is None:
            continue
        states = item.get("state", [])
        state_t = tuple(str(s) for s in states) if isinstance(states, list) else ()
        out.append(Neighbour(ip=ip, mac=mac, dev=str(item.get("dev", "")), states=state_t))
    return out


def neighbours_by_mac(neighbours: Iterable[Neighbour], dev: str | None = None) -> dict[str, str]:
    """MAC → IP from live neighbour entries, optionally only those on interface `dev`.

    A REACHABLE entry beats a STALE one for the same MAC; otherwise the first entry wins.
    """
    chosen: dict[str, Neighbour] = {}
    for n in neighbours:
        if dev is not None and n.dev != dev:
            continue
        if _DEAD_NEIGH_STATES.intersection(n.states):
            continue
        old = chosen.get(n.mac)
        if old is None or ("REACHABLE" in n.states and "REACHABLE" not in old.states):
            chosen[n.mac] = n
    return {mac: n.ip for mac, n in chosen.items()}


def parse_route_get_json(text: str) -> str | None:
    """The outgoing interface in `ip -j route get ADDRESS` output, or None."""
    for item in _json_list(text):
        if isinstance(item, dict) and isinstance(item.get("dev"), str):
            return str(item["dev"])
    return None


def parse_arp_scan(text: str) -> dict[str, str]:
    """MAC → IP from `arp-scan --plain` output (`IP<TAB>MAC[<TAB>vendor]` per answer).

    When a MAC answers for several addresses the first answer wins; header, footer and
    `(DUP: n)` lines of the non-plain format are ignored.
    """
    found: dict[str, str] = {}
    for raw in text.splitlines():
        fields = raw.split("\t") if "\t" in raw else raw.split()
        if len(fields) < 2:
            continue
        ip = _ipv4(fields[0])
        mac = parse_mac(fields[1])
        if ip is None or mac is None:
            continue
        found.setdefault(mac, ip)
    return found


def parse_dhcp_hosts(conf: str) -> dict[str, str]:
    """MAC → IP from the `dhcp-host=MAC[,MAC...],IP[,lease time]` lines of a dnsmasq config.

    These are the addresses racker planned. Other `dhcp-host` forms (client ids, tags,
    host names only) carry no MAC-to-IP pair and are skipped.
    """
    planned: dict[str, str] = {}
    for raw in conf.splitlines():
        line = raw.strip()
        key, sep, value = line.partition("=")
        if not sep or key.strip() != "dhcp-host":
            continue
        fields = [f.strip() for f in value.split(",")]
        macs = [m for m in (parse_mac(f) for f in fields) if m is not None]
        ips = [a for a in (_ipv4(f) for f in fields) if a is not None]
        if macs and ips:
            for mac in macs:
                planned.setdefault(mac, ips[0])
    return planned


@dataclass(frozen=True)
class HostsEntry:
    """One line of a hosts file: an address and its names."""

    ip: str
    names: tuple[str, ...]


def parse_hosts(text: str) -> list[HostsEntry]:
    """Parse a hosts file; comments (`#` to end of line) and lines without names are skipped."""
    entries: list[HostsEntry] = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        entries.append(HostsEntry(ip=fields[0], names=tuple(fields[1:])))
    return entries


def names_for_ip(entries: Iterable[HostsEntry], ip: str) -> tuple[str, ...]:
    """Every name the hosts file gives `ip`, in file order, without repeats."""
    seen: dict[str, None] = {}
    for e in entries:
        if e.ip == ip:
            for name in e.names:
                seen.setdefault(name, None)
    return tuple(seen)


def ips_for_name(entries: Iterable[HostsEntry], name: str) -> tuple[str, ...]:
    """Addresses whose names include `name`, or a name that starts with `name.` (short name).

    The short form mirrors the reference, where a node could be given with or without the
    Kubernetes domain.
    """
    wanted = name.strip().lower().rstrip(".")
    seen: dict[str, None] = {}
    for e in entries:
        for n in e.names:
            low = n.lower()
            if low == wanted or low.startswith(wanted + "."):
                seen.setdefault(e.ip, None)
    return tuple(seen)


def macs_for_ip(planned: Mapping[str, str], ip: str) -> tuple[str, ...]:
    """The MACs whose planned address is `ip` (inverse of `parse_dhcp_hosts`)."""
    return tuple(mac for mac, addr in planned.items() if addr == ip)
