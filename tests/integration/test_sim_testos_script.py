"""The test OS's shell helpers under the host's busybox, fed racker's real Ignition configs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from racker.core.hardware import parse_hardware
from racker.core.render.ignition import transpile
from racker.core.render.installer import InstallerSettings, booted_report_clc, installer_clc
from racker.sim.nodes import testos_script as ts
from tests.conftest import require_tool

BASE = "http://10.213.77.1:8080"
MAC = "52:54:00:7a:00:01"


def sh(tmp: Path, script: str) -> str:
    busybox = require_tool("busybox")
    lib = tmp / "lib.sh"
    lib.write_text(ts.LIB)
    r = subprocess.run([busybox, "sh", "-c", f". {lib}\n{script}"], capture_output=True,
                       text=True, timeout=30, check=False, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def installer(tmp_path: Path) -> Path:
    ign = transpile([("installer", installer_clc(InstallerSettings(BASE, MAC)))])
    path = tmp_path / "installer.json"
    path.write_text(ign.to_json())
    sh(tmp_path, f"ign_texts {path} > {tmp_path / 'texts'}")
    return tmp_path / "texts"


def test_installer_ignition_is_decoded(installer: Path) -> None:
    text = installer.read_text()
    assert "flatcar-install -s -C stable -V current -o '' -b " in text
    assert "#!/bin/bash\nset -euo pipefail\n" in text


def test_urls_from_the_installer_ignition(tmp_path: Path, installer: Path) -> None:
    out = sh(tmp_path, f"install_base {installer}; install_version {installer}; "
                       f"events_url {installer}; installed_url {installer}").splitlines()
    assert out == [f"{BASE}/assets/flatcar", "current",
                   f"{BASE}/racker/v1/nodes/52-54-00-7a-00-01/events",
                   f"{BASE}/ignition?mac=52-54-00-7a-00-01&os=installed"]


def test_events_url_from_the_installed_ignition(tmp_path: Path) -> None:
    ign = transpile([("booted", booted_report_clc(BASE, MAC))])
    path = tmp_path / "installed.json"
    path.write_text(ign.to_json(pretty=False))
    out = sh(tmp_path, f"ign_texts {path} > t; events_url t")
    assert out == f"{BASE}/racker/v1/nodes/52-54-00-7a-00-01/events\n"


def test_base64_data_url(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(
        '{"storage": {"files": [{"contents": {"source": "data:;base64,'
        'ZmxhdGNhci1pbnN0YWxsIC1WIDM1MTAuMi42IC1iIGh0dHA6Ly94L2Y="}}]}}')
    out = sh(tmp_path, "ign_texts c.json > t; install_base t; install_version t")
    assert out == "http://x/f\n3510.2.6\n"


@pytest.mark.parametrize(("cmdline", "name", "value"), [
    ("BOOT_IMAGE=/k console=ttyS1 ignition.config.url=http://a/ignition?mac=x&os=installer q",
     "ignition.config.url", "http://a/ignition?mac=x&os=installer"),
    ("a=1 a=2", "a", "1"),
    ("racker.mac=52:54:00:7a:00:01 console=ttyS1,57600n8", "racker.mac", "52:54:00:7a:00:01"),
    ("x.a=1 a=2", "a", "2"),
])
def test_cmdline_arg(tmp_path: Path, cmdline: str, name: str, value: str) -> None:
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    assert sh(tmp_path, f"cmdline_arg {name} cmdline") == value + "\n"


def test_cmdline_arg_missing(tmp_path: Path) -> None:
    (tmp_path / "cmdline").write_text("console=ttyS1\n")
    assert sh(tmp_path, "cmdline_arg ignition.config.url cmdline || echo missing") == "missing\n"


def test_small_helpers(tmp_path: Path) -> None:
    (tmp_path / "version.txt").write_text('FLATCAR_BUILD=1\nFLATCAR_VERSION="3510.2.6"\n')
    out = sh(tmp_path, "version_of version.txt; "
                       "base_of 'http://10.0.0.1:8080/ignition?mac=a-b&os=installer'; "
                       "mac_of_url 'http://10.0.0.1:8080/ignition?mac=a-b&os=installer'")
    assert out.splitlines() == ["3510.2.6", "http://10.0.0.1:8080", "a-b"]


@pytest.mark.parametrize(("encoded", "decoded"), [
    ("a%20b%0Ac", "a b\nc"),
    ("1+2%2B3", "1+2+3"),
    ("back\\slash%5Cn", "back\\slash\\n"),
    ("100%25%20sure%27%22", "100% sure'\""),
])
def test_urldecode(tmp_path: Path, encoded: str, decoded: str) -> None:
    assert sh(tmp_path, f"urldecode '{encoded}'") == decoded


@pytest.mark.parametrize(("faults", "kind", "expected"), [
    ("installer-fails:no-boot-report", "no-boot-report", "yes"),
    ("installer-fails", "installer-fails", "yes"),
    ("installer-fails", "installer", "no"),
    ("", "no-pxe", "no"),
])
def test_has_fault(tmp_path: Path, faults: str, kind: str, expected: str) -> None:
    out = sh(tmp_path, f"RACKER_FAULTS='{faults}'; has_fault {kind} && echo yes || echo no")
    assert out == expected + "\n"


def test_unit_contents_in_the_raw_config(tmp_path: Path) -> None:
    # a script kept in a unit's contents is one JSON string with \n escapes
    (tmp_path / "c.json").write_text(
        '{"systemd": {"units": [{"contents": "flatcar-install -s -V current -b http://h:8080/'
        'assets/flatcar\\necho done\\ncurl -X POST http://h:8080/racker/v1/nodes/a-b/events\\n"}]}}')
    out = sh(tmp_path, "ign_texts c.json > t; install_base t; events_url t")
    assert out == "http://h:8080/assets/flatcar\nhttp://h:8080/racker/v1/nodes/a-b/events\n"


def test_installer_ignition_asks_for_the_inventory(installer: Path) -> None:
    assert "racker-inventory" in installer.read_text()  # the test OS posts one when it sees it


def test_inventory_json_reads_sys_and_proc_as_racker_parses_it(tmp_path: Path) -> None:
    """The test OS's busybox collector over a /sys and /proc tree as a QEMU VM shows them."""
    root = tmp_path / "vm"
    dmi = root / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    (dmi / "product_uuid").write_text("6d1c5a52-6c3e-5f2a-9d0b-0123456789ab\n")
    (dmi / "sys_vendor").write_text("QEMU\n")
    (dmi / "product_name").write_text('Standard PC (i440FX + PIIX, "1996")\n')
    (root / "proc").mkdir()
    (root / "proc/cpuinfo").write_text("processor\t: 0\nmodel name\t: QEMU Virtual CPU\n\n")
    (root / "proc/meminfo").write_text("MemTotal:         460000 kB\n")
    mem = root / "sys/devices/system/memory"
    for i in range(4):
        (mem / f"memory{i}").mkdir(parents=True)
        (mem / f"memory{i}/online").write_text("1\n")
    (mem / "block_size_bytes").write_text("8000000\n")
    vda = root / "sys/block/vda"
    (vda / "device").mkdir(parents=True)
    (vda / "queue").mkdir()
    (vda / "size").write_text("4194304\n")  # 2 GiB in 512-byte sectors
    (vda / "queue/rotational").write_text("1\n")
    (root / "sys/block/loop0").mkdir()  # no device: not a disk
    eth0 = root / "sys/class/net/eth0"
    (eth0 / "device").mkdir(parents=True)
    (eth0 / "device/driver").symlink_to("../../../bus/virtio/drivers/virtio_net")
    (eth0 / "address").write_text("52:54:00:7a:00:01\n")
    (eth0 / "operstate").write_text("up\n")
    (eth0 / "speed").write_text("-1\n")
    (eth0 / "carrier").write_text("1\n")
    (root / "sys/class/net/lo").mkdir()
    out = sh(tmp_path, f"RACKER_ROOT={root} inventory_json")
    hw = parse_hardware(json.loads(out))
    assert (hw.uuid, hw.vendor, hw.model) == ("6d1c5a52-6c3e-5f2a-9d0b-0123456789ab", "QEMU",
                                              'Standard PC (i440FX + PIIX, "1996")')
    assert (hw.cpu_model, hw.cpu_threads, hw.memory_bytes) == ("QEMU Virtual CPU", 1, 512 << 20)
    (disk,) = hw.disks
    assert (disk.name, disk.size_bytes, disk.rotational) == ("vda", 2 << 30, True)
    (nic,) = hw.nics
    assert (nic.name, nic.mac, nic.driver, nic.speed_mbps, nic.link) == (
        "eth0", MAC, "virtio_net", None, True)
