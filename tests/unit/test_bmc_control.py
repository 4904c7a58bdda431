"""RackBmcs and RackControl: a BMC found by its MAC may answer only a moment later; every
provisioning step goes through the one session per BMC."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from racker.adapters.bmc.control import RackControl, bmc_ref
from racker.adapters.bmc.errors import BmcAuthFailed, BmcUnreachable
from racker.adapters.bmc.interfaces import BmcTarget, BootTarget, PowerState
from racker.adapters.bmc.locate import LocatedBmc, Source
from racker.adapters.bmc.rack import BmcRef, RackBmcs
from racker.model import Credentials, Node, PlannedNode, Role

NODE = PlannedNode(Node("02:00:00:00:00:01", "02:00:00:00:01:01", None, "", "", 2), Role.NODE, 0,
                   "node-0", "10.0.0.2", "10.0.0.5")


@dataclass
class FlakyBmc:
    """A driver and its one BMC: fails `failures` power queries, records every call."""

    failures: list[Exception]
    opened: list[BmcTarget] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    closed: int = 0

    async def open(self, target: BmcTarget) -> Any:
        self.opened.append(target)
        return self

    @property
    def target(self) -> BmcTarget:
        return self.opened[-1]

    async def power_status(self) -> PowerState:
        if self.failures:
            raise self.failures.pop(0)
        return PowerState.ON

    async def power_off(self) -> None:
        self.calls.append("off")

    async def power_on(self) -> None:
        self.calls.append("on")

    async def set_boot_device(self, target: BootTarget, *, persistent: bool = True,
                              efi: bool = True) -> None:
        self.calls.append(f"{target.value} persistent={persistent} efi={efi}")

    async def aclose(self) -> None:
        self.closed += 1


@dataclass
class FixedLocator:
    found_ip: str = "10.0.0.5"
    lookups: list[tuple[str, str | None]] = field(default_factory=list)

    def locate_bmc(self, bmc_mac: str, retry_sec: float, *, node: str | None = None,
                   planned_ip: str | None = None) -> LocatedBmc:
        self.lookups.append((bmc_mac, node))
        return LocatedBmc(self.found_ip, Source.LEASES, planned_ip)


def bmcs(driver: FlakyBmc, retry_sec: float, locator: FixedLocator | None = None,
         warnings: list[str] | None = None) -> RackBmcs:
    protocols: list[str] = []

    def make(protocol: str) -> Any:
        protocols.append(protocol)
        return driver

    sink = warnings if warnings is not None else []
    return RackBmcs(Credentials("admin", "secret"), locator or FixedLocator(), make, retry_sec,
                    warn=sink.append)


def test_unreachable_right_after_the_lease_is_retried() -> None:
    driver = FlakyBmc([BmcUnreachable("node-0", "10.0.0.5"), BmcUnreachable("node-0", "10.0.0.5")])
    assert asyncio.run(RackControl(bmcs(driver, 30)).check_bmc(NODE)) == "10.0.0.5"
    assert len(driver.opened) == 3 and driver.opened[0].password == "secret"


def test_a_bmc_that_does_not_answer_yet_is_tried_again_soon_then_less_often(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # NOTE: found the moment it took its lease, a BMC often answers a few milliseconds later;
    # a fixed second's pause held a 48-node rack's BMC check up for 4 such BMCs
    pauses: list[float] = []
    sleep = asyncio.sleep

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", pause)
    driver = FlakyBmc([BmcUnreachable("node-0", "10.0.0.5")] * 6)
    assert asyncio.run(RackControl(bmcs(driver, 30)).check_bmc(NODE)) == "10.0.0.5"
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_gives_up_after_retry_sec() -> None:
    driver = FlakyBmc([BmcUnreachable("node-0", "10.0.0.5")] * 10)
    with pytest.raises(BmcUnreachable):
        asyncio.run(RackControl(bmcs(driver, 0.5)).check_bmc(NODE))


def test_wrong_credentials_are_not_retried() -> None:
    driver = FlakyBmc([BmcAuthFailed("node-0", "10.0.0.5")])
    with pytest.raises(BmcAuthFailed):
        asyncio.run(RackControl(bmcs(driver, 30)).check_bmc(NODE))
    assert len(driver.opened) == 1


def test_one_session_per_bmc_for_every_step_and_closed_at_the_end() -> None:
    driver = FlakyBmc([])
    locator = FixedLocator()
    control = RackControl(bmcs(driver, 30, locator), legacy_boot=True)

    async def steps() -> None:
        await control.check_bmc(NODE)
        await control.prepare_pxe(NODE)
        await control.power_on(NODE)
        await control.set_disk_boot(NODE)
        await control.reassert_disk_boot(NODE)
        await control.close()

    asyncio.run(steps())
    assert len(driver.opened) == 1 and locator.lookups == [(NODE.node.bmc_mac, "node-0")]
    assert driver.calls == ["off", "pxe persistent=True efi=False", "on",
                            "disk persistent=True efi=False", "disk persistent=True efi=False"]
    assert driver.closed == 1


def test_reassert_never_waits_to_find_a_bmc() -> None:
    driver = FlakyBmc([])
    locator = FixedLocator()
    asyncio.run(RackControl(bmcs(driver, 30, locator)).reassert_disk_boot(NODE))
    assert locator.lookups == [] and driver.calls == []


def test_an_address_other_than_planned_is_warned_about() -> None:
    warnings: list[str] = []
    rack = bmcs(FlakyBmc([]), 30, FixedLocator(found_ip="10.0.0.99"), warnings)
    asyncio.run(rack.open(bmc_ref(NODE)))
    assert len(warnings) == 1 and "10.0.0.99" in warnings[0] and "10.0.0.5" in warnings[0]


def test_locate_names_the_node_and_passes_the_planned_address() -> None:
    locator = FixedLocator()
    found = asyncio.run(bmcs(FlakyBmc([]), 30, locator).locate(
        BmcRef("node-7", "02:00:00:00:01:07", "10.0.0.9")))
    assert found.planned_ip == "10.0.0.9" and locator.lookups == [("02:00:00:00:01:07", "node-7")]


def test_auto_guessed_ipmi_bmc_that_never_answers_says_redfish_did_not_either() -> None:
    from racker.adapters.bmc.protocol import AUTO, Protocols

    driver = FlakyBmc([BmcUnreachable("node-0", "10.0.0.5", "no answer")])
    probed: list[tuple[str, int]] = []

    def probe(address: str, port: int, timeout: float) -> bool:
        probed.append((address, port))
        return False

    rack = bmcs(driver, 0)
    rack.protocols = Protocols(AUTO, None, probe)
    rack.wait_for_answer = False
    with pytest.raises(BmcUnreachable) as e:
        asyncio.run(RackControl(rack).check_bmc(NODE))
    assert "nor did https://10.0.0.5/redfish/v1 answer" in str(e.value)
    assert probed == [("10.0.0.5", 443)] and driver.opened[0].port == 623
