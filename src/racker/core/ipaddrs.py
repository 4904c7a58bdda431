"""Static public addresses (`-ip-addrs`): `DHCP`, or an INI text with one section per node.

The documented format (the reference's bootstrap docs and editor prefill):

    [aa:bb:cc:dd:ee:ff]          # the node's secondary MAC (its NIC on the public network)
    ip_addr = 11.22.33.44/22
    gateway = 11.22.33.1
    dns = 1.2.3.4

Lines starting with `#` are ignored anywhere, but a comment cannot follow a value. A section
without `ip_addr` is ignored entirely (that node uses DHCP), its gateway and dns too. The first
section with an address must give gateway and dns; later ones reuse the last given unless they
set their own, which are then reused onward. Gateway and dns are a single address each.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import StaticAddress

KEYS = ("ip_addr", "gateway", "dns")
EXAMPLE = "[aa:bb:cc:dd:ee:ff]\nip_addr = 11.22.33.44/22\ngateway = 11.22.33.1\ndns = 1.2.3.4"


@dataclass(frozen=True)
class AddressSection:
    """A section that sets an address, resolved (gateway and dns filled in), with its place."""

    line: int
    """1-based line of the `[MAC]` header."""
    column: int
    """1-based column of the MAC inside the brackets."""
    address: StaticAddress


@dataclass
class _Section:
    mac: str
    line: int
    column: int
    values: dict[str, tuple[str, int]]
    """key → (value, line)"""


def _err(source: str, msg: str, line: int | None, column: int | None = None,
         hint: str | None = None) -> InputError:
    return InputError(msg, where=Where(file=source, line=line, column=column), hint=hint)


def _check_value(source: str, key: str, value: str, line: int, column: int) -> str:
    """Validate one value; return it in canonical form."""
    hint_comment = (" (a comment cannot follow a value: put it on its own line starting with #)"
                    if "#" in value else "")
    try:
        if key == "ip_addr":
            if "/" not in value or not value.rsplit("/", 1)[1].isdigit():
                raise ValueError
            iface = ipaddress.IPv4Interface(value)
            if iface.network.prefixlen == 0:
                raise ValueError
            if iface.network.prefixlen <= 30 and iface.ip in (
                    iface.network.network_address, iface.network.broadcast_address):
                raise _err(source, f'ip_addr "{value}" is the network or broadcast address of its '
                           "subnet, not a host address", line, column,
                           "use a host address, e.g. 11.22.33.44/24")
            return str(iface)
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        if key == "ip_addr":
            raise _err(source, f'ip_addr "{value}" is not an IPv4 address with a subnet size',
                       line, column, "write it as A.B.C.D/N, e.g. 60.50.40.31/24" + hint_comment
                       ) from None
        raise _err(source, f'{key} "{value}" is not a single IPv4 address', line, column,
                   "write one address as A.B.C.D, e.g. 11.22.33.1" + hint_comment) from None


def _sections(text: str, source: str) -> list[_Section]:
    sections: list[_Section] = []
    seen: dict[str, int] = {}
    current: _Section | None = None
    for idx, raw in enumerate(text.split("\n")):
        line_no = idx + 1
        raw = raw.removesuffix("\r")
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lead = len(raw) - len(raw.lstrip())
        if stripped.startswith("["):
            if not stripped.endswith("]"):
                raise _err(source, "a section header must end with ']'", line_no, lead + 1,
                           "write a section header as [aa:bb:cc:dd:ee:ff] on its own line")
            inner = stripped[1:-1]
            col = lead + 2 + (len(inner) - len(inner.lstrip()))
            mac = parse_mac(inner)
            if mac is None:
                raise _err(source, f'section "{inner.strip()}" is not a MAC address', line_no,
                           col, "name each section by the node's secondary MAC address, e.g. "
                                "[aa:bb:cc:dd:ee:ff]")
            if mac in seen:
                raise _err(source, f"section [{mac}] appears twice (first on line {seen[mac]})",
                           line_no, col, "merge the two sections into one")
            seen[mac] = line_no
            current = _Section(mac, line_no, col, {})
            sections.append(current)
            continue
        keypart, eq, value = raw.partition("=")
        if not eq:
            raise _err(source, f'cannot read "{stripped}": expected "key = value" or a '
                       "[MAC] section header", line_no, lead + 1,
                       f"the format is:\n{EXAMPLE}")
        key = keypart.strip().lower()
        if key not in KEYS:
            raise _err(source, f'unknown setting "{key}"', line_no, lead + 1,
                       f"the settings are {', '.join(KEYS)}")
        if current is None:
            raise _err(source, f"{key} is set before any [MAC] section", line_no, lead + 1,
                       "start with a section header naming the node's secondary MAC, e.g. "
                       "[aa:bb:cc:dd:ee:ff]")
        vcol = len(keypart) + 2 + len(value) - len(value.lstrip())
        if key in current.values:
            raise _err(source, f"{key} is set twice in section [{current.mac}] (first on line "
                       f"{current.values[key][1]})", line_no, lead + 1,
                       f"each setting can be given once per section; keep one {key}")
        value = value.strip()
        if not value:
            raise _err(source, f"{key} has no value", line_no, vcol,
                       f"give a value or remove the line; the format is:\n{EXAMPLE}")
        current.values[key] = (_check_value(source, key, value, line_no, vcol), line_no)
    return sections


def parse_ip_addr_sections(text: str, source: str) -> tuple[AddressSection, ...]:
    """Parse `text` (or `DHCP`) into the sections that set an address, in order, resolved.

    Pure; `source` names the input in messages (the flag `-ip-addrs` or a file name).
    """
    if text.strip() in ("", "DHCP", "dhcp"):
        return ()
    out: list[AddressSection] = []
    gateway: str | None = None
    dns: str | None = None
    for s in _sections(text.removeprefix("\ufeff"), source):
        if "ip_addr" not in s.values:
            continue  # documented: ignored entirely, gateway and dns included
        gateway = s.values["gateway"][0] if "gateway" in s.values else gateway
        dns = s.values["dns"][0] if "dns" in s.values else dns
        missing = [k for k, v in (("gateway", gateway), ("dns", dns)) if v is None]
        if gateway is None or dns is None:
            raise _err(source, f"section [{s.mac}] sets ip_addr but no {' and no '.join(missing)}"
                       " is given here or in an earlier section", s.line, s.column,
                       "the first section with an ip_addr needs both gateway and dns; later "
                       "sections reuse them")
        out.append(AddressSection(s.line, s.column, StaticAddress(
            secondary_mac=s.mac, address=s.values["ip_addr"][0], gateway=gateway, dns=dns)))
    return tuple(out)


def parse_ip_addrs(text: str, source_name: str) -> dict[str, StaticAddress]:
    """Secondary MAC → static address for every section that sets one. Pure."""
    return {s.address.secondary_mac: s.address for s in parse_ip_addr_sections(text, source_name)}
