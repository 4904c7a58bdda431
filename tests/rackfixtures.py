"""A small fake rack on disk for tests: nodes.csv, BMC credentials and a fake /sys/class/net.

Every helper's tests may use `write_rack`; its signature and MAC scheme stay stable:

- management node: primary `02:00:00:00:00:00`, BMC `02:00:00:00:01:00`,
  secondary `02:00:00:00:02:00` (the PXE interface, named `eth1`; `eth0` carries the primary)
- node i (1-based): primary `02:00:00:00:00:ii`, BMC `02:00:00:00:01:ii`,
  secondary `02:00:00:00:02:ii` (`ii` = i in two hex digits)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

HEADER = "Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments"
PXE_IFACE = "eth1"
IPMI_USER = "admin"
IPMI_PASSWORD = "s3cret-pass"


def primary_mac(i: int) -> str:
    """Primary MAC of node `i` (0 is the management node)."""
    return f"02:00:00:00:00:{i:02x}"


def bmc_mac(i: int) -> str:
    """BMC MAC of node `i` (0 is the management node)."""
    return f"02:00:00:00:01:{i:02x}"


def secondary_mac(i: int) -> str:
    """Secondary MAC of node `i` (0 is the management node: its PXE interface)."""
    return f"02:00:00:00:02:{i:02x}"


def nodes_csv_text(n_nodes: int, types: Sequence[str] = ()) -> str:
    """The nodes.csv text of a rack with a management row and `n_nodes` nodes.

    `types` is cycled over the nodes (empty: every node has an empty type).
    """
    if not 0 <= n_nodes <= 255:
        raise ValueError("n_nodes must be 0..255")
    lines = [HEADER, f"{primary_mac(0)}, {bmc_mac(0)}, {secondary_mac(0)}, , mgmt node"]
    for i in range(1, n_nodes + 1):
        t = types[(i - 1) % len(types)] if types else ""
        lines.append(f"{primary_mac(i)}, {bmc_mac(i)}, {secondary_mac(i)}, {t}, node {i}")
    return "\n".join(lines) + "\n"


def write_sys_class_net(root: Path) -> Path:
    """A fake /sys/class/net of the management node: lo, eth0 (primary), eth1 (PXE)."""
    for iface, mac in (("lo", "00:00:00:00:00:00"), ("eth0", primary_mac(0)),
                       (PXE_IFACE, secondary_mac(0))):
        (root / iface).mkdir(parents=True, exist_ok=True)
        (root / iface / "address").write_text(mac + "\n")
    return root


def write_rack(tmp_path: Path, n_nodes: int, types: Sequence[str] = ()) -> dict[str, str]:
    """Write a rack under `tmp_path` and return the environment overrides that point racker at it.

    Files: `oem/nodes.csv`, `oem/ipmi_user`, `oem/ipmi_password` (0600), `sys/class/net/*`,
    `hosts` (a localhost line), empty `state/` and `home/`. The returned dict has
    RACKER_OEM_DIR, RACKER_STATE_DIR, RACKER_HOSTS_FILE, RACKER_SYS_CLASS_NET, HOME and
    RACKER_VERSION_FILE; merge it into the environment of the code under test.
    """
    oem = tmp_path / "oem"
    oem.mkdir(parents=True, exist_ok=True)
    (oem / "nodes.csv").write_text(nodes_csv_text(n_nodes, types))
    (oem / "ipmi_user").write_text(IPMI_USER + "\n")
    pw = oem / "ipmi_password"
    pw.write_text(IPMI_PASSWORD + "\n")
    os.chmod(pw, 0o600)
    net = write_sys_class_net(tmp_path / "sys" / "class" / "net")
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    hosts = tmp_path / "hosts"
    if not hosts.exists():
        hosts.write_text("127.0.0.1 localhost\n")
    return {
        "RACKER_OEM_DIR": str(oem),
        "RACKER_STATE_DIR": str(state),
        "RACKER_HOSTS_FILE": str(hosts),
        "RACKER_SYS_CLASS_NET": str(net),
        "HOME": str(home),
        "RACKER_VERSION_FILE": str(tmp_path / "opt-racker" / "RACKER_VERSION"),
    }
