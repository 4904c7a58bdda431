"""NodeChassis: the lite node's view of its vBMC's power and boot options."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from racker.sim.nodes.chassis import BootDevice, NodeChassis, Power, PowerEvent
from racker.sim.vbmc import chassis as vc
from racker.sim.vbmc.sessions import Faults
from racker.sim.vbmc.state import BootOptions

PXE_ONCE = bytes([0xA0, 0x04, 0, 0, 0])
PXE_PERSISTENT = bytes([0xE0, 0x04, 0, 0, 0])
DISK_PERSISTENT = bytes([0xE0, 0x08, 0, 0, 0])


class FakeBmc:
    """What NodeChassis uses of a VirtualBmc: its boot options and its engine's clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.boot = BootOptions()
        self.faults = Faults()
        self.engine = SimpleNamespace(clock=lambda: self.now)

    def power_on(self, chassis: NodeChassis, action: vc.PowerAction = vc.PowerAction.ON) -> None:
        # As the vBMC does: consume the flags at power-up/reset, hand the request over.
        if self.faults.lose_boot_flags:
            self.boot.forget()
        chassis.power(action, self.boot.consume(self.now, reset=action != vc.PowerAction.ON))


def _chassis() -> tuple[NodeChassis, FakeBmc, list[PowerEvent]]:
    c, bmc = NodeChassis(), FakeBmc()
    events: list[PowerEvent] = []
    c.bmc = bmc  # type: ignore[assignment]
    c.subscribe(events.append)
    return c, bmc, events


def test_one_time_pxe_then_the_os_reboots_into_the_default_order() -> None:
    c, bmc, events = _chassis()
    bmc.boot.set(5, PXE_ONCE, bmc.now)
    bmc.power_on(c)
    assert c.power_state() is Power.ON and events == [PowerEvent.ON]
    assert c.take_boot_device() is BootDevice.PXE
    assert c.take_boot_device() is BootDevice.NONE  # the OS's own reboot: flags used up


def test_disk_set_while_running_is_what_the_os_reboot_uses() -> None:
    c, bmc, _ = _chassis()
    bmc.boot.set(5, PXE_PERSISTENT, bmc.now)
    bmc.power_on(c)
    assert c.take_boot_device() is BootDevice.PXE
    bmc.boot.set(5, DISK_PERSISTENT, bmc.now)  # racker, on `installed`, before answering
    assert (c.boot_device(), c.boot_persistent()) == (BootDevice.DISK, True)
    assert c.take_boot_device() is BootDevice.DISK
    assert c.take_boot_device() is BootDevice.DISK


def test_boot_flag_lost() -> None:
    c, bmc, _ = _chassis()
    bmc.faults.lose_boot_flags = True
    bmc.boot.set(5, PXE_PERSISTENT, bmc.now)
    bmc.power_on(c)
    assert c.take_boot_device() is BootDevice.NONE
    assert c.boot_device() is BootDevice.NONE  # the BMC itself forgot (valid bit cleared)
    bmc.boot.set(5, DISK_PERSISTENT, bmc.now)
    assert c.take_boot_device() is BootDevice.NONE  # an OS reboot loses them too


def test_power_events() -> None:
    c, bmc, events = _chassis()
    bmc.power_on(c)
    bmc.power_on(c, vc.PowerAction.RESET)
    bmc.power_on(c, vc.PowerAction.CYCLE)
    c.power(vc.PowerAction.DIAG, None)
    c.power(vc.PowerAction.SOFT, None)
    assert events == [PowerEvent.ON, PowerEvent.RESET, PowerEvent.RESET, PowerEvent.OFF]
    assert not c.is_powered_on()


def test_console_lines_reach_an_attached_sol_sink() -> None:
    c = NodeChassis()
    c.emit_console("nobody listens")
    got: list[Any] = []
    c.attach_console(got.append)
    c.emit_console("[node1] lease ip=1.2.3.4/24")
    assert got == [b"[node1] lease ip=1.2.3.4/24\r\n"]
    assert c.boot_device() is BootDevice.NONE  # no BMC attached yet
