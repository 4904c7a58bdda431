"""BMC drivers by protocol name. Each protocol registers a factory; no if/elif on strings.

Adding a protocol is one adapter folder beside `ipmi/` and one `register` line below.
"""

from __future__ import annotations

from collections.abc import Callable

from racker.adapters.bmc.interfaces import Driver, DriverOptions
from racker.errors import InputError

DriverFactory = Callable[[DriverOptions], Driver]

_FACTORIES: dict[str, DriverFactory] = {}


def register(name: str, factory: DriverFactory) -> None:
    """Make `factory` available as driver `name` (later registrations replace earlier ones)."""
    _FACTORIES[name] = factory


def names() -> tuple[str, ...]:
    """The registered driver names, sorted."""
    return tuple(sorted(_FACTORIES))


def create(name: str, options: DriverOptions | None = None) -> Driver:
    """A new driver of the protocol registered as `name`."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InputError(f"unknown BMC driver '{name}'",
                         hint=f"known drivers: {', '.join(names()) or 'none'}")
    return factory(options or DriverOptions())


def _ipmi(options: DriverOptions) -> Driver:
    from racker.adapters.bmc.ipmi.driver import (  # late: pyghmi loads only when IPMI is used
        IpmiDriver,
        IpmiSettings,
    )

    return IpmiDriver(IpmiSettings(timeout=options.timeout, retries=options.retries))


register("ipmi", _ipmi)


def _redfish(options: DriverOptions) -> Driver:
    from racker.adapters.bmc.redfish.driver import (  # late: sushy loads only when used
        RedfishDriver,
        RedfishSettings,
    )
    from racker.adapters.bmc.redfish.tls import PinStore

    pins = None if options.state_dir is None else PinStore.in_state_dir(options.state_dir)
    return RedfishDriver(RedfishSettings(timeout=options.timeout, retries=options.retries,
                                         pins=pins, ca_bundle=options.ca_bundle))


register("redfish", _redfish)
