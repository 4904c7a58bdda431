"""A sample rack's metadata on disk (nodes.csv, BMC credentials, this machine's interfaces),
for benchmarks and experiments that need a rack without the simulator."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from racker.paths import Paths

HEADER = "Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments"
TYPES = ("small", "small", "large")
PXE_IFACE = "eth1"


def _mac(kind: int, i: int) -> str:
    return f"52:54:00:{kind:02x}:00:{i:02x}"


def sample_nodes_csv(n_nodes: int, types: Sequence[str] = TYPES) -> str:
    """nodes.csv of a rack: the management node (row 1) and `n_nodes` servers."""
    rows = [HEADER, f"{_mac(0, 0)}, {_mac(1, 0)}, {_mac(2, 0)}, , management node"]
    for i in range(1, n_nodes + 1):
        t = types[(i - 1) % len(types)] if types else ""
        rows.append(f"{_mac(0, i)}, {_mac(1, i)}, {_mac(2, i)}, {t}, slot {i}")
    return "\n".join(rows) + "\n"


def write_sample_rack(root: Path, n_nodes: int, types: Sequence[str] = TYPES) -> Paths:
    """Write a rack's metadata under `root` and return the Paths that point racker at it."""
    paths = Paths(oem_dir=root / "oem", state_dir=root / "state", hosts_file=root / "hosts",
                  sys_class_net=root / "sys" / "class" / "net", home=root / "home")
    paths.oem_dir.mkdir(parents=True, exist_ok=True)
    paths.nodes_csv.write_text(sample_nodes_csv(n_nodes, types))
    paths.ipmi_user_file.write_text("admin\n")
    fd = os.open(paths.ipmi_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("demo-password\n")
    for iface, mac in (("lo", "00:00:00:00:00:00"), ("eth0", _mac(0, 0)), (PXE_IFACE, _mac(2, 0))):
        (paths.sys_class_net / iface).mkdir(parents=True, exist_ok=True)
        (paths.sys_class_net / iface / "address").write_text(mac + "\n")
    paths.state_dir.mkdir(exist_ok=True)
    paths.home.mkdir(exist_ok=True)
    paths.hosts_file.write_text("127.0.0.1 localhost\n::1 localhost\n# an operator's own entry:\n"
                                "192.168.1.10 nas.example.org\n")
    return paths


def env_of(paths: Paths) -> dict[str, str]:
    """The environment overrides (DESIGN.md) that point racker at `paths`."""
    return {"RACKER_OEM_DIR": str(paths.oem_dir), "RACKER_STATE_DIR": str(paths.state_dir),
            "RACKER_HOSTS_FILE": str(paths.hosts_file),
            "RACKER_SYS_CLASS_NET": str(paths.sys_class_net), "HOME": str(paths.home)}


