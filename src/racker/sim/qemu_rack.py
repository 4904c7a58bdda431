"""`racker-sim create --nodes qemu`: what a rack of QEMU nodes needs beyond the lite rack.

`prepare` (at create) builds or finds the cached test OS, blanks the rack's VM disks and records
the choice in `qemu.json` in the rack folder; the daemon then asks `load` and builds each server
with `make_node` instead of a lite node. The mirror serves the test OS as the Flatcar release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racker.atomic import write_atomic
from racker.sim import testos
from racker.sim.netns import Runner
from racker.sim.qemu_node import QemuNode, QemuSpec, attach_commands, pick_accel
from racker.sim.state import append_timeline

CONFIG_FILE = "qemu.json"
UPLINK = "eth0"
"""The node namespace's veth on the rack bridge (racker.sim.topology.NODE_IFACE)."""


@dataclass(frozen=True)
class QemuRack:
    """The QEMU settings of one rack."""

    rack: str
    testos_dir: Path
    disk_dir: Path
    accel: str

    def disk(self, node: str) -> Path:
        return self.disk_dir / f"{self.rack}-{node}.raw"

    def to_json(self) -> str:
        return json.dumps({"rack": self.rack, "testos_dir": str(self.testos_dir),
                           "disk_dir": str(self.disk_dir), "accel": self.accel}) + "\n"


def prepare(rack_root: Path, rack: str, disk_dir: Path | None) -> tuple[QemuRack, dict[str, bytes]]:
    """Build/find the test OS, blank this rack's disks, write qemu.json; return the settings and
    the release files for the rack's mirror."""
    built = testos.ensure_testos()
    cfg = QemuRack(rack, built.directory, (disk_dir or rack_root / "disks").resolve(),
                   pick_accel())
    cfg.disk_dir.mkdir(parents=True, exist_ok=True)
    for old in cfg.disk_dir.glob(f"{rack}-node*.raw"):
        old.unlink()  # a new rack starts with blank disks, as new servers do
    rack_root.mkdir(parents=True, exist_ok=True)
    write_atomic(rack_root / CONFIG_FILE, cfg.to_json())
    return cfg, testos.mirror_contents(built)


def remove_disks(rack_root: Path) -> None:
    """Delete the rack's VM disks (also in a --disk-dir outside the rack folder)."""
    cfg = load(rack_root)
    if cfg is not None:
        for disk in cfg.disk_dir.glob(f"{cfg.rack}-node*.raw"):
            disk.unlink(missing_ok=True)


def forget(rack_root: Path) -> None:
    """Make the rack a lite rack again (create without --nodes qemu)."""
    (rack_root / CONFIG_FILE).unlink(missing_ok=True)


def load(rack_root: Path) -> QemuRack | None:
    """The rack's QEMU settings, or None for a lite rack."""
    try:
        data: Any = json.loads((rack_root / CONFIG_FILE).read_text())
    except FileNotFoundError:
        return None
    return QemuRack(str(data["rack"]), Path(data["testos_dir"]), Path(data["disk_dir"]),
                    str(data["accel"]))


def make_node(cfg: QemuRack, name: str, mac: str, ns: str, chassis: Any, timeline: Path,
              console: Any = None, runner: Runner | None = None) -> QemuNode:
    """A QEMU node for server `name`, its tap wired into namespace `ns` (once)."""
    r = runner or Runner()
    if r.run(["ip", "-n", ns, "link", "show", "dev", "tap0"], check=False).returncode != 0:
        r.run_all(attach_commands(ns, UPLINK, mac))

    def log(event: str, **fields: Any) -> None:
        append_timeline(timeline, event, **fields)

    spec = QemuSpec(name, mac, ns, cfg.disk(name), timeline.with_suffix(".console"),
                    testos.load(cfg.testos_dir), accel=cfg.accel)
    return QemuNode(spec, chassis, log, console)
