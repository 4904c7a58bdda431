"""The IPMI driver against OpenIPMI's ipmi_sim, a real IPMI 2.0 lanplus peer on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from racker.adapters.bmc.errors import (
    BmcAuthFailed,
    BmcNoFreeSession,
    BmcTimeout,
    BmcUnreachable,
    BootFlagsNotKept,
)
from racker.adapters.bmc.interfaces import (
    BmcTarget,
    BmcUser,
    BootSetting,
    BootTarget,
    ChassisStatus,
    PowerState,
    Privilege,
    RawResponse,
)
from racker.adapters.bmc.ipmi import codec
from racker.adapters.bmc.ipmi.driver import BootReadback, IpmiDriver, IpmiSettings
from racker.core.hardware import guid_matches, guid_readings, guid_text
from tests.conftest import require_tool
from tests.integration.ipmisim import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    IpmiSim,
    random_loopback,
    start_ipmi_sim,
)

pytestmark = [pytest.mark.ipmi_sim]

FAST = IpmiSettings(timeout=1.0, retries=1, backoff=0.1, probe_timeout=0.6, max_workers=8,
                    session_wait=0.0)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[IpmiSim]:
    require_tool("ipmi_sim")
    require_tool("ipmitool")
    with start_ipmi_sim(tmp_path) as s:
        yield s


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_power_on_off_status_cycle(sim: IpmiSim) -> None:
    async def go() -> list[PowerState]:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            seen = [await bmc.power_status()]
            await bmc.power_on()
            seen.append(await bmc.power_status())
            assert sim.power == "1"
            await bmc.power_off()
            seen.append(await bmc.power_status())
            assert sim.power == "0"
            await bmc.power_cycle()
            # ipmi_sim powers off at once and on again after one second
            for _ in range(40):
                if sim.power == "1":
                    break
                await asyncio.sleep(0.1)
            seen.append(await bmc.power_status())
            return seen

    assert run(go()) == [PowerState.OFF, PowerState.ON, PowerState.OFF, PowerState.ON]
    log = (sim.workdir / "chassis" / "log").read_text().split("\n")
    assert log[:4] == ["power 1", "power 0", "power 0", "power 1"]
    assert "Chassis Power is on" in sim.ipmitool("power", "status").stdout


def test_chassis_status_matches_ipmitool(sim: IpmiSim) -> None:
    async def go() -> ChassisStatus:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            await bmc.power_on()
            return await bmc.chassis_status()

    status = run(go())
    out = sim.ipmitool("chassis", "status").stdout
    assert "System Power         : on" in out
    assert status.power is PowerState.ON
    assert ("Power Overload       : false" in out) == (not status.power_overload)
    assert "Drive Fault          : false" in out and not status.drive_fault


def test_boot_device_strict_readback_fails_loudly_when_flags_are_dropped(sim: IpmiSim) -> None:
    """ipmi_sim keeps only the device selector: persistent/EFI/valid read back as 0. A real BMC
    that drops the flags must make racker fail loudly, naming node, address and bytes."""
    async def go() -> None:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target(node="node-7"))
            await bmc.set_boot_device(BootTarget.PXE, persistent=True, efi=True)

    with pytest.raises(BootFlagsNotKept) as e:
        run(go())
    text = str(e.value)
    assert "node-7" in text and sim.address in text
    assert "wrote e004000000, read back 0004000000" in text
    assert "valid bit clear" in text and "persistent bit clear" in text
    # the device itself did reach the BMC
    assert sim.boot == "pxe"
    out = sim.ipmitool("chassis", "bootparam", "get", "5").stdout
    assert "Boot parameter data: 0004000000" in out and "Force PXE" in out


def test_boot_device_disk_and_pxe_with_device_readback(sim: IpmiSim) -> None:
    settings = IpmiSettings(timeout=1.0, retries=1, probe_timeout=0.6,
                            boot_readback=BootReadback.DEVICE)

    async def go() -> list[BootSetting]:
        async with IpmiDriver(settings) as driver:
            bmc = await driver.open(sim.target())
            disk = await bmc.set_boot_device(BootTarget.DISK, persistent=True, efi=False)
            got = await bmc.get_boot_device()
            pxe = await bmc.set_boot_device(BootTarget.PXE)
            return [disk, got, pxe]

    disk, got, pxe = run(go())
    assert disk.target is BootTarget.DISK and got.target is BootTarget.DISK
    assert pxe.target is BootTarget.PXE and pxe.raw == bytes.fromhex("0004000000")
    assert "Force PXE" in sim.ipmitool("chassis", "bootparam", "get", "5").stdout
    # ipmi_sim's chassis program saw default (disk) first, then pxe
    assert (sim.workdir / "chassis" / "log").read_text().split() == ["boot", "default",
                                                                      "boot", "pxe"]


def test_users_list_create_enable_disable(sim: IpmiSim) -> None:
    async def go() -> tuple[list[BmcUser], list[BmcUser]]:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            before = list(await bmc.list_users())
            await bmc.set_user_name(3, "operator2")
            await bmc.set_user_password(3, "N3w-pass-16chars")
            await bmc.set_user_access(3, Privilege.ADMINISTRATOR, callin=True,
                                      ipmi_messaging=True, link_auth=False)
            await bmc.enable_user(3)
            after = list(await bmc.list_users())
            return before, after

    before, after = run(go())
    by_uid = {u.uid: u for u in before}
    assert by_uid[2].name == "admin" and by_uid[2].privilege is Privilege.ADMINISTRATOR
    assert by_uid[3].name == "" and len(before) == 63
    new = next(u for u in after if u.uid == 3)
    assert new.name == "operator2" and new.privilege is Privilege.ADMINISTRATOR
    assert new.ipmi_messaging and new.callin
    # the new account really works, via a different client (16-character password)
    listing = sim.ipmitool("user", "list", "1", user="operator2",
                           password="N3w-pass-16chars")
    assert listing.returncode == 0, listing.stderr
    assert any(line.split()[:2] == ["3", "operator2"] for line in listing.stdout.splitlines())

    async def disable() -> None:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            await bmc.disable_user(3)

    run(disable())
    denied = sim.ipmitool("power", "status", user="operator2", password="N3w-pass-16chars")
    assert denied.returncode != 0


def test_raw_returns_completion_codes(sim: IpmiSim) -> None:
    async def go() -> list[RawResponse]:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            return [await bmc.raw(0x06, 0x01), await bmc.raw(0x00, 0x08, b"\x7f"),
                    await bmc.raw(0x32, 0x99)]

    device_id, bad_param, unknown = run(go())
    assert device_id.completion_code == 0 and device_id.data[0] == 0x00  # device id from cmds
    assert bad_param.completion_code == 0xCC
    assert unknown.completion_code == 0xC1
    assert codec.completion_code_kind(0x32, 0x99, unknown.completion_code)[0] is \
        codec.ErrorKind.UNSUPPORTED


def _active_sessions_seen_by_ipmitool(sim: IpmiSim) -> int:
    """Active sessions per Get Session Info, as a separate ipmitool session sees them
    (that session counts itself)."""
    out = sim.ipmitool("raw", "0x06", "0x3d", "0x00")
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[2], 16) & 0x3F


def test_session_is_reused_and_logged_out_on_close(sim: IpmiSim) -> None:
    assert _active_sessions_seen_by_ipmitool(sim) == 1

    async def go() -> tuple[int, int, int]:
        driver = IpmiDriver(FAST)
        bmc = await driver.open(sim.target())
        for _ in range(10):
            await bmc.chassis_status()
        await asyncio.gather(*(bmc.power_status() for _ in range(20)))
        _, active = await bmc.session_info()
        during = await asyncio.to_thread(_active_sessions_seen_by_ipmitool, sim)
        await driver.aclose()
        return driver.logins, active, during

    logins, active, during = run(go())
    assert logins == 1
    assert active == 1  # only racker's own session while it worked
    assert during == 2  # racker's session plus ipmitool's
    assert _active_sessions_seen_by_ipmitool(sim) == 1  # logged out on close


def test_close_of_handle_logs_out_and_next_open_logs_in_again(sim: IpmiSim) -> None:
    async def go() -> int:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            await bmc.close()
            bmc = await driver.open(sim.target())
            await bmc.power_status()
            return driver.logins

    assert run(go()) == 2


def test_wrong_password_is_an_authentication_error(sim: IpmiSim) -> None:
    async def go() -> None:
        async with IpmiDriver(FAST) as driver:
            await driver.open(sim.target(node="node-3", password="wrong-password"))

    start = time.monotonic()
    with pytest.raises(BmcAuthFailed) as e:
        run(go())
    assert time.monotonic() - start < FAST.timeout
    assert "node-3" in str(e.value) and sim.address in str(e.value)
    assert "wrong-password" not in str(e.value)


def test_nothing_listening_is_unreachable_at_once() -> None:
    address = random_loopback()

    async def go() -> None:
        async with IpmiDriver(FAST) as driver:
            await driver.open(_target(address, 9))

    start = time.monotonic()
    with pytest.raises(BmcUnreachable) as e:
        run(go())
    assert time.monotonic() - start < FAST.probe_timeout + 0.5
    assert address in str(e.value)


def test_silent_bmc_is_unreachable_within_the_probe_timeout() -> None:
    address = random_loopback()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((address, 0))

        async def go() -> None:
            async with IpmiDriver(FAST) as driver:
                await driver.open(_target(address, silent.getsockname()[1]))

        start = time.monotonic()
        with pytest.raises(BmcUnreachable, match="no answer within"):
            run(go())
        elapsed = time.monotonic() - start
    assert FAST.probe_timeout - 0.1 < elapsed < FAST.probe_timeout + 0.5


def test_bmc_that_stops_answering_times_out_within_the_configured_bound(sim: IpmiSim) -> None:
    async def go() -> None:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target(node="node-9"))
            await bmc.power_status()
            sim.proc.send_signal(signal.SIGSTOP)
            try:
                await bmc.power_status()
            finally:
                sim.proc.send_signal(signal.SIGCONT)

    start = time.monotonic()
    with pytest.raises(BmcTimeout) as e:
        run(go())
    elapsed = time.monotonic() - start
    bound = (FAST.retries + 1) * FAST.timeout + FAST.backoff + 1.0
    assert elapsed < bound
    assert "node-9" in str(e.value) and sim.address in str(e.value)
    assert "after 2 attempts of 1 s" in str(e.value)


def test_full_session_table_is_no_free_session_slot(sim: IpmiSim) -> None:
    """ipmi_sim has 63 session slots: fill them with ipmitool shells holding a session each."""
    env = codec.ipmitool_env(ADMIN_PASSWORD, os.environ)
    argv = codec.ipmitool_argv(sim.address, ADMIN_USER, ["shell"], port=sim.port)
    holders: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(64):
            p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
            holders.append(p)
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write(b"raw 0x06 0x3d 0x00\n")
            p.stdin.flush()
            answer = p.stdout.readline() + p.stdout.readline()
            if b"insufficient resources" in answer:
                break
        assert len(holders) == 64, "ipmi_sim should refuse the 64th session"

        async def go() -> None:
            async with IpmiDriver(FAST) as driver:
                await driver.open(sim.target(node="node-5"))

        start = time.monotonic()
        with pytest.raises(BmcNoFreeSession) as e:
            run(go())
        assert time.monotonic() - start < FAST.timeout
        assert "node-5" in str(e.value) and sim.address in str(e.value)
    finally:
        for p in holders:
            p.kill()
            p.wait(timeout=5)


def _target(address: str, port: int) -> BmcTarget:
    return BmcTarget(node="node-x", address=address, user="admin", password="x", port=port)


def _guid_printed_by_ipmitool(text: str) -> str:
    """The GUID of `ipmitool mc guid` (`System GUID  : 67452301-...`), lower case."""
    line = next(x for x in text.splitlines() if x.strip().startswith("System GUID"))
    return line.split(":", 1)[1].strip().lower()


def test_system_guid_is_read_and_decoded_as_ipmitool_decodes_it(sim: IpmiSim) -> None:
    """ipmi_sim's GUID (lan.conf `guid`): racker reads the 16 bytes as sent; each of its
    readings is what `ipmitool mc guid MODE` prints for the same BMC."""
    async def go() -> bytes:
        async with IpmiDriver(FAST) as driver:
            bmc = await driver.open(sim.target())
            return await bmc.system_guid()

    guid = run(go())
    assert guid == bytes.fromhex("a123456789abcdefa123456789abcdef")
    readings = guid_readings(guid)
    for mode in ("smbios", "ipmi"):
        out = sim.ipmitool("mc", "guid", mode)
        assert out.returncode == 0, out.stderr
        assert _guid_printed_by_ipmitool(out.stdout) == readings[mode]
        assert guid_matches(guid, readings[mode])
    # NOTE: ipmitool 1.8.19's `rfc4122` mode decodes as `ipmi`; its `dump` shows the bytes
    dump = sim.ipmitool("mc", "guid", "dump")
    assert str(uuid.UUID(hex=_guid_printed_by_ipmitool(dump.stdout))) == readings["rfc4122"]
    auto = sim.ipmitool("mc", "guid")
    assert _guid_printed_by_ipmitool(auto.stdout) == guid_text(guid)  # both pick `ipmi`
