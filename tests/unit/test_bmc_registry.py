"""Driver registry and the interfaces' defaults."""

from __future__ import annotations

import asyncio

import pytest

from racker.adapters.bmc import registry
from racker.adapters.bmc.errors import Unsupported
from racker.adapters.bmc.interfaces import BmcTarget, Console, Driver, DriverOptions
from racker.adapters.bmc.ipmi.driver import IpmiDriver
from racker.errors import InputError


def test_ipmi_is_registered() -> None:
    assert "ipmi" in registry.names()
    driver = registry.create("ipmi", DriverOptions(timeout=3.0, retries=1))
    assert isinstance(driver, IpmiDriver)
    assert (driver.settings.timeout, driver.settings.retries) == (3.0, 1)


def test_unknown_driver_names_the_known_ones() -> None:
    with pytest.raises(InputError) as e:
        registry.create("redfish-someday")
    assert "unknown BMC driver 'redfish-someday'" in str(e.value)
    assert "ipmi" in str(e.value)


def test_register_a_driver() -> None:
    class Fake(IpmiDriver):
        pass

    seen: list[DriverOptions] = []

    def factory(options: DriverOptions) -> Driver:
        seen.append(options)
        return Fake()

    registry.register("fake-test", factory)
    try:
        driver: Driver = registry.create("fake-test", DriverOptions(timeout=3.0, retries=1))
        assert isinstance(driver, Fake)
        assert seen == [DriverOptions(timeout=3.0, retries=1)]
    finally:
        registry._FACTORIES.pop("fake-test")


class _NoSol(Console):
    """A protocol's handle that does not implement the serial console (a Redfish-only BMC)."""

    def __init__(self, target: BmcTarget) -> None:
        self._target = target

    @property
    def target(self) -> BmcTarget:
        return self._target


def test_serial_console_is_unsupported_by_default() -> None:
    target = BmcTarget(node="node-4", address="10.0.0.9", user="u", password="p")
    bmc = _NoSol(target)
    with pytest.raises(Unsupported) as e:
        asyncio.run(bmc.serial_console())
    assert str(e.value).startswith("node node-4: BMC 10.0.0.9: command not supported: serial")
    assert "password" not in repr(target)
