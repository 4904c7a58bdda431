"""QEMU node's pure parts: command lines, firmware boot choice, tap wiring, accelerator."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from racker.sim.nodes.chassis import BootDevice
from racker.sim.nodes.qemu import (
    IPXE_ROM,
    OVMF_CODE,
    Firmware,
    QemuSpec,
    attach_commands,
    console_event,
    cpu_has_virtualization,
    firmware_choice,
    lease_ip,
    pick_accel,
    probe_argv,
    qemu_argv,
    uplink_mac,
)
from racker.sim.nodes.testos import TestOs

SPEC = QemuSpec("node1", "52:54:00:7a:00:01", "rks-r-node1", Path("/d/node1.raw"),
                Path("/t/node1.console"), TestOs(Path("/c/testos-x"), "6.1.0"), accel="tcg")


def opt(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_pxe_boot_argv_legacy_bios() -> None:
    argv = qemu_argv(dataclasses.replace(SPEC, firmware=Firmware.BIOS), BootDevice.PXE,
                     console_fd=7)
    assert argv[0] == "qemu-system-x86_64"
    assert opt(argv, "-accel") == ["tcg"] and opt(argv, "-m") == ["512"]
    assert "-no-reboot" in argv and "-nodefaults" in argv
    assert opt(argv, "-boot") == ["order=n"] and "-kernel" not in argv
    (nic,) = opt(argv, "-device")
    assert "mac=52:54:00:7a:00:01" in nic and f"romfile={IPXE_ROM}" in nic
    assert "disable-legacy=on" in nic
    assert opt(argv, "-netdev") == ["tap,id=net0,ifname=tap0,script=no,downscript=no"]
    assert opt(argv, "-drive") == ["file=/d/node1.raw,format=raw,if=virtio,cache=writeback"]
    # ttyS0 unused, ttyS1 (racker's console= port) is the simulator's socket (SOL, both ways),
    # logged to the console log
    assert opt(argv, "-serial") == ["null", "chardev:sol"]
    assert opt(argv, "-chardev") == ["socket,id=sol,fd=7,logfile=/t/node1.console,logappend=on"]


def test_pxe_boot_argv_uefi_by_default() -> None:
    argv = qemu_argv(SPEC, BootDevice.PXE, console_fd=7)
    assert SPEC.firmware is Firmware.UEFI
    # OVMF's code read-only, the VM's own variable store beside its disk
    assert opt(argv, "-drive") == [
        "file=/d/node1.raw,format=raw,if=virtio,cache=writeback",
        f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
        "if=pflash,format=raw,unit=1,file=/d/node1.raw.OVMF_VARS.fd",
    ]
    # OVMF's own PXE client (no iPXE option ROM), the NIC first in the boot order
    (nic,) = opt(argv, "-device")
    assert nic == "virtio-net-pci,netdev=net0,mac=52:54:00:7a:00:01,romfile=,bootindex=1"
    assert "-boot" not in argv and "-bios" not in argv and "-kernel" not in argv
    disk = qemu_argv(SPEC, BootDevice.DISK, console_fd=7)
    assert opt(disk, "-device") == ["virtio-net-pci,netdev=net0,mac=52:54:00:7a:00:01,romfile="]
    assert opt(disk, "-kernel") == ["/c/testos-x/vmlinuz"]


def test_disk_boot_argv_starts_the_test_os() -> None:
    argv = qemu_argv(SPEC, BootDevice.DISK, console_fd=7)
    assert "-boot" not in argv
    assert opt(argv, "-kernel") == ["/c/testos-x/vmlinuz"]
    assert opt(argv, "-initrd") == ["/c/testos-x/initrd.cpio.gz"]
    (append,) = opt(argv, "-append")
    assert "console=ttyS1,57600n8" in append and "racker.mac=52:54:00:7a:00:01" in append


@pytest.mark.parametrize(("device", "installed", "expected"), [
    (BootDevice.PXE, False, BootDevice.PXE),
    (BootDevice.PXE, True, BootDevice.PXE),
    (BootDevice.DISK, True, BootDevice.DISK),
    (BootDevice.DISK, False, None),
    (BootDevice.NONE, False, BootDevice.PXE),
    (BootDevice.NONE, True, BootDevice.DISK),
    (BootDevice.CDROM, True, None),
    (BootDevice.BIOS, False, None),
])
def test_firmware_choice(device: BootDevice, installed: bool, expected: BootDevice | None) -> None:
    assert firmware_choice(device, installed) is expected


def test_uplink_mac_is_local_unicast_and_per_node() -> None:
    a, b = uplink_mac("52:54:00:7a:00:01"), uplink_mac("52:54:00:7a:00:02")
    assert a != b and a.startswith("02:") and len(a.split(":")) == 6
    assert a == uplink_mac("52:54:00:7a:00:01")


def test_attach_commands_bridge_tap_and_uplink() -> None:
    cmds = attach_commands("ns1", "eth0", "52:54:00:7a:00:01")
    assert {ns for ns, _ in cmds} == {"ns1"}
    args = [" ".join(a) for _, a in cmds]
    assert f"link set eth0 address {uplink_mac('52:54:00:7a:00:01')}" in args
    assert "tuntap add dev tap0 mode tap" in args
    assert args.index("link set eth0 down") < args.index(
        f"link set eth0 address {uplink_mac('52:54:00:7a:00:01')}")
    assert "link set eth0 master qbr0" in args and "link set tap0 master qbr0" in args
    assert args[-1] == "link set qbr0 up"


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    ("processor\t: 0\nflags\t\t: fpu vme sse2 vmx ept\n", True),
    ("flags\t\t: fpu svm npt\n", True),
    ("flags\t\t: fpu vme sse2 hypervisor\nvmx flags\t: ept\n", False),
    ("", False),
])
def test_cpu_has_virtualization(cpuinfo: str, expected: bool) -> None:
    assert cpu_has_virtualization(cpuinfo) is expected


def test_pick_accel_honours_the_environment() -> None:
    assert pick_accel({"RACKER_SIM_ACCEL": "tcg"}) == "tcg"
    assert pick_accel({"RACKER_SIM_ACCEL": "kvm"}) == "kvm"


@pytest.mark.parametrize(("faults", "fw_cfg"), [
    (set(), []),
    ({"no-pxe", "dhcp-lost"}, []),  # the VM's side handles these, not the test OS
    ({"no-boot-report", "installer-fails", "no-pxe"},
     ["name=opt/racker/faults,string=installer-fails:no-boot-report"]),
])
def test_faults_reach_the_test_os_through_fw_cfg(faults: set[str], fw_cfg: list[str]) -> None:
    assert opt(qemu_argv(SPEC, BootDevice.PXE, faults, console_fd=7), "-fw_cfg") == fw_cfg


@pytest.mark.parametrize(("line", "expected"), [
    ("racker-testos: up (kernel 6.1.0-56-cloud-amd64)",
     ("testos-up", "up (kernel 6.1.0-56-cloud-amd64)")),
    ("racker-testos: lease 10.0.0.11/24 on eth0 from 10.0.0.1",
     ("lease", "lease 10.0.0.11/24 on eth0 from 10.0.0.1")),
    ("racker-testos: reported booted: {\"ok\":true}",
     ("reported", "reported booted: {\"ok\":true}")),
    ("racker-testos: halted: no DHCP lease", ("testos-halted", "halted: no DHCP lease")),
    ("racker-testos: something new", ("testos", "something new")),
    ("[    3.06] Run /init as init process", None),
    ("udhcpc: started, v1.35.0", None),
])
def test_testos_event(line: str, expected: tuple[str, str] | None) -> None:
    assert console_event(line) == expected


@pytest.mark.parametrize(("detail", "ip"), [
    ("lease 10.0.0.11/24 on eth0 from 10.0.0.1", "10.0.0.11"),
    ("installed to /dev/vda", None),
    ("lease", None),
])
def test_lease_ip(detail: str, ip: str | None) -> None:
    assert lease_ip(detail) == ip


def test_probe_argv_boots_the_test_os_under_kvm_without_network() -> None:
    argv = probe_argv(SPEC.testos, Path("/t/probe.log"))
    assert opt(argv, "-accel") == ["kvm"] and "-netdev" not in argv and "-drive" not in argv
    assert opt(argv, "-kernel") == ["/c/testos-x/vmlinuz"]
    assert "racker.probe=1" in opt(argv, "-append")[0]
    assert opt(argv, "-serial") == ["null", "file:/t/probe.log"]
