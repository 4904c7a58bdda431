"""A node's hardware inventory (pure): what its installer reports, checked and normalised.

The collector on the node (`core/render/collector.py`, a shell script of the installer
Ignition) only gathers raw facts: the SMBIOS strings from /sys/class/dmi/id, /proc/cpuinfo and
memory figures, `lsblk -J` and `ip -j link` verbatim, and per NIC its driver, speed and carrier.
Everything else happens here, on racker's side, where it is typed and tested: the raw document
becomes a `Hardware` value, every field bounded (the node is not trusted), or an InputError
naming the field at fault.

The same module compares BMC system GUIDs with SMBIOS UUIDs: BMCs lay the GUID's bytes out in
SMBIOS, IPMI or RFC 4122 order (ipmitool `mc guid` names the same three), so each one matches.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from racker.core.macs import parse_mac
from racker.errors import InputError

MAX_TEXT = 128
"""Characters kept of any string the node reports (SMBIOS strings are short)."""
MAX_DISKS = 256
MAX_NICS = 64
MAX_LINKS = 16
"""by-path / by-id names kept per disk."""
_NO_VALUE = {"", "none", "not specified", "to be filled by o.e.m.", "default string",
             "system serial number", "0123456789"}
"""SMBIOS placeholders that vendors leave in unset fields: treated as absent."""


@dataclass(frozen=True)
class Disk:
    """A whole disk (not a partition) of the node."""

    name: str
    size_bytes: int
    model: str = ""
    serial: str = ""
    rotational: bool = False
    by_path: tuple[str, ...] = ()
    by_id: tuple[str, ...] = ()


@dataclass(frozen=True)
class Nic:
    """A physical Ethernet interface of the node."""

    name: str
    mac: str
    driver: str = ""
    speed_mbps: int | None = None
    link: bool = False


@dataclass(frozen=True)
class Hardware:
    """What a node reported about itself."""

    uuid: str | None
    vendor: str = ""
    model: str = ""
    serial: str = ""
    cpu_model: str = ""
    cpu_cores: int = 0
    cpu_threads: int = 0
    memory_bytes: int = 0
    disks: tuple[Disk, ...] = ()
    nics: tuple[Nic, ...] = field(default_factory=tuple)

    def nic(self, mac: str) -> Nic | None:
        """The NIC with MAC `mac` (colon form), if the node has it."""
        return next((n for n in self.nics if n.mac == mac), None)

    def as_json(self) -> dict[str, Any]:
        """The normalised inventory as plain JSON data (what the store keeps)."""
        return asdict(self)


def _text(value: object) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = "".join(c for c in str(value) if c.isprintable()).strip()[:MAX_TEXT]
    return "" if text.lower() in _NO_VALUE else text


def _int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"inventory field {where} is not a number", hint=_HINT)
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        n = int(value.strip())
    elif value is None or value == "":
        return 0
    else:
        raise InputError(f"inventory field {where} is not a number: {str(value)[:40]!r}",
                         hint=_HINT)
    return max(n, 0)


def _flag(value: object) -> bool:
    # lsblk prints ROTA as true/false (util-linux >= 2.33) or "0"/"1" (older)
    return value is True or value in (1, "1", "true")


_HINT = "the node's installer sends what racker's collector script gathers; see docs/security.md"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def normalise_uuid(value: object) -> str | None:
    """An SMBIOS UUID in lower-case text form, or None when absent or a placeholder (all
    zeros or all ones, as unset firmware reports it)."""
    text = _text(value)
    if not _UUID.match(text):
        return None
    u = uuidlib.UUID(text)
    if u.int in (0, (1 << 128) - 1):
        return None
    return str(u)


GUID_ENCODINGS: dict[str, Callable[[bytes], uuidlib.UUID]] = {
    "smbios": lambda b: uuidlib.UUID(bytes_le=b),
    "ipmi": lambda b: uuidlib.UUID(bytes=b[::-1]),
    "rfc4122": lambda b: uuidlib.UUID(bytes=b),
}
"""How BMCs lay out the 16 bytes of Get System GUID (ipmitool's `mc guid` modes): SMBIOS order
(first three fields little-endian, the common one), the IPMI specification's (all 16 reversed)
and RFC 4122's (big-endian)."""


def guid_readings(guid: bytes) -> dict[str, str]:
    """The GUID's text under each encoding of `GUID_ENCODINGS` (empty unless 16 bytes)."""
    if len(guid) != 16:
        return {}
    return {name: str(decode(guid)) for name, decode in GUID_ENCODINGS.items()}


def guid_matches(guid: bytes, smbios_uuid: str) -> bool:
    """Whether the 16 bytes of a Get System GUID answer (or Redfish's UUID as bytes) name the
    server of `smbios_uuid`, in any encoding BMCs use (REFERENCE-FACTS: BMCs differ)."""
    u = normalise_uuid(smbios_uuid)
    return u is not None and u in guid_readings(guid).values()


def guid_text(guid: bytes) -> str:
    """The GUID as text for people: the first encoding (SMBIOS, IPMI, RFC 4122) whose version
    field is a valid one (1-5), as ipmitool's automatic mode picks it; else the SMBIOS one."""
    readings = guid_readings(guid)
    if not readings:
        return guid.hex()
    for text in readings.values():
        if 1 <= int(text[14], 16) <= 5:  # the version nibble, whatever the variant
            return text
    return readings["smbios"]


def _seq(raw: Mapping[str, Any], key: str, limit: int) -> Sequence[Any]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError(f"inventory field {key} is not a list", hint=_HINT)
    return value[:limit]


def _disk_links(raw: Mapping[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Per disk name, its /dev/disk/by-path and by-id names (whole-disk links only)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for item in _seq(raw, "disk_links", MAX_DISKS * MAX_LINKS):
        if not isinstance(item, dict):
            continue
        link, target = _text(item.get("link")), _text(item.get("target"))
        name = target.rsplit("/", 1)[-1]
        paths, ids = out.setdefault(name, ([], []))
        if "/by-path/" in link and len(paths) < MAX_LINKS:
            paths.append(link)
        elif "/by-id/" in link and len(ids) < MAX_LINKS:
            ids.append(link)
    return out


def _disks(raw: Mapping[str, Any]) -> tuple[Disk, ...]:
    lsblk = raw.get("lsblk")
    devices = lsblk.get("blockdevices") if isinstance(lsblk, dict) else None
    if devices is None:
        return ()
    if not isinstance(devices, list):
        raise InputError("inventory field lsblk.blockdevices is not a list", hint=_HINT)
    links = _disk_links(raw)
    disks = []
    for i, d in enumerate(devices[:MAX_DISKS]):
        if not isinstance(d, dict) or _text(d.get("type")) not in ("disk", ""):
            continue
        name = _text(d.get("name"))
        if not name or name.startswith(("loop", "ram", "zram", "sr")):
            continue
        paths, ids = links.get(name, ([], []))
        disks.append(Disk(name, _int(d.get("size"), f"lsblk.blockdevices[{i}].size"),
                          _text(d.get("model")), _text(d.get("serial")), _flag(d.get("rota")),
                          tuple(sorted(paths)), tuple(sorted(ids))))
    return tuple(sorted(disks, key=lambda d: d.name))


def _nics(raw: Mapping[str, Any]) -> tuple[Nic, ...]:
    extra: dict[str, Mapping[str, Any]] = {}
    for item in _seq(raw, "nics", MAX_NICS):
        if isinstance(item, dict) and _text(item.get("name")):
            extra[_text(item.get("name"))] = item
    nics = []
    for link in _seq(raw, "links", MAX_NICS * 4):
        if not isinstance(link, dict) or link.get("link_type") not in ("ether", None):
            continue
        name = _text(link.get("ifname"))
        mac = parse_mac(_text(link.get("address")))
        # only NICs with a device behind them (the collector lists those): not bridges,
        # bonds or veths an OS made
        if mac is None or (extra and name not in extra):
            continue
        more = extra.get(name, {})
        speed = _int(more.get("speed"), f"nics[{name}].speed") if more.get("speed") else 0
        carrier = _flag(more.get("carrier")) if "carrier" in more else (
            link.get("operstate") == "UP")
        nics.append(Nic(name, mac, _text(more.get("driver")), speed or None, carrier))
        if len(nics) >= MAX_NICS:
            break
    return tuple(sorted(nics, key=lambda n: n.name))


def _cpu(raw: Mapping[str, Any]) -> tuple[str, int, int]:
    cpu = raw.get("cpu")
    if not isinstance(cpu, dict):
        return "", 0, 0
    threads = _int(cpu.get("threads"), "cpu.threads")
    cores = _int(cpu.get("cores"), "cpu.cores") or threads
    return _text(cpu.get("model")), cores, threads


def _memory(raw: Mapping[str, Any]) -> int:
    mem = raw.get("memory")
    if not isinstance(mem, dict):
        return 0
    # NOTE: the online memory blocks give the installed size; MemTotal is what the kernel
    # keeps after its own reservations (a few percent less): only a fallback.
    # /sys/devices/system/memory/block_size_bytes is hexadecimal without 0x.
    blocks = _int(mem.get("blocks"), "memory.blocks")
    size_hex = _text(mem.get("block_size_hex"))
    if blocks and re.fullmatch(r"(0x)?[0-9a-fA-F]{1,16}", size_hex):
        return blocks * int(size_hex, 16)
    return _int(mem.get("total_kb"), "memory.total_kb") * 1024


def parse_hardware(raw: object) -> Hardware:
    """The collector's raw document as a `Hardware`; InputError naming the field at fault."""
    if not isinstance(raw, dict):
        raise InputError("the inventory must be a JSON object", hint=_HINT)
    system = raw.get("system")
    system = system if isinstance(system, dict) else {}
    model, cores, threads = _cpu(raw)
    return Hardware(
        uuid=normalise_uuid(system.get("uuid")), vendor=_text(system.get("vendor")),
        model=_text(system.get("model")), serial=_text(system.get("serial")),
        cpu_model=model, cpu_cores=cores, cpu_threads=threads, memory_bytes=_memory(raw),
        disks=_disks(raw), nics=_nics(raw))


def hardware_from_json(data: Mapping[str, Any]) -> Hardware:
    """A `Hardware` back from `Hardware.as_json()` (what the store keeps)."""
    disks = tuple(Disk(d["name"], int(d["size_bytes"]), d.get("model", ""),
                       d.get("serial", ""), bool(d.get("rotational")),
                       tuple(d.get("by_path", ())), tuple(d.get("by_id", ())))
                  for d in data.get("disks", ()))
    nics = tuple(Nic(n["name"], n["mac"], n.get("driver", ""), n.get("speed_mbps"),
                     bool(n.get("link"))) for n in data.get("nics", ()))
    return Hardware(data.get("uuid"), data.get("vendor", ""), data.get("model", ""),
                    data.get("serial", ""), data.get("cpu_model", ""),
                    int(data.get("cpu_cores", 0)), int(data.get("cpu_threads", 0)),
                    int(data.get("memory_bytes", 0)), disks, nics)


def human_bytes(n: int) -> str:
    """`n` bytes in binary units with one decimal (`16.0 GiB`)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def summary(hw: Hardware) -> str:
    """One line: `Vendor Model, 8 cores, 16.0 GiB, 2 disks (480.0 GiB), 2 NICs`."""
    box = " ".join(p for p in (hw.vendor, hw.model) if p) or "unknown system"
    total = sum(d.size_bytes for d in hw.disks)
    return (f"{box}, {hw.cpu_cores} cores, {human_bytes(hw.memory_bytes)}, "
            f"{len(hw.disks)} disk{'s' * (len(hw.disks) != 1)} ({human_bytes(total)}), "
            f"{len(hw.nics)} NIC{'s' * (len(hw.nics) != 1)}")


def describe(hw: Hardware) -> list[str]:
    """The inventory as the lines `racker node show` prints."""
    lines = [f"System:   {hw.vendor or '-'} {hw.model or '-'}  serial {hw.serial or '-'}",
             f"UUID:     {hw.uuid or '- (none reported)'}",
             f"CPU:      {hw.cpu_model or '-'} ({hw.cpu_cores} cores, "
             f"{hw.cpu_threads} threads)",
             f"Memory:   {human_bytes(hw.memory_bytes)}"]
    lines.append(f"Disks:    {len(hw.disks)}")
    for d in hw.disks:
        kind = "HDD" if d.rotational else "SSD"
        lines.append(f"  {d.name:<10} {human_bytes(d.size_bytes):>10}  {kind}  "
                     f"{d.model or '-'}  serial {d.serial or '-'}")
        lines.extend(f"    {link}" for link in (*d.by_path, *d.by_id))
    lines.append(f"NICs:     {len(hw.nics)}")
    for n in hw.nics:
        speed = f"{n.speed_mbps} Mb/s" if n.speed_mbps else "-"
        lines.append(f"  {n.name:<10} {n.mac}  {n.driver or '-':<10} {speed:>11}  "
                     f"link {'up' if n.link else 'down'}")
    return lines
