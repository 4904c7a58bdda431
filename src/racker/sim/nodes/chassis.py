"""What a simulated server's firmware sees of its BMC: the node-side `Chassis` protocol, and
`NodeChassis`, which is at once the virtual BMC's chassis (racker.sim.vbmc.chassis.Chassis) and
the lite node's view of it.

The vBMC owns power and the boot options; the node reacts to power events and, each time its
firmware starts, asks which device to boot from. Both run on the simulator's one event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from racker.sim.vbmc import chassis as vc

if TYPE_CHECKING:
    from racker.sim.vbmc.server import VirtualBmc


class Power(StrEnum):
    ON = "on"
    OFF = "off"


class PowerEvent(StrEnum):
    ON = "on"
    OFF = "off"
    RESET = "reset"
    """Reset or power cycle: the running OS stops and the firmware starts again."""


class BootDevice(StrEnum):
    NONE = "none"
    """No valid override: the firmware's own order (disk when bootable, then network)."""
    PXE = "pxe"
    DISK = "disk"
    CDROM = "cdrom"
    BIOS = "bios"
    OTHER = "other"


PowerListener = Callable[[PowerEvent], None]

_DEVICES = {
    vc.BootDevice.NONE: BootDevice.NONE, vc.BootDevice.PXE: BootDevice.PXE,
    vc.BootDevice.DISK: BootDevice.DISK, vc.BootDevice.DISK_SAFE: BootDevice.DISK,
    vc.BootDevice.REMOTE_DISK: BootDevice.DISK, vc.BootDevice.CDROM: BootDevice.CDROM,
    vc.BootDevice.REMOTE_CDROM: BootDevice.CDROM, vc.BootDevice.BIOS: BootDevice.BIOS,
}


def boot_device_of(request: vc.BootRequest) -> BootDevice:
    """The node-side word for a vBMC boot request's device."""
    return _DEVICES.get(request.device, BootDevice.OTHER)


class Chassis(Protocol):
    """Power and boot device of one server, as its BMC holds them."""

    def power_state(self) -> Power:
        """The current power state."""
        ...

    def boot_device(self) -> BootDevice:
        """The boot device override as it stands (without consuming a one-time override)."""
        ...

    def boot_persistent(self) -> bool:
        """Whether the override stays after a boot."""
        ...

    def take_boot_device(self) -> BootDevice:
        """The device the firmware boots from now; a one-time override is used up."""
        ...

    def subscribe(self, listener: PowerListener) -> None:
        """Call `listener` on every power event."""
        ...

    def shut_down(self) -> None:
        """The node's OS powered the server off by itself."""
        ...


class NodeChassis:
    """The chassis between one vBMC and one lite node (set `bmc` before the first power-on)."""

    def __init__(self) -> None:
        self.bmc: VirtualBmc | None = None
        self._on = False
        self._pending: vc.BootRequest | None = None
        self._listeners: list[PowerListener] = []
        self._sink: vc.ConsoleSink | None = None
        self._typed: Callable[[bytes], None] | None = None

    # -- the vBMC's side -----------------------------------------------------------------------
    def is_powered_on(self) -> bool:
        return self._on

    def shut_down(self) -> None:
        """The node's OS powered the server off (`systemctl poweroff`): the BMC sees it off."""
        self._on = False

    def power(self, action: vc.PowerAction, boot: vc.BootRequest | None) -> None:
        """A chassis control command from the vBMC (it has already consumed the boot flags)."""
        was_on = self._on
        if action in (vc.PowerAction.OFF, vc.PowerAction.SOFT):
            self._on = False
            event = PowerEvent.OFF
        elif action is vc.PowerAction.DIAG:
            return  # an NMI: a lite node has no kernel to dump
        else:
            self._on = True
            event = PowerEvent.RESET if was_on and action is not vc.PowerAction.ON else (
                PowerEvent.ON)
            self._pending = boot
        for listener in list(self._listeners):
            listener(event)

    def console_input(self, data: bytes) -> None:
        """Typed on SOL: for the node's serial input (a QEMU VM's UART); a lite node has no
        shell, so there the bytes are dropped."""
        typed = self._typed
        if typed is not None:
            typed(data)

    def attach_console(self, sink: vc.ConsoleSink | None) -> None:
        self._sink = sink

    def emit_console(self, line: str) -> None:
        """One line of serial output, to an attached SOL console if any."""
        self.emit_console_bytes(line.encode() + b"\r\n")

    def emit_console_bytes(self, data: bytes) -> None:
        """Serial output as the UART sent it (a prompt has no newline), to an attached SOL
        console if any."""
        sink = self._sink
        if sink is not None:
            sink(data)

    def on_console_input(self, typed: Callable[[bytes], None] | None) -> None:
        """Where what SOL types goes (the QEMU node's serial input)."""
        self._typed = typed

    # -- the node's side -----------------------------------------------------------------------
    def _now(self) -> float:
        assert self.bmc is not None and self.bmc.engine is not None
        return self.bmc.engine.clock()

    def power_state(self) -> Power:
        return Power.ON if self._on else Power.OFF

    def _request(self) -> vc.BootRequest:
        if self.bmc is None or self.bmc.engine is None:
            return vc.BootRequest(vc.BootDevice.NONE)
        return self.bmc.boot.boot_request(self._now())

    def boot_device(self) -> BootDevice:
        return boot_device_of(self._request())

    def boot_persistent(self) -> bool:
        return self._request().persistent

    def take_boot_device(self) -> BootDevice:
        request = self._pending
        self._pending = None
        if request is None and self.bmc is not None and self.bmc.engine is not None:
            # The OS rebooted by itself: to the BMC that is a reset. The vBMC's
            # lose_boot_flags fault (boot-flag-lost) applies here as at a chassis reset.
            if self.bmc.faults.lose_boot_flags:
                self.bmc.boot.forget()
            request = self.bmc.boot.consume(self._now(), reset=True)
        return boot_device_of(request) if request is not None else BootDevice.NONE

    def subscribe(self, listener: PowerListener) -> None:
        self._listeners.append(listener)


class SimChassis:
    """A chassis kept in memory without a BMC (tests, and racker.sim.vbmc_simchassis).

    NOTE: the simulator daemon uses `NodeChassis` instead: a boot device racker sets while the
    node runs (after `installed`, before the reboot) lives in the vBMC's boot options, and only
    `NodeChassis` reads those at a reboot the OS starts by itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._power = Power.OFF
        self._boot = BootDevice.NONE
        self._persistent = False
        self._listeners: list[PowerListener] = []

    def power_state(self) -> Power:
        with self._lock:
            return self._power

    def boot_device(self) -> BootDevice:
        with self._lock:
            return self._boot

    def boot_persistent(self) -> bool:
        with self._lock:
            return self._persistent

    def take_boot_device(self) -> BootDevice:
        with self._lock:
            dev = self._boot
            if not self._persistent:
                self._boot = BootDevice.NONE
            return dev

    def subscribe(self, listener: PowerListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def shut_down(self) -> None:
        """The node's OS powered the server off by itself (no power event: the node stops)."""
        with self._lock:
            self._power = Power.OFF

    def set_boot_device(self, device: BootDevice, persistent: bool = True) -> None:
        """What Set System Boot Options parameter 5 does."""
        with self._lock:
            self._boot = device
            self._persistent = persistent

    def set_power(self, event: PowerEvent) -> None:
        """Apply a chassis control command and tell the listeners (no event when unchanged)."""
        with self._lock:
            before = self._power
            self._power = Power.OFF if event is PowerEvent.OFF else Power.ON
            listeners = list(self._listeners)
        if event is PowerEvent.ON and before is Power.ON:
            return
        if event is PowerEvent.OFF and before is Power.OFF:
            return
        if event is PowerEvent.RESET and before is Power.OFF:
            event = PowerEvent.ON
        for listener in listeners:
            listener(event)
