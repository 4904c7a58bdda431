"""The adapter between the virtual BMC and the simulator's SimChassis."""

from __future__ import annotations

import pytest

from racker.sim import node
from racker.sim.vbmc_chassis import BootDevice, BootRequest, PowerAction
from racker.sim.vbmc_simchassis import SimChassisAdapter, node_boot_device


@pytest.mark.parametrize(("request_", "device"), [
    (BootRequest(BootDevice.PXE, True, True), node.BootDevice.PXE),
    (BootRequest(BootDevice.DISK), node.BootDevice.DISK),
    (BootRequest(BootDevice.DISK_SAFE), node.BootDevice.DISK),
    (BootRequest(BootDevice.CDROM), node.BootDevice.CDROM),
    (BootRequest(BootDevice.BIOS), node.BootDevice.BIOS),
    (BootRequest(BootDevice.NONE), node.BootDevice.NONE),
    (BootRequest(BootDevice.FLOPPY), node.BootDevice.NONE),
])
def test_node_boot_device(request_: BootRequest, device: node.BootDevice) -> None:
    assert node_boot_device(request_) == device


def test_power_events_carry_the_boot_request() -> None:
    sim = node.SimChassis()
    events: list[tuple[node.PowerEvent, node.BootDevice]] = []
    sim.subscribe(lambda e: events.append((e, sim.take_boot_device())))
    adapter = SimChassisAdapter(sim)
    assert not adapter.is_powered_on()
    adapter.power(PowerAction.ON, BootRequest(BootDevice.PXE, efi=True, persistent=False))
    assert adapter.is_powered_on()
    adapter.power(PowerAction.RESET, BootRequest(BootDevice.DISK, persistent=True))
    adapter.power(PowerAction.CYCLE, BootRequest(BootDevice.NONE))
    adapter.power(PowerAction.DIAG, None)
    adapter.power(PowerAction.SOFT, None)
    assert not adapter.is_powered_on()
    assert events == [(node.PowerEvent.ON, node.BootDevice.PXE),
                      (node.PowerEvent.RESET, node.BootDevice.DISK),
                      (node.PowerEvent.RESET, node.BootDevice.NONE),
                      (node.PowerEvent.OFF, node.BootDevice.NONE)]


def test_console() -> None:
    adapter = SimChassisAdapter(node.SimChassis())
    assert not adapter.emit_console(b"x")
    got: list[bytes] = []
    adapter.attach_console(got.append)
    assert adapter.emit_console(b"boot log")
    adapter.console_input(b"typed")
    assert got == [b"boot log"] and bytes(adapter.console_received) == b"typed"
