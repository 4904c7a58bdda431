"""A QEMU node: a VM on the rack bridge booting with Debian's iPXE ROM, driven by its vBMC.

PXE boot: QEMU with the iPXE NIC ROM (`ipxe-qemu`) and `-boot n`; whatever racker's iPXE chain
boots (the test OS in the simulator's mirror) runs. "Disk boot": as the reference simulator
restarted QEMU when the boot device changed, QEMU is started again with the test OS kernel and
the virtual disk, whose marker (written by the test OS "installer") makes it act installed.
The VM's serial lines go to the node's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racker.sim.lite import LiteNodeState
from racker.sim.node import BootDevice, Chassis, PowerEvent
from racker.sim.state import append_timeline
from racker.sim.testos import MARKER, OsImages

MAX_BOOTS = 10
DISK_SIZE = 16 * 1024 * 1024

_PHASES = (("installer: fetching", "installing"), ("installed; reporting", "report-installed"),
           ("rebooting", "reboot"), ("booted from disk", "disk-boot"),
           ("reported booted", "running"), ("dhcp failed", "boot-failed"))


_accel: str | None = None


def accel() -> str:
    """`kvm` when usable, else `tcg`; RACKER_SIM_ACCEL=kvm|tcg decides without probing."""
    forced = os.environ.get("RACKER_SIM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    return _accel or "tcg"


def probe_kvm(images: OsImages, timeout: float = 20.0) -> str:
    """Boot the test OS once under KVM and keep `kvm` only if it comes up.

    NOTE: /dev/kvm may exist and still hang a guest kernel (nested virtualisation), so only
    a boot that reaches the test OS's /init counts. The answer is cached beside the images.
    """
    global _accel
    cache = images.initrd.with_name("accel")
    if cache.exists():
        _accel = cache.read_text().strip()
        return _accel
    result = "tcg"
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        argv = ["qemu-system-x86_64", "-machine", "pc,accel=kvm", "-cpu", "host", "-m", "256",
                "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
                "-nic", "none", "-kernel", str(images.kernel), "-initrd", str(images.initrd),
                "-append", "console=ttyS0 quiet racker.probe"]
        try:
            out = subprocess.run(argv, capture_output=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL, check=False).stdout
            if b"racker-testos: probe ok" in out:
                result = "kvm"
        except subprocess.TimeoutExpired:
            pass
    cache.write_text(result + "\n")
    _accel = result
    return result


def qemu_argv(*, name: str, mac: str, tap: str, disk: Path, device: BootDevice,
              testos: OsImages, memory_mb: int = 256) -> list[str]:
    """The QEMU command line of one boot. Pure."""
    argv = ["qemu-system-x86_64", "-name", name, "-machine", f"pc,accel={accel()}",
            "-cpu", "max" if accel() == "tcg" else "host", "-m", str(memory_mb),
            "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
            # QEMU's default ROM for virtio-net is Debian ipxe-qemu's iPXE (efi-virtio.rom).
            "-device", f"virtio-net-pci,netdev=n0,mac={mac},bootindex=1",
            "-drive", f"file={disk},if=virtio,format=raw"]
    if device is not BootDevice.PXE:
        argv += ["-kernel", str(testos.kernel), "-initrd", str(testos.initrd),
                 "-append", "console=ttyS0 quiet"]
    return argv


class QemuNode:
    """One VM; the same interface to the daemon as a LiteNode."""

    def __init__(self, name: str, mac: str, net_ns: str, tap: str, chassis: Chassis,
                 timeline: Path, disk: Path, testos: OsImages,
                 console: Callable[[str], None] | None = None) -> None:
        self.name, self.mac, self.net_ns, self.tap = name, mac, net_ns, tap
        self.chassis = chassis
        self.timeline = timeline
        self.disk = disk
        self.testos = testos
        self.state = LiteNodeState()
        self._console = console
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        if not disk.exists():
            disk.parent.mkdir(parents=True, exist_ok=True)
            with disk.open("wb") as f:
                f.truncate(DISK_SIZE)

    def log(self, event: str, **fields: Any) -> None:
        """Append to the node's timeline (and to an attached serial console)."""
        append_timeline(self.timeline, event, **fields)
        if self._console is not None:
            rest = " ".join(f"{k}={v}" for k, v in fields.items())
            self._console(f"[{self.name}] {event} {rest}".rstrip())

    def _installed(self) -> bool:
        with self.disk.open("rb") as f:
            return f.read(len(MARKER)) == MARKER.encode()

    def power_event(self, event: PowerEvent) -> None:
        """Start, stop or restart the VM (call in the event loop)."""
        self.log("power", state=event.value)
        if event is PowerEvent.OFF:
            self._stop()
            self.state.phase = "off"
        elif event is PowerEvent.RESET or self._task is None or self._task.done():
            self._stop()
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def close(self) -> None:
        """Stop the VM (simulator shutdown)."""
        task = self._task
        self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        for _ in range(MAX_BOOTS):
            device = self.chassis.take_boot_device()
            installed = self._installed()
            self.state.installed = installed
            self.log("firmware", boot_device=device.value, installed=installed)
            if device is BootDevice.NONE:
                device = BootDevice.DISK if installed else BootDevice.PXE
            if device is not BootDevice.PXE and not installed:
                self.state.phase = "boot-failed"
                self.log("boot-failed", reason="no bootable operating system on the disk")
                return
            self.state.phase = "pxe" if device is BootDevice.PXE else "disk-boot"
            last = await self._boot(device)
            if "rebooting" not in last:
                self.state.phase = "halted" if self.state.phase != "running" else "running"
                self.log("vm-exit", last=last)
                return
        self.log("halted", reason=f"gave up after {MAX_BOOTS} boots")

    async def _boot(self, device: BootDevice) -> str:
        argv = qemu_argv(name=self.name, mac=self.mac, tap=self.tap, disk=self.disk,
                         device=device, testos=self.testos)
        self.log("qemu-start", boot=device.value, accel=accel())
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.net_ns, *argv, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._proc = proc
        last = ""
        try:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if "racker-testos:" not in line:
                    continue
                msg = line.split("racker-testos:", 1)[1].strip()
                last = msg
                self.log("os", msg=msg)
                if msg.startswith("address "):
                    self.state.ip = msg.split()[1].split("/")[0]
                for words, phase in _PHASES:
                    if msg.startswith(words):
                        self.state.phase = phase
            await proc.wait()
            return last
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            self._proc = None
