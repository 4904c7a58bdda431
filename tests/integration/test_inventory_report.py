"""The installer's inventory report as racker renders it, run for real (bash, lsblk, ip, curl)
against the boot server over loopback: the collector reads a /sys and /proc tree, racker parses
and stores what it posted, `racker node show`'s use case reads it back; outside the node's
install window the report is refused and the install goes on."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from racker.adapters.fs.store import Store
from racker.app.hardware import rack_hardware, reported
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from racker.core.render.collector import collector_script
from racker.core.render.installer import post_inventory
from tests.bootthread import boot_server_thread
from tests.conftest import require_tool

NODE = BootNode("52:54:00:00:00:07", "127.0.0.1", "node-7", b"{}", b"{}")
UUID = "4c4c4544-0042-3510-8052-b4c04f333132"


def _link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def fake_node(root: Path, nic: str) -> None:
    """A /sys, /proc and /dev tree as a server with two CPUs, 2 GiB and one disk shows it."""
    dmi = root / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    for name, value in (("product_uuid", UUID.upper()), ("sys_vendor", 'Dell "Inc."'),
                        ("product_name", "PowerEdge R640"), ("product_serial", "5B2QR53")):
        (dmi / name).write_text(value + "\n")
    (root / "proc").mkdir()
    (root / "proc/cpuinfo").write_text("".join(
        f"processor\t: {i}\nmodel name\t: Intel(R) Xeon(R) Gold 6130\nphysical id\t: 0\n"
        f"core id\t\t: {i}\n\n" for i in range(2)))
    (root / "proc/meminfo").write_text("MemTotal:        2000000 kB\n")
    mem = root / "sys/devices/system/memory"
    for i in range(16):
        (mem / f"memory{i}").mkdir(parents=True)
        (mem / f"memory{i}" / "online").write_text("1\n")
    (mem / "block_size_bytes").write_text("8000000\n")  # 128 MiB blocks: 2 GiB
    net = root / "sys/class/net" / nic
    _link(net / "device", "../../../devices/pci0000:00/0000:00:03.0")
    drivers = root / "sys/devices/pci0000:00/0000:00:03.0"
    drivers.mkdir(parents=True)
    _link(drivers / "driver", "../../../bus/pci/drivers/e1000e")
    (net / "speed").write_text("10000\n")
    (net / "carrier").write_text("1\n")
    (root / "dev").mkdir()
    (root / "dev/sda").touch()
    _link(root / "dev/disk/by-path/pci-0000:00:1f.2-ata-1", "../../sda")
    _link(root / "dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "../../sda")


def first_ether() -> tuple[str, str]:
    """This machine's first Ethernet interface and its MAC, as `ip -j link` lists them."""
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    link = next(x for x in links if x.get("link_type") == "ether")
    return link["ifname"], link["address"]


@contextmanager
def boot_server(tmp_path: Path) -> Iterator[str]:
    """racker's boot server on a loopback port of its own; yields its base URL."""
    with boot_server_thread(tmp_path, tmp_path / "racker.db", [NODE]) as running:
        yield running.url


def run_post(tmp_path: Path, base: str, root: Path) -> subprocess.CompletedProcess[str]:
    """The installer's inventory line, with the collector at a test path."""
    collector = tmp_path / "racker-inventory"
    collector.write_text(collector_script())
    collector.chmod(0o755)
    line = post_inventory(base, NODE.mac).replace("/opt/racker-inventory", str(collector))
    return subprocess.run(["bash", "-euo", "pipefail", "-c", line],
                          env={**os.environ, "RACKER_ROOT": str(root)},
                          capture_output=True, text=True, timeout=120, check=False)


def test_inventory_report_is_stored_in_the_install_window(tmp_path: Path) -> None:
    for tool in ("curl", "lsblk", "ip", "bash"):
        require_tool(tool)
    nic, mac = first_ether()
    root = tmp_path / "node"
    fake_node(root, nic)
    with Store(tmp_path / "racker.db") as store:  # racker powers the node on from the network
        store.add(NODE.mac, EventKind.STAGE, stage="pxe")
    with boot_server(tmp_path) as base:
        r = run_post(tmp_path, base, root)
    assert r.returncode == 0 and "not accepted" not in r.stderr, r.stderr
    with Store(tmp_path / "racker.db") as store:
        found = reported(store.last_of(NODE.mac, (EventKind.INVENTORY,)))
    assert found is not None and found.client == "127.0.0.1"
    hw = found.hardware
    assert (hw.uuid, hw.vendor, hw.model, hw.serial) == (
        UUID, 'Dell "Inc."', "PowerEdge R640", "5B2QR53")
    assert (hw.cpu_model, hw.cpu_cores, hw.cpu_threads) == ("Intel(R) Xeon(R) Gold 6130", 2, 2)
    assert hw.memory_bytes == 2 << 30
    (found_nic,) = hw.nics
    assert (found_nic.name, found_nic.mac, found_nic.driver, found_nic.speed_mbps,
            found_nic.link) == (nic, mac, "e1000e", 10000, True)
    # lsblk reads this machine's disks: each is whole, with its size; links join by name
    real = json.loads(subprocess.run(["lsblk", "-J", "-b", "-d", "-o", "NAME,TYPE"],
                                     capture_output=True, text=True, check=True).stdout)
    names = {d["name"] for d in real["blockdevices"] if d["type"] == "disk"
             and not d["name"].startswith(("loop", "zram", "ram"))}
    assert {d.name for d in hw.disks} == names
    assert all(d.size_bytes > 0 for d in hw.disks)
    assert rack_hardware([NODE.mac], lambda: Store(tmp_path / "racker.db"))[NODE.mac] == found


def test_inventory_outside_the_install_window_is_refused(tmp_path: Path) -> None:
    for tool in ("curl", "lsblk", "ip", "bash"):
        require_tool(tool)
    nic, _mac = first_ether()
    root = tmp_path / "node"
    fake_node(root, nic)
    with boot_server(tmp_path) as base:
        r = run_post(tmp_path, base, root)
    # the install goes on (exit 0) with the refusal said on stderr; nothing is stored
    assert r.returncode == 0, r.stderr
    assert "403" in r.stderr and "inventory was not accepted" in r.stderr
    with Store(tmp_path / "racker.db") as store:
        assert store.last_of(NODE.mac, (EventKind.INVENTORY,)) is None
