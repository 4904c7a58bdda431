"""IpmiControl: a BMC found by its MAC may answer IPMI only a moment later."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from racker.adapters.bmc.control import IpmiControl
from racker.adapters.bmc.errors import BmcAuthFailed, BmcUnreachable
from racker.adapters.bmc.interfaces import BmcTarget, PowerState
from racker.adapters.bmc.locate import LocatedBmc, Source
from racker.model import Credentials, Node, PlannedNode, Role

NODE = PlannedNode(Node("02:00:00:00:00:01", "02:00:00:00:01:01", None, "", "", 2), Role.NODE, 0,
                   "node-0", "10.0.0.2", "10.0.0.5")


@dataclass
class FlakyBmc:
    failures: list[Exception]
    opened: list[BmcTarget] = field(default_factory=list)

    async def open(self, target: BmcTarget) -> Any:
        self.opened.append(target)
        return self

    async def power_status(self) -> PowerState:
        if self.failures:
            raise self.failures.pop(0)
        return PowerState.ON

    async def aclose(self) -> None:
        pass


def control(driver: FlakyBmc, retry_sec: float) -> IpmiControl:
    def locate(node: PlannedNode) -> LocatedBmc:
        return LocatedBmc("10.0.0.5", Source.LEASES, node.bmc_ip)

    return IpmiControl(Credentials("admin", "secret"), locate, driver=driver,  # type: ignore[arg-type]
                       retry_sec=retry_sec)


def test_unreachable_right_after_the_lease_is_retried() -> None:
    driver = FlakyBmc([BmcUnreachable("node-0", "10.0.0.5"), BmcUnreachable("node-0", "10.0.0.5")])
    assert asyncio.run(control(driver, 30).check_bmc(NODE)) == "10.0.0.5"
    assert len(driver.opened) == 3 and driver.opened[0].password == "secret"


def test_gives_up_after_retry_sec() -> None:
    driver = FlakyBmc([BmcUnreachable("node-0", "10.0.0.5")] * 10)
    with pytest.raises(BmcUnreachable):
        asyncio.run(control(driver, 0.5).check_bmc(NODE))


def test_wrong_credentials_are_not_retried() -> None:
    driver = FlakyBmc([BmcAuthFailed("node-0", "10.0.0.5")])
    with pytest.raises(BmcAuthFailed):
        asyncio.run(control(driver, 30).check_bmc(NODE))
    assert len(driver.opened) == 1
