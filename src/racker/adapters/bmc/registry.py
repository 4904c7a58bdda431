"""Pick a BMC driver by name. Drivers register a factory; no if/elif on strings."""

from __future__ import annotations

from collections.abc import Callable

from racker.adapters.bmc.interfaces import Driver
from racker.errors import InputError

DriverFactory = Callable[[], Driver]

_FACTORIES: dict[str, DriverFactory] = {}


def register(name: str, factory: DriverFactory) -> None:
    """Make `factory` available as driver `name` (later registrations replace earlier ones)."""
    _FACTORIES[name] = factory


def names() -> tuple[str, ...]:
    """The registered driver names, sorted."""
    return tuple(sorted(_FACTORIES))


def create(name: str) -> Driver:
    """A new driver instance of the kind registered as `name`."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InputError(f"unknown BMC driver '{name}'",
                         hint=f"known drivers: {', '.join(names()) or 'none'}")
    return factory()


def _ipmi() -> Driver:
    from racker.adapters.bmc.ipmi.driver import (
        IpmiDriver,  # late: pyghmi loads only when IPMI is used
    )

    return IpmiDriver()


register("ipmi", _ipmi)
