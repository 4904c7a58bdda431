"""What a simulated server's firmware sees of its BMC: the `Chassis` protocol.

The BMC (a virtual IPMI server) owns power and boot device; the node only reacts to power
events and asks which device to boot from. `SimChassis` is the plain in-memory implementation
both sides share; it is thread-safe because the IPMI server may run in another thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol


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
    """No override: the firmware's own order (disk when bootable, then network)."""
    PXE = "pxe"
    DISK = "disk"
    CDROM = "cdrom"
    BIOS = "bios"


PowerListener = Callable[[PowerEvent], None]


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
        """Call `listener` on every power event (possibly from another thread)."""
        ...


class SimChassis:
    """An in-memory chassis: the state a virtual BMC changes and a lite node follows."""

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

    def set_boot_device(self, device: BootDevice, persistent: bool = True) -> None:
        """What Set System Boot Options parameter 5 does."""
        with self._lock:
            self._boot = device
            self._persistent = persistent

    def forget_boot_device(self) -> None:
        """Clear the override, as a buggy BMC that loses its boot flags does."""
        with self._lock:
            self._boot = BootDevice.NONE
            self._persistent = False

    def set_power(self, event: PowerEvent) -> None:
        """Apply a chassis control command and tell the listeners."""
        with self._lock:
            before = self._power
            if event is PowerEvent.OFF:
                self._power = Power.OFF
            else:
                self._power = Power.ON
            listeners = list(self._listeners)
            if event is PowerEvent.ON and before is Power.ON:
                return  # already on: nothing happens, as on real hardware
            if event is PowerEvent.OFF and before is Power.OFF:
                return
            if event is PowerEvent.RESET and before is Power.OFF:
                event = PowerEvent.ON
        for listener in listeners:
            listener(event)
