"""A QEMU node: a virtual machine per server, driven by its BMC's power state and boot device.

The VM runs in the namespace that holds its tap: in a simulated rack the rack network's own
namespace, the tap a port of the rack bridge (racker.sim.net.topology); `attach_commands` instead
puts a tap behind a namespace's uplink veth (a node namespace of its own). Its virtio NIC has the
node's primary MAC. The firmware is UEFI by default: OVMF (Debian `ovmf`) with its own
virtio-net driver and PXE client, which asks DHCP as client arch 7, fetches `ipxe.efi` by TFTP and
runs it; that iPXE asks again with its `iPXE` user class and chains to the boot server, the path
racker uses on real servers. `bios` is SeaBIOS with the legacy iPXE option ROM from Debian
`ipxe-qemu`, which does the DHCP/HTTP chain itself. Each firmware start asks the chassis for the
boot device: PXE (or no override and nothing installed) starts QEMU with the NIC first; disk (or
no override and an installed disk) starts it with the test OS kernel and initramfs, which then
finds the marker on `/dev/vda`, as a bootloader would start the installed OS. `-no-reboot` makes
a guest reboot end QEMU, so the chassis decides each boot anew, as the reference simulator
restarted QEMU.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from racker.adapters.fs.atomic import write_atomic
from racker.sim.nodes.chassis import BootDevice, PowerEvent
from racker.sim.nodes.hardware import smbios_uuid
from racker.sim.nodes.qemuserial import SerialLink, chardev_arg
from racker.sim.nodes.testos import TestOs, read_marker

QEMU = "qemu-system-x86_64"
SEABIOS = Path("/usr/share/seabios/bios-256k.bin")
IPXE_ROM = Path("/usr/lib/ipxe/qemu/pxe-virtio.rom")
"""Debian ipxe-qemu's legacy-BIOS ROM for virtio-net (the VM boots SeaBIOS).

NOTE: its PCI header names the modern virtio-net device (1af4:1041), and SeaBIOS runs a PCI ROM
only when that matches the device, so the NIC is made modern-only (`disable-legacy=on`).
"""
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
"""Debian ovmf's UEFI firmware (read-only code) and the template of a VM's own variable store."""


class Firmware(StrEnum):
    """What a QEMU node boots first."""

    UEFI = "uefi"
    """OVMF: UEFI PXE (client arch 7) → ipxe.efi by TFTP → iPXE → the boot server."""
    BIOS = "bios"
    """SeaBIOS and iPXE's legacy option ROM (the userclass chain straight from the ROM)."""


TAP = "tap0"
NODE_BRIDGE = "qbr0"
DISK_SIZE = 64 * 1024 * 1024
MEMORY_MB = 512
MAX_BOOTS = 20
FAILED_BOOT_PAUSE = 10.0
STOP_WAIT = 5.0
ACCEL_ENV = "RACKER_SIM_ACCEL"
KVM_GET_API_VERSION = 0xAE00
TESTOS_PREFIX = "racker-testos: "
TESTOS_FAULTS = ("installer-fails", "ignition-fails", "no-boot-report")
"""Faults the test OS acts on (told through fw_cfg)."""
QEMU_FAULTS = ("no-pxe", "dhcp-lost", *TESTOS_FAULTS)
"""Node faults a QEMU node honours; each takes effect at the node's next boot."""
KERNEL_CONSOLE = "console=ttyS1,57600n8"
"""The serial port racker's kernel arguments name (SOL on real servers); the VM's second UART."""


class Chassis(Protocol):
    """What the VM's firmware needs of its BMC (racker.sim.nodes.chassis.Chassis has it)."""

    def take_boot_device(self) -> BootDevice:
        """The device to boot from now; a one-time override is used up."""
        ...

    def shut_down(self) -> None:
        """The OS powered the server off by itself."""
        ...


@dataclass(frozen=True)
class QemuSpec:
    """Everything that decides how one node's VM starts."""

    name: str
    mac: str
    ns: str
    disk: Path
    console_log: Path
    testos: TestOs
    accel: str = "tcg"
    memory_mb: int = MEMORY_MB
    tap: str = TAP
    firmware: Firmware = Firmware.UEFI

    @property
    def uefi_vars(self) -> Path:
        """The VM's own UEFI variable store (a copy of OVMF's template, beside its disk)."""
        return uefi_vars_of(self.disk)


def uefi_vars_of(disk: Path) -> Path:
    """Where the UEFI variable store of the VM with `disk` lives (removed with the disk)."""
    return disk.with_name(disk.name + ".OVMF_VARS.fd")


# --- pure parts -----------------------------------------------------------------------------


def uplink_mac(mac: str) -> str:
    """A locally administered MAC for the namespace's uplink veth, derived from the node's MAC.

    NOTE: a bridge delivers frames for its ports' own MACs locally, so the uplink must not keep
    the VM's MAC (the rack topology gives the node namespace's veth the primary MAC).
    """
    digest = hashlib.sha256(mac.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def attach_commands(ns: str, uplink: str, mac: str, tap: str = TAP,
                    bridge: str = NODE_BRIDGE) -> list[tuple[str | None, tuple[str, ...]]]:
    """`ip` commands (namespace, args) that put a tap for the VM on the namespace's uplink."""
    return [
        (ns, ("link", "set", uplink, "down")),
        (ns, ("link", "set", uplink, "address", uplink_mac(mac))),
        (ns, ("link", "add", bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")),
        (ns, ("tuntap", "add", "dev", tap, "mode", "tap")),
        (ns, ("link", "set", uplink, "master", bridge)),
        (ns, ("link", "set", tap, "master", bridge)),
        (ns, ("link", "set", uplink, "up")),
        (ns, ("link", "set", tap, "up")),
        (ns, ("link", "set", bridge, "up")),
    ]


def qemu_argv(spec: QemuSpec, boot: BootDevice, faults: Iterable[str] = (), *,
              console_fd: int) -> list[str]:
    """The QEMU command line of one boot (`boot` is PXE or DISK).

    The test OS reads `faults` (those it acts on) from the fw_cfg file `opt/racker/faults`.
    `console_fd`: the simulator's socket for the SOL UART (racker.sim.nodes.qemuserial).
    """
    argv = [
        QEMU, "-name", spec.name, "-machine", "pc", "-accel", spec.accel,
        "-m", str(spec.memory_mb), "-smp", "1", "-uuid", smbios_uuid(spec.mac),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-chardev", chardev_arg(console_fd, spec.console_log),
        "-serial", "null", "-serial", "chardev:sol",
        "-drive", f"file={spec.disk},format=raw,if=virtio,cache=writeback",
        "-netdev", f"tap,id=net0,ifname={spec.tap},script=no,downscript=no",
    ]
    if spec.firmware is Firmware.UEFI:
        # NOTE: no option ROM (romfile=): OVMF's own virtio-net driver and PXE client boot, so
        # DHCP sees client arch 7 and hands out ipxe.efi, as with a real server's UEFI
        first = ",bootindex=1" if boot is BootDevice.PXE else ""
        argv += [
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,unit=1,file={spec.uefi_vars}",
            "-device", f"virtio-net-pci,netdev=net0,mac={spec.mac},romfile={first}",
        ]
    else:
        argv += ["-device", f"virtio-net-pci,disable-legacy=on,netdev=net0,mac={spec.mac},"
                            f"romfile={IPXE_ROM}"]
        if SEABIOS.exists():
            argv += ["-bios", str(SEABIOS)]
    testos_faults = sorted(set(faults) & set(TESTOS_FAULTS))
    if testos_faults:
        argv += ["-fw_cfg", f"name=opt/racker/faults,string={':'.join(testos_faults)}"]
    if boot is BootDevice.PXE:
        if spec.firmware is Firmware.BIOS:  # OVMF follows the NIC's bootindex instead
            argv += ["-boot", "order=n"]
    else:
        argv += ["-kernel", str(spec.testos.kernel), "-initrd", str(spec.testos.initrd),
                 "-append", f"{KERNEL_CONSOLE} racker.mac={spec.mac}"]
    return argv


def firmware_choice(device: BootDevice, installed: bool) -> BootDevice | None:
    """What the firmware boots: PXE, DISK, or None (nothing bootable there)."""
    if device is BootDevice.PXE:
        return BootDevice.PXE
    if device is BootDevice.DISK:
        return BootDevice.DISK if installed else None
    if device is BootDevice.NONE:
        # NOTE: the usual firmware order: the disk when it is bootable, then the network
        return BootDevice.DISK if installed else BootDevice.PXE
    return None


def cpu_has_virtualization(cpuinfo: str) -> bool:
    """True when /proc/cpuinfo's flags name hardware virtualization (vmx or svm)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and {"vmx", "svm"} & set(value.split()):
            return True
    return False


def kvm_usable(dev: str = "/dev/kvm", cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when KVM can run guests here: `dev` opens read-write, answers API version 12, and
    the CPU has vmx/svm.

    NOTE: some sandboxes offer a /dev/kvm that opens and answers but never runs a guest; the
    CPU flag check keeps QEMU nodes on TCG there.
    """
    try:
        if not cpu_has_virtualization(cpuinfo.read_text()):
            return False
        fd = os.open(dev, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == 12
    except OSError:
        return False
    finally:
        os.close(fd)


PROBE_TIMEOUT = 30.0
PROBE_FILE = "accel"


def probe_argv(testos: TestOs, log: Path) -> list[str]:
    """A KVM boot of the test OS that only says `probe ok` and powers off. Pure."""
    return [QEMU, "-machine", "pc", "-accel", "kvm", "-m", "256", "-nodefaults",
            "-no-user-config", "-display", "none", "-no-reboot", "-serial", "null",
            "-serial", f"file:{log}", "-kernel", str(testos.kernel), "-initrd", str(testos.initrd),
            "-append", f"{KERNEL_CONSOLE} racker.probe=1"]


def probe_kvm(testos: TestOs) -> bool:
    """True when the test OS boots under KVM here; cached next to the test OS.

    NOTE: some hosts offer a /dev/kvm that opens and answers but never runs a guest (a nested
    setup without the CPU feature), so only a boot that reaches the test OS's /init counts.
    """
    cached = testos.directory / PROBE_FILE
    with contextlib.suppress(OSError):
        return cached.read_text().strip() == "kvm"
    with tempfile.TemporaryDirectory(prefix="rks-kvm-probe-") as tmp:
        log = Path(tmp) / "serial.log"
        # a hung guest is killed at the timeout (subprocess.run kills its child)
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(probe_argv(testos, log), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=PROBE_TIMEOUT, check=False)
        ok = log.exists() and f"{TESTOS_PREFIX}probe ok" in log.read_text(errors="replace")
    with contextlib.suppress(OSError):
        write_atomic(cached, "kvm\n" if ok else "tcg\n")
    return ok


def pick_accel(env: dict[str, str] | None = None, testos: TestOs | None = None) -> str:
    """`$RACKER_SIM_ACCEL` when set (kvm or tcg); else kvm when /dev/kvm and the CPU allow it
    and (given `testos`) a probe boot of the test OS under KVM works; else tcg."""
    forced = (os.environ if env is None else env).get(ACCEL_ENV, "").strip()
    if forced:
        return forced
    if not kvm_usable():
        return "tcg"
    return "kvm" if testos is None or probe_kvm(testos) else "tcg"


def console_event(line: str) -> tuple[str, str] | None:
    """(event, detail) of a test OS progress line on the serial console, else None."""
    if not line.startswith(TESTOS_PREFIX):
        return None
    text = line[len(TESTOS_PREFIX):].strip()
    word = text.split(" ", 1)[0].rstrip(":")
    events = {"up": "testos-up", "lease": "lease", "installer": "installer",
              "ignition": "ignition", "image": "image", "installed": "installed-to-disk",
              "reported": "reported", "disk": "disk-os", "running": "running",
              "rebooting": "reboot-requested", "halted": "testos-halted",
              "poweroff": "poweroff-requested"}
    return events.get(word, "testos"), text


def lease_ip(detail: str) -> str | None:
    """The address of a test OS `lease IP/PREFIX on eth0 ...` line."""
    words = detail.split()
    return words[1].split("/")[0] if len(words) > 1 and words[0] == "lease" else None


# --- the node (I/O) --------------------------------------------------------------------------


async def _ip(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", *args, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    await proc.wait()


@dataclass
class QemuNodeState:
    phase: str = "off"
    boots: int = 0
    pid: int | None = None
    last_boot: str | None = None
    ip: str | None = None
    installed: bool = False
    faults: set[str] = field(default_factory=set)


class QemuNode:
    """One simulated server as a QEMU VM. Call `power_event` from the event loop."""

    def __init__(self, spec: QemuSpec, chassis: Chassis,
                 log: Callable[..., None] | None = None,
                 console: Callable[[bytes], None] | None = None) -> None:
        self.spec = spec
        self.chassis = chassis
        self.state = QemuNodeState()
        self._log = log
        self._console = console
        self._serial: SerialLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def uuid(self) -> str:
        """The VM's SMBIOS system UUID (QEMU's -uuid)."""
        return smbios_uuid(self.spec.mac)

    @property
    def is_running(self) -> bool:
        """True while a QEMU process of this node runs."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def installed(self) -> bool:
        """True when the VM's disk carries the installer's marker."""
        return self.disk_marker() is not None

    def disk_marker(self) -> tuple[str, str] | None:
        """(MAC, installed Ignition URL) from the disk, or None."""
        try:
            with self.spec.disk.open("rb") as f:
                return read_marker(f.read(512))
        except FileNotFoundError:
            return None

    def log(self, event: str, **fields: Any) -> None:
        """One timeline entry (when the node was given a logger)."""
        if self._log is not None:
            self._log(event, **fields)

    def _phase(self, phase: str, **fields: Any) -> None:
        self.state.phase = phase
        self.log(phase, **fields)

    def ensure_disk(self) -> None:
        """Create the VM's (sparse, empty) disk if it does not exist."""
        self.spec.disk.parent.mkdir(parents=True, exist_ok=True)
        if not self.spec.disk.exists():
            with self.spec.disk.open("wb") as f:
                f.truncate(DISK_SIZE)
        if self.spec.firmware is Firmware.UEFI and not self.spec.uefi_vars.exists():
            write_atomic(self.spec.uefi_vars, OVMF_VARS.read_bytes(), 0o644)

    # -- power -----------------------------------------------------------------------------
    def power_event(self, event: PowerEvent) -> None:
        """React to the BMC: start, stop or restart the VM."""
        self.log("power", state=event.value)
        if event is PowerEvent.OFF:
            self._cancel()
            self.state.phase = "off"
            self.state.ip = None
        elif event is PowerEvent.RESET or self._task is None or self._task.done():
            previous = self._task
            self._cancel()
            self._task = asyncio.get_running_loop().create_task(self._run(previous))

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def close(self) -> None:
        """Stop the VM and the boot loop (simulator shutdown)."""
        task = self._task
        self._cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._kill()

    async def _kill(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_WAIT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    # -- boot loop ---------------------------------------------------------------------------
    async def _run(self, previous: asyncio.Task[None] | None = None) -> None:
        if previous is not None:
            # NOTE: a reset stops the old QEMU first; two processes cannot share the tap
            await asyncio.wait([previous])
        try:
            for _ in range(MAX_BOOTS):
                device = self.chassis.take_boot_device()
                installed = self.state.installed = self.installed
                self.state.ip = None
                self.log("firmware", boot_device=device.value, installed=installed)
                choice = firmware_choice(device, installed)
                if choice is BootDevice.PXE and "no-pxe" in self.state.faults:
                    self._phase("no-pxe", reason="network boot disabled in firmware (fault)")
                    return
                if choice is None:
                    self._phase("boot-failed", reason=f"nothing to boot on {device.value}")
                    await asyncio.sleep(FAILED_BOOT_PAUSE)
                    continue
                rc = await self.boot(choice)
                if rc == 0 and self.state.phase == "poweroff-requested":  # the OS's own
                    self.chassis.shut_down()
                    return self._phase("off", reason="the test OS powered the VM off")
                if rc != 0:
                    self._phase("qemu-failed", returncode=rc,
                                hint=f"see {self.spec.console_log}")
                    return
                self._phase("reboot")
            self._phase("halted", reason=f"gave up after {MAX_BOOTS} boots")
        finally:
            await asyncio.shield(self._kill())

    async def boot(self, device: BootDevice) -> int:
        """Run one boot of the VM from `device` (PXE or DISK) until QEMU exits; its exit code."""
        self.ensure_disk()
        serial = SerialLink(self._console, self._console_line)
        fd = serial.open()
        argv = qemu_argv(self.spec, device, self.state.faults, console_fd=fd)
        # NOTE: dhcp-lost cuts the VM's cable before it boots: its DHCP requests go nowhere,
        # as when a switch port or relay drops them
        lost = "dhcp-lost" in self.state.faults
        await _ip("-n", self.spec.ns, "link", "set", self.spec.tap, "down" if lost else "up")
        with self.spec.console_log.open("a") as f:
            f.write(f"\n--- racker-sim: {self.name} boots from {device.value} ---\n")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", self.spec.ns, *argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                pass_fds=(fd,))
            await serial.attach()
            self._serial = serial
            self.state.boots += 1
            self.state.pid = self._proc.pid
            self.state.last_boot = device.value
            self._phase("pxe-boot" if device is BootDevice.PXE else "disk-boot",
                        pid=self._proc.pid, accel=self.spec.accel)
            _, err = await self._proc.communicate()
        finally:
            self._serial = None
            # a VM powered off is killed after this (the boot loop's end): nothing to drain
            await serial.close(drain=self._proc is not None and self._proc.returncode is not None)
        rc = self._proc.returncode
        assert rc is not None
        self.state.pid = None
        self.state.installed = self.installed
        self.log("qemu-exit", returncode=rc,
                 **({"stderr": err.decode(errors="replace").strip()[-500:]} if rc else {}))
        return rc

    # -- serial console --------------------------------------------------------------------
    def console_input(self, data: bytes) -> None:
        """What a SOL client typed, for the VM's serial port (dropped while no VM runs)."""
        if self._serial is not None:
            self._serial.write(data)

    def _console_line(self, line: str) -> None:
        """A whole line of the VM's serial output: the test OS's steps go to the timeline."""
        event = console_event(line)
        if event is not None:
            kind, detail = event
            self.state.phase = kind
            self.state.ip = lease_ip(detail) or self.state.ip
            self.log(kind, msg=detail)
