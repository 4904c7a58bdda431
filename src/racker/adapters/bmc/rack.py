"""Every BMC of one rack for one run: found by its MAC, reached through the driver of its
protocol with the rack's credentials, one session each until `aclose`.

This is the one way racker reaches BMCs. The engine (through `RackControl`), `racker status`,
the `ipmi` helper, `racker bmc rotate-credentials` and `racker pxe-boot` each get a `RackBmcs`
from the composition root (`racker.compose`); none of them builds a driver or a locator.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from racker.adapters.bmc.errors import BmcTimeout, BmcUnreachable
from racker.adapters.bmc.interfaces import Bmc, BmcTarget, Driver
from racker.adapters.bmc.locate import LocatedBmc
from racker.adapters.bmc.protocol import AUTO, IPMI, Protocols
from racker.core.macs import parse_mac
from racker.model import Credentials

IPMI_PORT = 623


@dataclass(frozen=True)
class BmcRef:
    """Which BMC: the node's name for messages, the BMC's MAC, and its planned address."""

    name: str
    bmc_mac: str
    planned_ip: str | None = None


class Locate(Protocol):
    """Finds a BMC's address by its MAC (blocking; `RackBmcs` runs it in a thread)."""

    def locate_bmc(self, bmc_mac: str, retry_sec: float, *, node: str | None = None,
                   planned_ip: str | None = None) -> LocatedBmc:
        """The BMC's address, or BmcError naming it after `retry_sec`."""
        ...


MakeDriver = Callable[[str], Driver]
"""A new driver for a protocol name (`racker.adapters.bmc.registry.create`)."""


ANSWER_RETRY_FIRST = 0.1
"""Seconds before a BMC that has its address but does not answer yet is tried again; the
pause doubles up to ANSWER_RETRY_MAX. NOTE: a BMC found the moment it took its lease often
does not answer for a few more milliseconds (its service binds once the address is set): a
fixed second held a 48-node rack's BMC check up by 0.8 s for 4 such BMCs."""
ANSWER_RETRY_MAX = 1.0


@dataclass
class RackBmcs:
    """The rack's BMCs: located, opened and pooled; one driver per protocol in use."""

    credentials: Credentials
    locator: Locate
    make_driver: MakeDriver
    retry_sec: float = 150.0
    """How long a BMC may take to be found and then to answer."""
    wait_for_answer: bool = True
    """Whether a BMC that is found but does not answer is tried again until `retry_sec`
    (a run waits for BMCs that are coming up; `racker status` reports them at once)."""
    protocols: Protocols = field(default_factory=Protocols)
    """Which protocol each BMC speaks (the rack setting, the record, a probe)."""
    warn: Callable[[str], None] = lambda _msg: None
    _drivers: dict[str, Driver] = field(default_factory=dict)
    _open: dict[str, Bmc] = field(default_factory=dict)
    _used: dict[str, str] = field(default_factory=dict)
    _locating: ThreadPoolExecutor | None = None

    def driver(self, protocol: str) -> Driver:
        """The driver of `protocol`, made on first use and closed by `aclose`."""
        d = self._drivers.get(protocol)
        if d is None:
            d = self._drivers[protocol] = self.make_driver(protocol)
        return d

    async def locate(self, ref: BmcRef, retry_sec: float | None = None) -> LocatedBmc:
        """The BMC's address (BmcError naming it when it is not found in time)."""
        loop = asyncio.get_running_loop()
        wait = self.retry_sec if retry_sec is None else retry_sec
        return await loop.run_in_executor(
            self._locator_threads(),
            lambda: self.locator.locate_bmc(ref.bmc_mac, wait, node=ref.name,
                                            planned_ip=ref.planned_ip))

    def target(self, ref: BmcRef, address: str, port: int = IPMI_PORT) -> BmcTarget:
        """Where and as whom to reach `ref` at `address`."""
        return BmcTarget(ref.name, address, self.credentials.user, self.credentials.password,
                         port, bmc_mac=ref.bmc_mac)

    def protocol(self, ref: BmcRef) -> str | None:
        """The protocol `ref` was reached over in this run, else the one recorded for it."""
        return self._used.get(ref.bmc_mac) or self.protocols.recorded(ref.bmc_mac)

    async def open(self, ref: BmcRef) -> Bmc:
        """A session to the BMC, proven by a power query; reused until `aclose`.

        A BMC answers DHCP before it answers its protocol (its address is configured, then its
        service binds): one that is found but does not answer is tried again for `retry_sec`.
        """
        bmc = self._open.get(ref.bmc_mac)
        if bmc is not None:
            return bmc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_sec
        pause = ANSWER_RETRY_FIRST
        while True:
            found = await self.locate(ref)
            try:
                protocol = await self.protocols.choose(ref.bmc_mac, found.ip)
                bmc = await self.driver(protocol).open(
                    self.target(ref, found.ip, self.protocols.port(protocol)))
                await bmc.power_status()
                break
            except (BmcUnreachable, BmcTimeout) as e:
                if not self.wait_for_answer or loop.time() >= deadline:
                    raise self._unanswered(ref, protocol, e) from None
                await asyncio.sleep(pause)
                pause = min(pause * 2, ANSWER_RETRY_MAX)
        if found.differs_from_plan:
            self.warn(f"{ref.name}: BMC {ref.bmc_mac} answers on {found.ip}, not on the planned "
                      f"{found.planned_ip} (its DHCP lease is older than racker's configuration; "
                      "it moves on renewal)")
        self._open[ref.bmc_mac] = bmc
        self._used[ref.bmc_mac] = protocol
        await asyncio.to_thread(self.protocols.remember, ref.bmc_mac, protocol)
        return bmc

    def _unanswered(self, ref: BmcRef, protocol: str,
                    e: BmcUnreachable | BmcTimeout) -> BmcUnreachable | BmcTimeout:
        """The error of a BMC that never answered; one whose protocol was guessed because
        Redfish did not answer either says so (it may be a Redfish BMC that is down)."""
        guessed = (self.protocols.setting == AUTO and protocol == IPMI
                   and self.protocols.recorded(ref.bmc_mac) is None)
        if not guessed or not isinstance(e, BmcUnreachable):
            return e
        return BmcUnreachable(e.node, e.address, f"{e.detail}; nor did https://{e.address}"
                              f"/redfish/v1 answer (RACKER_BMC_PROTOCOL=auto)", hint=e.hint)

    def opened(self, ref: BmcRef) -> Bmc | None:
        """The BMC's session if one is open already (never waits to find a BMC)."""
        return self._open.get(ref.bmc_mac)

    def _locator_threads(self) -> ThreadPoolExecutor:
        """Threads for lookups, which mostly wait: one per BMC of a 64-server rack at once
        (asyncio's default pool has 6 on a small management node)."""
        if self._locating is None:
            self._locating = ThreadPoolExecutor(max_workers=64,
                                                thread_name_prefix="racker-locate")
        return self._locating

    async def aclose(self) -> None:
        """Log out of every session and stop the lookup threads."""
        self._open.clear()
        drivers, self._drivers = list(self._drivers.values()), {}
        for d in drivers:
            await d.aclose()
        if self._locating is not None:
            self._locating.shutdown(wait=False, cancel_futures=True)
            self._locating = None

    async def __aenter__(self) -> RackBmcs:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class ByProtocol(Driver):
    """A driver over every protocol: each BMC is opened over the protocol it speaks (for use
    cases that take one `Driver` for a whole rack, such as the credential rotation).

    A target's BMC MAC (or, failing that, its node label when that is a MAC) keys the record;
    a target given with the IPMI port is reached on the Redfish port when it speaks Redfish.
    """

    def __init__(self, protocols: Protocols, make_driver: MakeDriver):
        self.protocols = protocols
        self._make = make_driver
        self._drivers: dict[str, Driver] = {}

    async def open(self, target: BmcTarget) -> Bmc:
        """`target` opened over its protocol."""
        mac = target.bmc_mac or parse_mac(target.node) or ""
        protocol = await self.protocols.choose(mac, target.address)
        driver = self._drivers.get(protocol)
        if driver is None:
            driver = self._drivers[protocol] = self._make(protocol)
        if target.port == IPMI_PORT:
            target = dataclasses.replace(target, port=self.protocols.port(protocol))
        # the MAC keys what racker knows of the BMC (its pinned certificate, its protocol)
        return await driver.open(dataclasses.replace(target, bmc_mac=mac))

    async def aclose(self) -> None:
        """Close every protocol's driver."""
        drivers, self._drivers = list(self._drivers.values()), {}
        for d in drivers:
            await d.aclose()
