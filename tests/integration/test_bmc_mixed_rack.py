"""A mixed rack through `RackBmcs` and the engine's `RackControl`: one BMC is sushy-tools'
emulator (Redfish over HTTPS), one is OpenIPMI's ipmi_sim; with the setting `auto` each is
detected, driven over its own protocol and recorded, as `racker status` then shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from racker.adapters.bmc import registry
from racker.adapters.bmc.control import RackControl, bmc_ref
from racker.adapters.bmc.interfaces import BootTarget, Driver, DriverOptions, PowerState
from racker.adapters.bmc.ipmi.driver import BootReadback, IpmiDriver, IpmiSettings
from racker.adapters.bmc.locate import LocatedBmc, Source
from racker.adapters.bmc.protocol import AUTO, IPMI, REDFISH, ProtocolRecord, Protocols
from racker.adapters.bmc.rack import RackBmcs
from racker.model import Credentials, Node, PlannedNode, Role
from tests.conftest import require_tool
from tests.integration.ipmisim import ADMIN_PASSWORD, ADMIN_USER, random_loopback, start_ipmi_sim
from tests.integration.sushyemu import free_port, start_emulator

pytestmark = [pytest.mark.ipmi_sim, pytest.mark.slow]


def planned(i: int) -> PlannedNode:
    return PlannedNode(Node(f"02:00:00:00:00:0{i}", f"02:00:00:00:01:0{i}", None, "", "", i + 1),
                       Role.NODE, i, f"node-{i}", f"10.0.0.{10 + i}", f"10.0.1.{10 + i}")


@dataclass
class MapLocator:
    """Each BMC MAC at the loopback address its peer listens on (what the leases would say)."""

    addresses: dict[str, str]

    def locate_bmc(self, bmc_mac: str, retry_sec: float, *, node: str | None = None,
                   planned_ip: str | None = None) -> LocatedBmc:
        return LocatedBmc(self.addresses[bmc_mac], Source.LEASES, planned_ip)


def test_auto_detects_drives_and_records_each_protocol(tmp_path: Path) -> None:
    require_tool("ipmi_sim")
    redfish_node, ipmi_node = planned(1), planned(2)
    rf_address = random_loopback()
    rf_port = free_port(rf_address)
    state = tmp_path / "state"
    with start_ipmi_sim(tmp_path) as sim, \
            start_emulator(tmp_path, port=rf_port, address=rf_address, user=ADMIN_USER,
                           password=ADMIN_PASSWORD):
        locator = MapLocator({redfish_node.node.bmc_mac: rf_address,
                              ipmi_node.node.bmc_mac: sim.address})
        record = ProtocolRecord.in_state_dir(state)
        options = DriverOptions(timeout=3.0, retries=1, state_dir=state)

        def make(protocol: str) -> Driver:
            if protocol == IPMI:  # ipmi_sim keeps the device but reports no flag bits
                return IpmiDriver(IpmiSettings(timeout=3.0, retries=1,
                                               boot_readback=BootReadback.DEVICE))
            return registry.create(protocol, options)

        def rack() -> RackBmcs:
            return RackBmcs(Credentials(ADMIN_USER, ADMIN_PASSWORD), locator, make, 20.0,
                            protocols=Protocols(AUTO, record, probe_timeout=2.0,
                                                ports={IPMI: sim.port, REDFISH: rf_port}))

        async def provision_steps() -> dict[str, tuple[str | None, BootTarget, PowerState]]:
            control = RackControl(rack())
            out = {}
            try:
                for node in (redfish_node, ipmi_node):
                    await control.check_bmc(node)
                    await control.prepare_pxe(node)
                    await control.set_disk_boot(node)
                    bmc = await control.bmcs.open(bmc_ref(node))
                    out[node.name] = (control.bmcs.protocol(bmc_ref(node)),
                                      (await bmc.get_boot_device()).target,
                                      await bmc.power_status())
            finally:
                await control.close()
            return out

        seen = asyncio.run(provision_steps())
        assert seen == {"node-1": (REDFISH, BootTarget.DISK, PowerState.OFF),
                        "node-2": (IPMI, BootTarget.DISK, PowerState.OFF)}
        assert record.all() == {redfish_node.node.bmc_mac: REDFISH,
                                ipmi_node.node.bmc_mac: IPMI}
        # a later command (status) knows each protocol from the record, before any contact
        later = rack()
        assert [later.protocol(bmc_ref(n)) for n in (redfish_node, ipmi_node)] == [REDFISH, IPMI]
        assert (state / "bmc-certificates.json").is_file()
