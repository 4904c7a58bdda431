"""What a lite node reports as its hardware: the document racker's collector would print on a
server of its node type (pure).

Each node type gets a plausible profile (controllers: small and fast, workers: many cores,
storage: many spinning disks); serial numbers and disk ids derive from the node's MAC so every
server differs. Both NICs have link (the secondary one goes to the public network); which of
them is cabled to the rack network shows only in which MAC PXE boots (`--miscabled` swaps them).
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    """One hardware profile."""

    model: str
    cpu: str
    cores: int
    memory_gib: int
    disks: tuple[tuple[int, bool], ...]
    """(size in GB, rotational) per disk."""


PROFILES: dict[str, Profile] = {
    "controller": Profile("PowerEdge R440", "Intel(R) Xeon(R) Silver 4210R CPU @ 2.40GHz", 10,
                          64, ((480, False),)),
    "worker": Profile("PowerEdge R640", "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz", 20, 192,
                      ((480, False), (1920, False))),
    "storage": Profile("PowerEdge R740xd", "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 12,
                       128, ((480, False), *((8000, True),) * 6)),
}
DEFAULT = Profile("PowerEdge R340", "Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz", 6, 32,
                  ((480, False),))
BLOCK = 128 << 20
"""The memory block size x86 Linux uses (block_size_bytes 8000000)."""


def smbios_uuid(primary_mac: str) -> str:
    """The SMBIOS system UUID of the simulated server whose primary MAC is `primary_mac` (its
    firmware reports it to iPXE and the OS; its BMC answers Get System GUID with it)."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_OID, f"racker-sim:{primary_mac}"))


def profile_of(node_type: str) -> Profile:
    """The profile of a node type (a type racker's layout knows, else the small default)."""
    return PROFILES.get(node_type.split("-")[0].lower(), DEFAULT)


def _serial(mac: str, what: str, size: int) -> str:
    return hashlib.sha256(f"{mac}/{what}".encode()).hexdigest()[:size].upper()


def lite_inventory(uuid: str, primary_mac: str, secondary_mac: str, node_type: str
                   ) -> dict[str, Any]:
    """The raw inventory document (as `core/render/collector.py` prints it) of a lite node."""
    p = profile_of(node_type)
    disks, links = [], []
    for i, (gb, rota) in enumerate(p.disks):
        name = f"sd{chr(ord('a') + i)}"
        serial = _serial(primary_mac, name, 12)
        disks.append({"name": name, "size": gb * 1000**3, "model": "ST8000NM" if rota else
                      "SSDSC2KB480G8R", "serial": serial, "rota": rota, "type": "disk"})
        links += [{"link": f"/dev/disk/by-path/pci-0000:18:00.0-scsi-0:0:{i}:0",
                   "target": f"/dev/{name}"},
                  {"link": f"/dev/disk/by-id/wwn-0x5000c500{serial[:8].lower()}",
                   "target": f"/dev/{name}"}]
    nics = [("eno1", primary_mac), ("eno2", secondary_mac)]
    return {
        "system": {"uuid": uuid.upper(), "vendor": "Dell Inc.", "model": p.model,
                   "serial": _serial(primary_mac, "system", 7)},
        "cpu": {"model": p.cpu, "cores": p.cores, "threads": 2 * p.cores},
        "memory": {"blocks": (p.memory_gib << 30) // BLOCK, "block_size_hex": f"{BLOCK:x}",
                   "total_kb": (p.memory_gib << 20) * 97 // 100},
        "lsblk": {"blockdevices": disks},
        "links": [{"ifname": "lo", "address": "00:00:00:00:00:00", "link_type": "loopback"},
                  *({"ifname": n, "address": m, "link_type": "ether", "operstate": "UP"}
                    for n, m in nics if m)],
        "disk_links": links,
        "nics": [{"name": n, "driver": "i40e", "speed": "10000", "carrier": "1"}
                 for n, m in nics if m],
    }
