"""TEMPORARY stand-in virtual BMC (pyghmi server) until racker.sim.vbmc is merged.

Power, chassis status and boot device over IPMI lanplus, bound to a `SimChassis`. Only what the
lite nodes need; the real vBMC (SOL, users, faults) replaces it.
"""

from __future__ import annotations

import threading
from typing import Any

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.session as pyghmi_session

from racker.sim.node import BootDevice, Power, PowerEvent, SimChassis

_TO_IPMI = {BootDevice.NONE: "default", BootDevice.PXE: "network", BootDevice.DISK: "hd",
            BootDevice.CDROM: "optical", BootDevice.BIOS: "setup"}
_SELECTOR = {1: BootDevice.PXE, 2: BootDevice.DISK, 3: BootDevice.DISK, 5: BootDevice.CDROM,
             6: BootDevice.BIOS, 0: BootDevice.NONE}


class StandinBmc(pyghmi_bmc.Bmc):  # type: ignore[misc]
    """A pyghmi BMC whose power and boot device live in a SimChassis."""

    def __init__(self, chassis: SimChassis, user: str, password: str) -> None:
        super().__init__({user: password}, port=623, address="::")
        self.chassis = chassis
        self.down = False

    def get_power_state(self) -> str:
        return "on" if self.chassis.power_state() is Power.ON else "off"

    def power_on(self) -> None:
        self.chassis.set_power(PowerEvent.ON)

    def power_off(self) -> None:
        self.chassis.set_power(PowerEvent.OFF)

    def power_shutdown(self) -> None:
        self.chassis.set_power(PowerEvent.OFF)

    def power_reset(self) -> None:
        self.chassis.set_power(PowerEvent.RESET)

    def power_cycle(self) -> None:
        self.chassis.set_power(PowerEvent.RESET)

    def get_boot_device(self) -> str:
        return _TO_IPMI[self.chassis.boot_device()]

    def set_system_boot_options(self, request: Any, session: Any) -> None:
        data = request["data"]
        if data[0] == 5 and len(data) >= 3:
            # NOTE: read the persistent bit ourselves; pyghmi's server drops it.
            selector = (data[2] >> 2) & 0x0F
            device = _SELECTOR.get(selector)
            if device is None:
                session.send_ipmi_response(code=0xCC)
                return
            self.chassis.set_boot_device(device, persistent=bool(data[1] & 0x40))
            session.send_ipmi_response()
            return
        super().set_system_boot_options(request, session)


class BmcLoop:
    """Runs pyghmi's shared server loop (all BMCs of the process) in one thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vbmc-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pyghmi_session.Session.wait_for_rsp(timeout=0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
