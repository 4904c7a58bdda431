"""The rack inventory: `nodes.csv` → `Inventory`, with the place of every problem.

`nodes.csv` (see the reference's docs/management_node.md) has a header line, then one row per
server: `Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments`.
Racks set up before the secondary MAC column existed use the four-column layout without it; the
header says which layout a file uses. Node type and comment are optional; everything after the
node type's comma is the free-form comment (commas included).

Pure: `racker.adapters.fs.rackmeta` reads the file and this machine's interfaces.

The management node is the row whose primary or secondary MAC belongs to this machine; its
secondary MAC is the NIC on the rack-internal network, so it names the PXE interface.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import Inventory, Node

HEADER = "Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments"
"""The header of the current five-column layout."""

OLD_HEADER = "Primary MAC address, BMC MAC address, Node Type, Comments"
"""The header of the older four-column layout (no secondary MAC)."""

_LABELS = {
    "primary": "Primary MAC address",
    "bmc": "BMC MAC address",
    "secondary": "Secondary MAC address",
    "type": "Node Type",
}
_LAYOUT_5 = ("primary", "bmc", "secondary", "type")
_LAYOUT_4 = ("primary", "bmc", "type")
_MAC_ANYWHERE = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")
_MAC_HINT = "write a MAC as six pairs of hex digits separated by ':' or '-', e.g. 00:11:22:33:44:55"
EXAMPLE_ROW = "00:11:22:33:44:00, 00:11:22:33:44:01, 00:11:22:33:44:30, , mgmt node"
_ZERO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class _Field:
    text: str
    """The value with surrounding spaces removed."""
    column: int
    """1-based column of the value's first character (of the field when it is empty)."""


@dataclass(frozen=True)
class _Row:
    line: int
    fields: dict[str, _Field]
    comment: str


def _split(line: str, n: int) -> tuple[list[_Field], str]:
    """Split a row into `n` fields and the comment (the rest, commas included)."""
    parts = line.split(",", n)
    fields: list[_Field] = []
    offset = 0
    for i, raw in enumerate(parts):
        if i == n:
            comment = raw.strip()
            if len(comment) >= 2 and comment[0] == comment[-1] == '"':
                comment = comment[1:-1]
            return fields, comment
        lead = len(raw) - len(raw.lstrip())
        value = raw.strip()
        column = offset + (lead if value else 0) + 1
        if len(value) >= 2 and value[0] == value[-1] == '"':  # as spreadsheets export
            value, column = value[1:-1].strip(), column + 1
        fields.append(_Field(value, column))
        offset += len(raw) + 1
    while len(fields) < n:  # a short row: the missing trailing fields are empty
        fields.append(_Field("", len(line) + 1))
    return fields, ""


def _layout(header: str) -> tuple[str, ...]:
    """The column layout the header announces: five columns unless it is the older four."""
    names = [f.strip().lower() for f in header.split(",")]
    if any("secondary" in n for n in names):
        return _LAYOUT_5
    if len(names) == 4 or (len(names) >= 3 and "type" in names[2]):
        return _LAYOUT_4
    return _LAYOUT_5


def normalise_machine_macs(this_machine_macs: Mapping[str, str]) -> dict[str, str]:
    """Interface → MAC with every value normalised; non-MACs and the all-zero MAC left out."""
    out: dict[str, str] = {}
    for iface in sorted(this_machine_macs):
        mac = parse_mac(this_machine_macs[iface])
        if mac is not None and mac != _ZERO_MAC:
            out[iface] = mac
    return out


@dataclass
class _Problems:
    """Every problem found in one file, each with its place."""

    file: str
    found: list[InputError] = field(default_factory=list)

    def add(self, msg: str, line: int | None, column: int | None = None,
            hint: str | None = None) -> None:
        self.found.append(InputError(msg, where=Where(file=self.file, line=line, column=column),
                                     hint=hint))


PxeFile = tuple[Path | str, str]
"""The OEM folder's `pxe_interface` file of the older layout: its path and its text."""


def check_nodes_csv(
    text: str, path: Path | str, this_machine_macs: Mapping[str, str],
    pxe_file: PxeFile | None = None,
) -> tuple[Inventory | None, tuple[InputError, ...]]:
    """Parse `text` and collect every problem found; the Inventory is None when there are any.

    Pure: `path` is only used in messages; `this_machine_macs` maps interface names to MACs.
    `pxe_file`: in the older four-column layout the management row has no secondary MAC, and
    the file `pxe_interface` beside nodes.csv names the management node's internal NIC.
    """
    problems = _Problems(str(path))
    lines = [ln.removesuffix("\r") for ln in text.removeprefix("\ufeff").split("\n")]
    header_no = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if header_no is None:
        problems.add("the file is empty", 1, None,
                     f"write the header line and one row per server, the management node first:"
                     f"\n    {HEADER}\n    {EXAMPLE_ROW}")
        return None, tuple(problems.found)
    header = lines[header_no]
    m = _MAC_ANYWHERE.search(header)
    if m is not None:
        problems.add("the first line holds a MAC address, but it must be the header",
                     header_no + 1, m.start() + 1,
                     f"insert this header as the first line:\n    {HEADER}")
        return None, tuple(problems.found)
    layout = _layout(header)
    seen: dict[str, tuple[int, str]] = {}
    rows = [row for idx in range(header_no + 1, len(lines)) if lines[idx].strip()
            for row in [_check_row(lines[idx], idx + 1, layout, seen, problems)] if row]
    if not rows and not problems.found:
        problems.add("there is no row after the header", header_no + 1, None,
                     f"add one row per server, the management node first, e.g.:\n"
                     f"    {EXAMPLE_ROW}")
        return None, tuple(problems.found)
    nodes = [_node(r) for r in rows]
    management, pxe_interface = _management(nodes, rows, layout, this_machine_macs, problems,
                                            pxe_file)
    if problems.found or management is None:
        return None, tuple(problems.found)
    others = tuple(n for n in nodes if n.line != management.line)
    return Inventory(path=Path(path), management=management, nodes=others,
                     pxe_interface=pxe_interface), ()


def _check_row(raw: str, line_no: int, layout: tuple[str, ...],
               seen: dict[str, tuple[int, str]], problems: _Problems) -> _Row | None:
    """One row's fields, or None when it has a problem (added to `problems`). `seen` holds
    the MACs of the rows before, to find copies."""
    fields, comment = _split(raw, len(layout))
    by_name = dict(zip(layout, fields, strict=True))
    ok = True
    for name in ("primary", "bmc", "secondary"):
        f = by_name.get(name)
        if f is None:
            continue
        label = _LABELS[name]
        if not f.text:
            if name == "secondary":
                continue  # optional except for the management row (checked later)
            problems.add(f"the {label} is missing", line_no, f.column,
                         f"every row needs the {label}; the columns are: {_header_for(layout)}")
            ok = False
            continue
        mac = parse_mac(f.text)
        if mac is None:
            problems.add(f'the {label} "{f.text}" is not a MAC address', line_no, f.column,
                         _MAC_HINT)
            ok = False
            continue
        if mac in seen:
            first_line, first_label = seen[mac]
            problems.add(f"the MAC address {mac} appears twice: here as {label} and on line "
                         f"{first_line} as {first_label}", line_no, f.column,
                         "every MAC address in nodes.csv must be unique; remove or correct the "
                         "copy")
            ok = False
        else:
            seen[mac] = (line_no, label)
    t = by_name["type"]
    if parse_mac(t.text) is not None or _MAC_ANYWHERE.fullmatch(t.text.replace(" ", "")):
        hint = f"the columns are: {_header_for(layout)}"
        if layout is _LAYOUT_4:
            hint = ("the header announces the older layout without a secondary MAC column; "
                    f"use this header to add it:\n    {HEADER}")
        problems.add(f'the {_LABELS["type"]} "{t.text}" looks like a MAC address', line_no,
                     t.column, hint)
        ok = False
    return _Row(line_no, by_name, comment) if ok else None


def _management(nodes: list[Node], rows: list[_Row], layout: tuple[str, ...],
                this_machine_macs: Mapping[str, str], problems: _Problems,
                pxe_file: PxeFile | None = None) -> tuple[Node | None, str]:
    """The management node's row (this machine's) and its PXE interface, or the problems."""
    machine = normalise_machine_macs(this_machine_macs)
    machine_macs = set(machine.values())
    mgmt_rows = [n for n in nodes
                 if n.primary_mac in machine_macs or n.secondary_mac in machine_macs]
    if not mgmt_rows:
        if not problems.found:  # a broken row may well be the management row: report that
            listed = ", ".join(f"{i} {mac}" for i, mac in machine.items()) or "none found"
            problems.add("no row for this machine (the management node): none of its MAC "
                         f"addresses is a primary or secondary MAC in the file; this machine "
                         f"has: {listed}", None, None,
                         "add the management node as a row: its primary MAC, its BMC MAC and, "
                         "as the secondary MAC, the MAC of its NIC on the rack-internal network")
        return None, ""
    for extra in mgmt_rows[1:]:
        problems.add("a second row matches this machine's MAC addresses (the management "
                     f"node's row is line {mgmt_rows[0].line})", extra.line, 1,
                     "only one row may describe the management node; remove the other")
    management = mgmt_rows[0]
    row = next(r for r in rows if r.line == management.line)
    if management.secondary_mac is None and pxe_file is not None:
        return _named_pxe_interface(management, machine, pxe_file, problems)
    if management.secondary_mac is None:
        col = row.fields["secondary"].column if "secondary" in row.fields else None
        hint = ("the management row's secondary MAC must be the MAC of its NIC on the "
                "rack-internal network: racker serves DHCP and PXE there")
        if layout is _LAYOUT_4:
            hint += (f"; the header has the older layout without that column: use\n    {HEADER}"
                     "\n  or name that NIC in a file pxe_interface beside nodes.csv")
        problems.add("the management node's row (this machine) has no Secondary MAC address",
                     management.line, col, hint)
        return management, ""
    ifaces = [i for i, mac in machine.items() if mac == management.secondary_mac]
    if not ifaces:
        listed = ", ".join(f"{i} {mac}" for i, mac in machine.items())
        problems.add(f"the management row's Secondary MAC address {management.secondary_mac} "
                     f"is not the address of any interface of this machine ({listed})",
                     management.line, row.fields["secondary"].column,
                     "the management row's secondary MAC must be the MAC of this machine's "
                     "NIC on the rack-internal network")
        return management, ""
    return management, ifaces[0]


def _named_pxe_interface(management: Node, machine: Mapping[str, str], pxe_file: PxeFile,
                         problems: _Problems) -> tuple[Node | None, str]:
    """The management node of the older layout, its internal NIC named by `pxe_interface`."""
    where, text = pxe_file
    name = text.strip()
    if name in machine:
        return replace(management, secondary_mac=machine[name]), name
    listed = ", ".join(machine) or "none found"
    problems.found.append(InputError(
        f"pxe_interface names {name!r}, which is not an interface of this machine "
        f"(it has: {listed})" if name else "pxe_interface is empty",
        where=Where(file=str(where), line=1),
        hint="write the name of the management node's NIC on the rack-internal network "
             "(e.g. eth1) into it"))
    return management, ""


def _header_for(layout: tuple[str, ...]) -> str:
    return OLD_HEADER if layout is _LAYOUT_4 else HEADER


def _node(row: _Row) -> Node:
    sec = row.fields.get("secondary")
    primary = parse_mac(row.fields["primary"].text)
    bmc = parse_mac(row.fields["bmc"].text)
    assert primary is not None and bmc is not None  # checked before the row was kept
    return Node(
        primary_mac=primary,
        bmc_mac=bmc,
        secondary_mac=parse_mac(sec.text) if sec is not None and sec.text else None,
        node_type=row.fields["type"].text,
        comment=row.comment,
        line=row.line,
    )


def parse_nodes_csv(text: str, path: Path | str, this_machine_macs: Mapping[str, str],
                    pxe_file: PxeFile | None = None) -> Inventory:
    """Parse nodes.csv text into the Inventory; raise the first problem as an InputError.

    Pure. When there are several problems, the hint of the raised error says how many more
    there are (`racker factory check` lists them all).
    """
    inventory, problems = check_nodes_csv(text, path, this_machine_macs, pxe_file)
    if problems:
        first = problems[0]
        if len(problems) > 1:
            more = (f"{len(problems) - 1} more problem(s) in this file; "
                    "'racker factory check' lists them all")
            first.hint = f"{first.hint}\n  {more}" if first.hint else more
        raise first
    assert inventory is not None
    return inventory
