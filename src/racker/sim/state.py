"""The files of one simulated rack under its state dir, and the generated rack. Mostly pure.

Layout of `<base>/<rack>/`: `rack.json` (the topology), `oem/` (nodes.csv, ipmi_user,
ipmi_password), `state/`, `hosts`, `sys-class-net/IFACE/address`, `home/` (what `racker-sim
exec` points racker at), `daemon.pid`, `daemon.sock`, `daemon.log`, `leases/BMC.json` (written by
the BMC DHCP hook), `timeline/NODE.jsonl`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racker.adapters.fs.atomic import write_atomic
from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.sim.net.topology import SimServer, Topology, check_rack_name

DEFAULT_BASE = Path("/var/lib/racker-sim")
DEFAULT_RACK = "rack"
CSV_HEADER = "Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments"
SIM_USER = "admin"


def base_dir(env: dict[str, str] | None = None) -> Path:
    """Where racks live: `$RACKER_SIM_DIR`, else /var/lib/racker-sim."""
    e = os.environ if env is None else env
    return Path(e.get("RACKER_SIM_DIR", str(DEFAULT_BASE)))


@dataclass(frozen=True)
class RackDir:
    """The paths of one rack's state dir."""

    root: Path

    @property
    def rack_json(self) -> Path:
        return self.root / "rack.json"

    @property
    def oem(self) -> Path:
        return self.root / "oem"

    @property
    def racker_state(self) -> Path:
        return self.root / "state"

    @property
    def hosts(self) -> Path:
        return self.root / "hosts"

    @property
    def sys_class_net(self) -> Path:
        return self.root / "sys-class-net"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def pid_file(self) -> Path:
        return self.root / "daemon.pid"

    @property
    def socket(self) -> Path:
        return self.root / "daemon.sock"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def leases(self) -> Path:
        return self.root / "leases"

    @property
    def disks(self) -> Path:
        return self.root / "disks"

    @property
    def timeline_dir(self) -> Path:
        return self.root / "timeline"

    def disk(self, t: Topology, server: SimServer) -> Path:
        """The virtual disk of a QEMU node."""
        if t.disk_dir:
            return Path(t.disk_dir) / f"{t.rack}-{server.name}.img"
        return self.disks / f"{server.name}.img"

    def lease_file(self, server: SimServer) -> Path:
        return self.leases / f"{server.name}.json"

    def timeline(self, server: SimServer) -> Path:
        return self.timeline_dir / f"{server.name}.jsonl"

    def exec_env(self) -> dict[str, str]:
        """The environment `racker-sim exec` gives a command in the management namespace."""
        return {
            "RACKER_OEM_DIR": str(self.oem),
            "RACKER_STATE_DIR": str(self.racker_state),
            "RACKER_HOSTS_FILE": str(self.hosts),
            "RACKER_SYS_CLASS_NET": str(self.sys_class_net),
            "HOME": str(self.home),
        }


def path_with_first(path: str, folder: str) -> str:
    """`PATH` with `folder` first and not repeated later (empty entries dropped)."""
    rest = [p for p in path.split(os.pathsep) if p and p != folder]
    return os.pathsep.join([folder, *rest])


def rack_dir(name: str, env: dict[str, str] | None = None) -> RackDir:
    """The state dir of rack `name`."""
    return RackDir(base_dir(env) / check_rack_name(name))


def topology_to_json(t: Topology) -> str:
    """rack.json text for `t`."""
    return json.dumps({
        "rack": t.rack,
        "mgmt_primary_mac": t.mgmt_primary_mac,
        "mgmt_secondary_mac": t.mgmt_secondary_mac,
        "servers": [{"index": s.index, "primary_mac": s.primary_mac, "bmc_mac": s.bmc_mac,
                     "node_type": s.node_type, "bmc_protocol": s.bmc_protocol,
                     "secondary_mac": s.secondary_mac,
                     "miscabled": s.miscabled} for s in t.servers],
        "node_kind": t.node_kind,
        "disk_dir": t.disk_dir,
        "firmware": t.firmware,
    }, indent=2) + "\n"


def topology_from_json(text: str, file: str) -> Topology:
    """Parse rack.json."""
    try:
        d = json.loads(text)
        if d.get("firmware", "uefi") not in ("uefi", "bios"):
            raise ValueError(f"firmware {d['firmware']!r} is neither uefi nor bios")
        return Topology(
            rack=d["rack"], mgmt_primary_mac=d["mgmt_primary_mac"],
            mgmt_secondary_mac=d["mgmt_secondary_mac"],
            servers=tuple(SimServer(int(s["index"]), s["primary_mac"], s["bmc_mac"],
                                    s.get("node_type", ""), s.get("bmc_protocol", "ipmi"),
                                    s.get("secondary_mac", ""),
                                    bool(s.get("miscabled", False))) for s in d["servers"]),
            node_kind=d.get("node_kind", "lite"),
            disk_dir=d.get("disk_dir", ""),
            firmware=d.get("firmware", "uefi"),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"broken rack state: {e}", where=Where(file=file),
                         hint="run 'racker-sim destroy' and create the rack again") from None


def load_topology(rd: RackDir) -> Topology:
    """The topology of an existing rack; InputError when there is none."""
    try:
        text = rd.rack_json.read_text()
    except FileNotFoundError:
        raise InputError(f"no simulated rack at {rd.root}",
                         hint="create one with 'racker-sim create' (see --name and "
                              "RACKER_SIM_DIR)") from None
    return topology_from_json(text, str(rd.rack_json))


def rack_macs(rack: str, index: int) -> tuple[str, str, str]:
    """Deterministic (primary, BMC, secondary) MACs of server `index` (0 = management).

    Locally administered unicast (02:…), three bytes from the rack name so racks differ.
    """
    h = hashlib.sha256(rack.encode()).digest()
    base = f"02:{h[0]:02x}:{h[1]:02x}:{h[2]:02x}:{index:02x}"
    return f"{base}:00", f"{base}:01", f"{base}:02"


def generate_topology(rack: str, count: int, types: tuple[str, ...] = ()) -> Topology:
    """A rack of `count` servers plus a management node, MACs derived from the rack name."""
    if not 1 <= count <= 250:
        raise InputError(f"cannot generate a rack of {count} nodes", where=Where(flag="--generate"),
                         hint="use 1 to 250 nodes")
    mp, _mb, ms = rack_macs(rack, 0)
    servers = []
    for i in range(1, count + 1):
        p, b, sec = rack_macs(rack, i)
        servers.append(SimServer(i, p, b, types[(i - 1) % len(types)] if types else "sim",
                                 secondary_mac=sec))
    return Topology(rack, mp, ms, tuple(servers))


def miscable(t: Topology, which: Sequence[str]) -> Topology:
    """`t` with the NIC cables of the servers `which` (names or primary MACs) swapped;
    InputError naming `--miscabled` for a server the rack does not have or one without a
    secondary NIC."""
    chosen = set()
    for text in which:
        mac = parse_mac(text)
        s = next((x for x in t.servers if text == x.name or mac == x.primary_mac), None)
        if s is None:
            names = [x.name for x in t.servers]
            raise InputError(f"the rack has no server {text!r}", where=Where(flag="--miscabled"),
                             hint=f"name one of {names[0]}..{names[-1]}, or its primary MAC"
                             if names else "the rack has no servers")
        if not s.secondary_mac:
            raise InputError(f"{s.name} has no secondary MAC in nodes.csv: there is no second "
                             "NIC to swap its cable with", where=Where(flag="--miscabled"))
        chosen.add(s.index)
    return dataclasses.replace(t, servers=tuple(
        dataclasses.replace(s, miscabled=True) if s.index in chosen else s for s in t.servers))


def render_nodes_csv(t: Topology) -> str:
    """nodes.csv for a generated rack: the management row first, then one row per server."""
    _mp, mb, _ms = rack_macs(t.rack, 0)
    lines = [CSV_HEADER, f"{t.mgmt_primary_mac}, {mb}, {t.mgmt_secondary_mac}, mgmt, "
                         "management node"]
    for s in t.servers:
        sec = rack_macs(t.rack, s.index)[2]
        lines.append(f"{s.primary_mac}, {s.bmc_mac}, {sec}, {s.node_type}, {s.name}")
    return "\n".join(lines) + "\n"


SIM_NODES_CSV = "sim-nodes.csv"
"""The rack's own nodes.csv, kept beside its state (what `--no-inventory` leaves out of the
management node's metadata: what discovery should find)."""


def write_oem(rd: RackDir, nodes_csv: str, user: str = SIM_USER,
              inventory: bool = True) -> str:
    """Write nodes.csv (unless `inventory` is false) and the IPMI credentials (0600); return
    the password (reused if set). The rack's nodes.csv is kept as `sim-nodes.csv` either way."""
    write_atomic(rd.root / SIM_NODES_CSV, nodes_csv)
    if inventory:
        write_atomic(rd.oem / "nodes.csv", nodes_csv)
    else:
        (rd.oem / "nodes.csv").unlink(missing_ok=True)
    pw_file = rd.oem / "ipmi_password"
    try:
        password = pw_file.read_text().strip()
    except FileNotFoundError:
        password = ""
    if not password:
        password = secrets.token_urlsafe(12)
    write_atomic(rd.oem / "ipmi_user", user + "\n", mode=0o600)
    write_atomic(pw_file, password + "\n", mode=0o600)
    return password


def read_credentials(rd: RackDir) -> tuple[str, str]:
    """(user, password) the simulated BMCs accept."""
    return ((rd.oem / "ipmi_user").read_text().strip(),
            (rd.oem / "ipmi_password").read_text().strip())


def write_sys_class_net(rd: RackDir, t: Topology, ifaces: dict[str, str]) -> None:
    """The fake sys/class/net tree of the management node."""
    for iface, mac in ifaces.items():
        write_atomic(rd.sys_class_net / iface / "address", mac + "\n")


def append_timeline(path: Path, event: str, **fields: Any) -> None:
    """Append one timeline entry (a JSON line with a UTC timestamp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()  # one reading: two could fall on either side of a second
    entry = {"t": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) +
             f".{int(now * 1000) % 1000:03d}Z", "event": event, **fields}
    with path.open("a") as f:
        f.write(json.dumps(entry) + "\n")


def read_timeline(path: Path) -> Iterator[dict[str, Any]]:
    """The timeline entries of one node, oldest first (broken lines skipped)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry


def format_entry(entry: dict[str, Any]) -> str:
    """One timeline entry as a console line: time, event, the other fields as key=value."""
    rest = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("t", "event"))
    return f"{entry.get('t', '?')}  {entry.get('event', '?'):<16} {rest}".rstrip()


BMC_CHOICES = ("ipmi", "redfish", "both", "mixed")


def with_bmc_protocols(t: Topology, choice: str) -> Topology:
    """`t` with every BMC speaking `choice`; `mixed` alternates Redfish-only (odd servers)
    and IPMI-only (even ones), for mixed-rack tests."""
    if choice not in BMC_CHOICES:
        raise InputError(f"--bmc must be one of {', '.join(BMC_CHOICES)}, not {choice!r}",
                         where=Where(flag="--bmc"))

    def protocol(s: SimServer) -> str:
        if choice == "mixed":
            return "redfish" if s.index % 2 else "ipmi"
        return choice

    return dataclasses.replace(t, servers=tuple(dataclasses.replace(s, bmc_protocol=protocol(s))
                                                for s in t.servers))
