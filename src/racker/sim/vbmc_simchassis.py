"""Plug a simulator node's `SimChassis` (racker.sim.node) into a virtual BMC.

The virtual BMC keeps the boot flags itself (with the spec's clearing rules) and hands the boot
request over at each power-up or reset; `SimChassis` keeps a boot device that the node's
firmware takes at boot. The adapter writes the request into the SimChassis just before the
power event, so `take_boot_device()` sees exactly what the BIOS was asked for.
"""

from __future__ import annotations

from racker.sim import node
from racker.sim.vbmc_chassis import BootDevice, BootRequest, ConsoleSink, PowerAction

_DEVICE = {
    BootDevice.PXE: node.BootDevice.PXE,
    BootDevice.DISK: node.BootDevice.DISK,
    BootDevice.DISK_SAFE: node.BootDevice.DISK,
    BootDevice.REMOTE_DISK: node.BootDevice.DISK,
    BootDevice.CDROM: node.BootDevice.CDROM,
    BootDevice.REMOTE_CDROM: node.BootDevice.CDROM,
    BootDevice.BIOS: node.BootDevice.BIOS,
}

_EVENT = {
    PowerAction.ON: node.PowerEvent.ON,
    PowerAction.OFF: node.PowerEvent.OFF,
    PowerAction.SOFT: node.PowerEvent.OFF,
    PowerAction.CYCLE: node.PowerEvent.RESET,
    PowerAction.RESET: node.PowerEvent.RESET,
}


def node_boot_device(request: BootRequest) -> node.BootDevice:
    """The simulator's boot device for a BIOS boot request (NONE: the firmware's own order)."""
    return _DEVICE.get(request.device, node.BootDevice.NONE)


class SimChassisAdapter:
    """`racker.sim.vbmc_chassis.Chassis` on top of a `racker.sim.node.SimChassis`.

    Lite nodes have no serial port: console output can still be written with `emit_console`
    (e.g. a boot log), typed bytes are collected in `console_received`.
    """

    def __init__(self, chassis: node.SimChassis) -> None:
        self.chassis = chassis
        self.console_received = bytearray()
        self._sink: ConsoleSink | None = None

    def is_powered_on(self) -> bool:
        """Current power state of the node."""
        return self.chassis.power_state() is node.Power.ON

    def power(self, action: PowerAction, boot: BootRequest | None) -> None:
        """Hand over the boot request, then the power event (an NMI does nothing here)."""
        if boot is not None:
            self.chassis.set_boot_device(node_boot_device(boot), persistent=boot.persistent)
        event = _EVENT.get(action)
        if event is not None:
            self.chassis.set_power(event)

    def console_input(self, data: bytes) -> None:
        """Collect what SOL typed."""
        self.console_received += data

    def attach_console(self, sink: ConsoleSink | None) -> None:
        """Remember where serial output goes."""
        self._sink = sink

    def emit_console(self, data: bytes) -> bool:
        """Write serial output; False when no SOL session listens."""
        sink = self._sink
        if sink is None:
            return False
        sink(data)
        return True
