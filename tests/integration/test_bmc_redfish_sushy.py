"""The Redfish driver against sushy-tools' `sushy-emulator --fake` (HTTPS, Basic auth) on a
free loopback port: power, boot override set and read back, facts, TLS pinning."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from racker.adapters.bmc import registry
from racker.adapters.bmc.errors import (
    BmcAuthFailed,
    BmcCertificateChanged,
    BmcTlsFailed,
    RedfishUnreachable,
    Unsupported,
)
from racker.adapters.bmc.interfaces import BootTarget, DriverOptions, PowerState
from racker.adapters.bmc.redfish.driver import RedfishDriver, RedfishSettings
from racker.adapters.bmc.redfish.tls import PinStore
from tests.integration.sushyemu import Emulator, free_port, self_signed, start_emulator

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with start_emulator(tmp_path) as e:
        yield e


def settings(tmp_path: Path) -> RedfishSettings:
    return RedfishSettings(timeout=3.0, retries=1, backoff=0.1,
                           pins=PinStore.in_state_dir(tmp_path / "state"))


async def wait_power(bmc: Any, want: PowerState, seconds: float = 30.0) -> list[PowerState]:
    """sushy's fake driver applies a power change 1 to 11 s later: poll, bounded."""
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        seen.append(await bmc.power_status())
        if seen[-1] is want:
            return seen
        await asyncio.sleep(0.5)
    raise AssertionError(f"power never became {want}: {seen}")


def test_power_on_off_cycle_and_status(emu: Emulator, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as driver:
            bmc = await driver.open(emu.target())
            assert await bmc.power_status() is PowerState.OFF
            await bmc.power_on()
            await wait_power(bmc, PowerState.ON)
            await bmc.power_on()  # on again: no error (as IPMI)
            await bmc.power_cycle()  # ForceRestart: off at once, on again later
            await wait_power(bmc, PowerState.ON)
            await bmc.power_off()
            await wait_power(bmc, PowerState.OFF)
            assert driver.logins == 1  # one session for the whole run
    run(go())


def test_boot_override_pxe_then_disk_read_back(emu: Emulator, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as driver:
            bmc = await driver.open(emu.target())
            got = await bmc.set_boot_device(BootTarget.PXE, persistent=True, efi=True)
            assert (got.target, got.persistent, got.efi) == (BootTarget.PXE, True, True)
            assert (await bmc.get_boot_device()).target is BootTarget.PXE
            got = await bmc.set_boot_device(BootTarget.DISK, persistent=True, efi=False)
            assert (got.target, got.efi) == (BootTarget.DISK, False)
            assert got.raw == b"Hdd/Continuous/Legacy"
    run(go())


def test_boot_target_outside_allowable_values_is_refused(emu: Emulator, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as driver:
            bmc = await driver.open(emu.target())
            before = await bmc.get_boot_device()
            with pytest.raises(Unsupported, match="BootSourceOverrideTarget BiosSetup") as e:
                await bmc.set_boot_device(BootTarget.BIOS)
            assert "Pxe, Cd, Hdd" in str(e.value)
            assert await bmc.get_boot_device() == before
    run(go())


def test_facts_from_system_and_manager(emu: Emulator, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as driver:
            bmc = await driver.open(emu.target())
            facts = await bmc.facts()
            assert facts.manufacturer == "Sushy Emulator"
            assert facts.health == "OK"
            assert facts.power in ("On", "Off")
            assert len(facts.uuid) == 36
    run(go())


def test_bad_password_is_an_auth_error_naming_the_node(emu: Emulator, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as driver:
            await driver.open(emu.target(password="wrong"))
    with pytest.raises(BmcAuthFailed) as e:
        run(go())
    assert "node-rf" in str(e.value) and "wrong" not in str(e.value)


def test_nobody_listening_is_unreachable(tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as driver:
            from racker.adapters.bmc.interfaces import BmcTarget
            await driver.open(BmcTarget("node-x", "127.0.0.1", "u", "p", free_port()))
    with pytest.raises(RedfishUnreachable, match="node-x"):
        run(go())


def test_certificate_pinned_on_first_use_and_change_refused(tmp_path: Path) -> None:
    """The first certificate is pinned by the BMC's MAC; a BMC presenting another one is
    refused with both fingerprints and the command that accepts it; after that, it works."""
    pins = PinStore.in_state_dir(tmp_path / "state")
    port = free_port()
    first = tmp_path / "one"
    first.mkdir()
    with start_emulator(first, port=port) as emu:
        async def once() -> PowerState:
            async with RedfishDriver(settings(tmp_path)) as driver:
                return await (await driver.open(emu.target())).power_status()
        assert run(once()) is PowerState.OFF
    saved = json.loads((tmp_path / "state" / "bmc-certificates.json").read_text())
    pinned = saved["52:54:00:aa:bb:01"]["sha256"]
    assert len(pinned) == 95  # 32 bytes as colon-separated hex pairs
    second = tmp_path / "two"
    second.mkdir()
    cert, key = self_signed(second, "bmc-after-reset")
    with start_emulator(second, cert, key, port=port) as emu:
        with pytest.raises(BmcCertificateChanged) as e:
            run(once())
        text = str(e.value) + " " + (e.value.hint or "")
        assert pinned in text and "racker bmc trust-cert node-rf" in text
        assert "node-rf" in text and "52:54:00:aa:bb:01" in text
        assert pins.get("52:54:00:aa:bb:01").sha256 == pinned  # type: ignore[union-attr]
        pins.forget("52:54:00:aa:bb:01")  # what 'racker bmc trust-cert' does
        assert run(once()) is PowerState.OFF
        assert pins.get("52:54:00:aa:bb:01").sha256 != pinned  # type: ignore[union-attr]


def test_ca_bundle_verifies_instead_of_pinning(emu: Emulator, tmp_path: Path) -> None:
    """With a CA bundle the certificate is checked against it (names included) and nothing is
    pinned; a bundle that did not issue it is refused."""
    async def with_bundle(bundle: Path) -> PowerState:
        s = RedfishSettings(timeout=3.0, retries=0, ca_bundle=bundle)
        async with RedfishDriver(s) as driver:
            return await (await driver.open(emu.target())).power_status()
    other, _ = self_signed(tmp_path, "some-other-ca")
    with pytest.raises(BmcTlsFailed):
        run(with_bundle(other))
    # the emulator's certificate is for CN=bmc, not 127.0.0.1: a CA check refuses it as well
    with pytest.raises(BmcTlsFailed):
        run(with_bundle(emu.cert))
    assert not (tmp_path / "state").exists()


def test_ca_bundle_accepts_a_certificate_it_issued(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "site-issued", ip="127.0.0.1")
    with start_emulator(tmp_path, cert, key) as emu:
        async def go() -> PowerState:
            s = RedfishSettings(timeout=3.0, retries=0, ca_bundle=cert)
            async with RedfishDriver(s) as driver:
                return await (await driver.open(emu.target())).power_status()
        assert run(go()) is PowerState.OFF
    assert not (tmp_path / "state").exists()


def test_without_state_folder_or_bundle_nothing_is_trusted(emu: Emulator) -> None:
    async def go() -> None:
        async with RedfishDriver(RedfishSettings(timeout=2.0)) as driver:
            await driver.open(emu.target())
    with pytest.raises(BmcTlsFailed, match="no state folder"):
        run(go())


def test_registry_builds_the_redfish_driver(emu: Emulator, tmp_path: Path) -> None:
    async def go() -> PowerState:
        driver = registry.create("redfish", DriverOptions(timeout=3.0, retries=1,
                                                          state_dir=tmp_path / "state"))
        async with driver:  # type: ignore[attr-defined]
            return await (await driver.open(emu.target())).power_status()
    assert "redfish" in registry.names()
    assert run(go()) is PowerState.OFF
