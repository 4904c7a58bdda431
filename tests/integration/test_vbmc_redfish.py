"""The simulator's virtual BMC speaking Redfish over HTTPS on loopback, driven by clients
nobody here wrote (sushy, DMTF's redfishtool, curl) and by racker's driver; its state is the
same as its IPMI side's (pyghmi through racker's IPMI driver)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sushy

from racker.adapters.bmc.errors import BmcAuthFailed, BmcCertificateChanged, BmcTimeout
from racker.adapters.bmc.interfaces import BmcTarget, BootTarget, PowerState
from racker.adapters.bmc.ipmi.driver import IpmiDriver, IpmiSettings
from racker.adapters.bmc.redfish.driver import RedfishDriver, RedfishSettings
from racker.adapters.bmc.redfish.tls import PinStore
from racker.core.hardware import guid_matches
from racker.sim.vbmc.chassis import BootDevice, MemoryChassis
from racker.sim.vbmc.redfish.server import RedfishServer, bind_tcp, serve_redfish
from racker.sim.vbmc.server import BmcRunner, VirtualBmc
from tests.conftest import require_tool
from tests.integration.ipmisim import random_loopback

USER, PASSWORD = "admin", "sim-Redfish-1"
MAC = "02:00:00:00:01:07"


@dataclass
class Sim:
    bmc: VirtualBmc
    redfish: RedfishServer
    runner: BmcRunner
    chassis: MemoryChassis
    address: str

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.redfish.port}"

    def target(self, password: str = PASSWORD) -> BmcTarget:
        return BmcTarget("node7", self.address, USER, password, self.redfish.port, bmc_mac=MAC)


def start(settings_only: bool = False) -> tuple[BmcRunner, VirtualBmc, RedfishServer,
                                                 MemoryChassis, str]:
    address = random_loopback()
    runner = BmcRunner().start()
    chassis = MemoryChassis()
    bmc = VirtualBmc(chassis, address=address, port=0, user=USER, password=PASSWORD,
                     name="node7").start(runner)
    redfish = runner.call(serve_redfish(bmc, bind_tcp(address, 0), settings_only=settings_only))
    return runner, bmc, redfish, chassis, address


@pytest.fixture
def sim() -> Iterator[Sim]:
    runner, bmc, redfish, chassis, address = start()
    try:
        yield Sim(bmc, redfish, runner, chassis, address)
    finally:
        runner.call(redfish.astop())
        bmc.stop()
        runner.stop()


def settings(tmp_path: Path) -> RedfishSettings:
    return RedfishSettings(timeout=2.0, retries=1, backoff=0.1,
                           pins=PinStore.in_state_dir(tmp_path / "state"))


def test_racker_driver_over_a_session_shares_state_with_ipmi(sim: Sim, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as rf, \
                IpmiDriver(IpmiSettings(timeout=2.0, retries=1)) as ipmi:
            bmc = await rf.open(sim.target())
            assert await bmc.uses_session()
            assert len(sim.redfish.model.sessions) == 1
            await bmc.power_off()
            got = await bmc.set_boot_device(BootTarget.PXE, persistent=True, efi=True)
            assert (got.target, got.persistent, got.efi) == (BootTarget.PXE, True, True)
            other = await ipmi.open(BmcTarget("node7", sim.address, USER, PASSWORD,
                                              sim.bmc.port))
            seen = await other.get_boot_device()  # the IPMI side reads what Redfish wrote
            assert (seen.target, seen.persistent, seen.efi) == (BootTarget.PXE, True, True)
            await bmc.power_on()
            assert sim.chassis.powered_on and sim.chassis.last_boot is not None
            assert sim.chassis.last_boot.device is BootDevice.PXE
            await other.power_off()  # and the Redfish side sees what IPMI did
            assert await bmc.power_status() is PowerState.OFF
            facts = await bmc.facts()
            assert facts.serial == "SIM-node7" and facts.bmc_firmware.startswith("racker-sim")
            assert any("reset On" in line for line in facts.log_tail)
        assert sim.redfish.model.sessions == {}  # the session was deleted at the end
    asyncio.run(go())


def test_accounts_through_the_account_service(sim: Sim, tmp_path: Path) -> None:
    async def go() -> None:
        async with RedfishDriver(settings(tmp_path)) as rf:
            bmc = await rf.open(sim.target())
            users = await bmc.list_users()
            assert [(u.uid, u.name) for u in users[:2]] == [(2, USER), (3, "")]
            await bmc.set_user_name(3, "racker2")
            await bmc.set_user_password(3, "N3w-password")
            await bmc.enable_user(3)
            proof = await rf.open(BmcTarget("node7", sim.address, "racker2", "N3w-password",
                                            sim.redfish.port, bmc_mac=MAC))
            assert await proof.power_status() is PowerState.OFF
    asyncio.run(go())


def test_sushy_drives_it(sim: Sim) -> None:
    auth = sushy.auth.SessionOrBasicAuth(username=USER, password=PASSWORD)
    root = sushy.Sushy(f"{sim.url}/redfish/v1", auth=auth, verify=False)
    assert auth.get_session_resource_id()  # sushy logged in with a Redfish session
    system = root.get_system(sorted(root.get_system_collection().members_identities)[0])
    assert not system.path.endswith("/Systems/1")  # the ID is the system's UUID
    system.reset_system(sushy.ResetType.ON)
    system.set_system_boot_options(sushy.BootSource.HDD,
                                   enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS,
                                   mode=sushy.BootSourceOverrideMode.LEGACY)
    system.refresh()
    assert system.power_state == sushy.PowerState.ON
    assert (system.boot.target, system.boot.mode) == (sushy.BootSource.HDD,
                                                      sushy.BootSourceOverrideMode.LEGACY)
    assert sim.chassis.powered_on
    auth.close()
    assert sim.redfish.model.sessions == {}


def test_redfishtool_reads_and_resets(sim: Sim, tmp_path: Path) -> None:
    tool = Path(sys.executable).parent / "redfishtool"
    config = tmp_path / "rft.json"
    config.write_text(json.dumps({"user": USER, "password": PASSWORD}))
    config.chmod(0o600)
    base = [str(tool), "-r", f"{sim.address}:{sim.redfish.port}", "-c", str(config),
            "-S", "Always", "-A", "Session", "-T", "5"]
    out = subprocess.run([*base, "Systems", "-F", "get"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["PowerState"] == "Off"
    out = subprocess.run([*base, "Systems", "-F", "reset", "On"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sim.chassis.powered_on
    out = subprocess.run([*base, "AccountService", "Accounts", "-a"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0 and USER in out.stdout, out.stderr


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sk", "--max-time", "10", *args], capture_output=True,
                          text=True, timeout=30, check=False)


def test_curl_sessions_and_etags(sim: Sim, tmp_path: Path) -> None:
    require_tool("curl")
    headers = tmp_path / "h"
    login = curl("-D", str(headers), "-H", "Content-Type: application/json", "-d",
                 json.dumps({"UserName": USER, "Password": PASSWORD}),
                 f"{sim.url}/redfish/v1/SessionService/Sessions")
    assert login.returncode == 0, login.stderr
    head = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in
                                                 headers.read_text().splitlines()[1:])}
    token, location = head["x-auth-token"], head["location"]
    system = f"/redfish/v1/Systems/{sim.bmc.guid}"
    got = curl("-D", str(headers), "-H", f"X-Auth-Token: {token}", sim.url + system)
    tag = next(v for k, _, v in (line.partition(":") for line in
                                 headers.read_text().splitlines()) if k.lower() == "etag")
    assert json.loads(got.stdout)["Id"] == str(sim.bmc.guid)
    patch = ["-X", "PATCH", "-H", f"X-Auth-Token: {token}", "-H",
             "Content-Type: application/json", "-w", "%{http_code}", "-o", "/dev/null",
             "-d", json.dumps({"Boot": {"BootSourceOverrideTarget": "Pxe"}})]
    assert curl(*patch, "-H", 'If-Match: W/"stale"', sim.url + system).stdout == "412"
    assert curl(*patch, "-H", f"If-Match: {tag.strip()}", sim.url + system).stdout == "204"
    assert curl("-w", "%{http_code}", "-o", "/dev/null", sim.url + system).stdout == "401"
    bye = curl("-X", "DELETE", "-H", f"X-Auth-Token: {token}", "-w", "%{http_code}",
               sim.url + location)
    assert bye.stdout.endswith("204")
    after = curl("-w", "%{http_code}", "-o", "/dev/null", "-H", f"X-Auth-Token: {token}",
                 sim.url + system)
    assert after.stdout == "401"


def test_settings_only_bmc_takes_the_override_through_settings(tmp_path: Path) -> None:
    runner, bmc, redfish, chassis, address = start(settings_only=True)
    try:
        async def go() -> None:
            async with RedfishDriver(settings(tmp_path)) as rf:
                h = await rf.open(BmcTarget("node7", address, USER, PASSWORD, redfish.port,
                                            bmc_mac=MAC))
                got = await h.set_boot_device(BootTarget.DISK, persistent=True, efi=True)
                assert got.target is BootTarget.DISK  # read back from the pending settings
                assert bmc.boot.pending is not None
                await h.power_on()  # the pending override applies at power-up
                assert chassis.last_boot is not None
                assert chassis.last_boot.device is BootDevice.DISK
        asyncio.run(go())
    finally:
        runner.call(redfish.astop())
        bmc.stop()
        runner.stop()


def test_cert_changed_and_down_faults(sim: Sim, tmp_path: Path) -> None:
    async def power() -> PowerState:
        async with RedfishDriver(settings(tmp_path)) as rf:
            return await (await rf.open(sim.target())).power_status()
    assert asyncio.run(power()) is PowerState.OFF
    sim.redfish.rotate_cert()
    with pytest.raises(BmcCertificateChanged, match="racker bmc trust-cert node7"):
        asyncio.run(power())
    PinStore.in_state_dir(tmp_path / "state").forget(MAC)
    assert asyncio.run(power()) is PowerState.OFF
    sim.bmc.faults.drop = True
    with pytest.raises(BmcTimeout, match="node7"):
        asyncio.run(power())


def test_rotate_credentials_over_redfish(sim: Sim, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`racker bmc rotate-credentials` on a Redfish BMC: the new account through the
    AccountService, proven with a session as it, then the files switched."""
    from racker.cli import cmd_bmc

    oem = tmp_path / "oem"
    oem.mkdir()
    (oem / "ipmi_user").write_text(USER + "\n")
    (oem / "ipmi_password").write_text(PASSWORD + "\n")
    (oem / "ipmi_password").chmod(0o600)
    new_password = tmp_path / "new"
    new_password.write_text("Rotated-pw-9\n")
    new_password.chmod(0o600)
    env = {"RACKER_OEM_DIR": str(oem), "RACKER_STATE_DIR": str(tmp_path / "state"),
           "RACKER_BMC_PROTOCOL": "redfish"}
    rc = cmd_bmc.run(["rotate-credentials", "racker2", "--password-file", str(new_password),
                      "--disable-old", "--bmc-address",
                      f"{MAC}={sim.address}:{sim.redfish.port}"], env=env)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (oem / "ipmi_user").read_text() == "racker2\n"
    slots = sim.bmc.users.slots
    new = next(u for u in slots.values() if u.name == b"racker2")
    assert new.password == b"Rotated-pw-9" and new.enabled
    assert not slots[2].enabled  # the old account, disabled
    assert "Rotated-pw-9" not in out and PASSWORD not in out
    assert set(PinStore.in_state_dir(tmp_path / "state").all()) == {MAC}  # pinned by its MAC

    async def as_new() -> PowerState:
        async with RedfishDriver(settings(tmp_path)) as rf:
            return await (await rf.open(BmcTarget(
                "node7", sim.address, "racker2", "Rotated-pw-9", sim.redfish.port,
                bmc_mac=MAC))).power_status()
    assert asyncio.run(as_new()) is PowerState.OFF


def test_bad_credentials_and_slow_faults(sim: Sim, tmp_path: Path) -> None:
    async def power() -> PowerState:
        async with RedfishDriver(settings(tmp_path)) as rf:
            return await (await rf.open(sim.target())).power_status()
    sim.bmc.faults.reject_auth = True  # bmc-bad-credentials
    with pytest.raises(BmcAuthFailed, match="node7"):
        asyncio.run(power())
    sim.bmc.faults.reject_auth = False
    sim.bmc.faults.delay = 0.3  # bmc-slow: slower, still within the timeouts
    assert asyncio.run(power()) is PowerState.OFF
    sim.bmc.faults.delay = 2.5  # slower than a request may take (2 s): a timeout naming it
    with pytest.raises(BmcTimeout, match="node7"):
        asyncio.run(power())


def test_serial_console_only_where_the_bmc_also_speaks_ipmi(sim: Sim, tmp_path: Path) -> None:
    """The ipmi helper's check before a serial console on a Redfish BMC: a real RMCP ping of
    the BMC's IPMI side, which a Redfish-only BMC (IPMI over LAN off) does not answer."""
    from racker.compose.rack import helper_redfish
    from racker.core import ipmitool
    from racker.model import Credentials
    from racker.paths import Paths

    env = {"RACKER_STATE_DIR": str(tmp_path / "state"), "RACKER_BMC_PROTOCOL": "redfish"}
    bmcs = helper_redfish(Paths.from_env(env), Credentials(USER, PASSWORD), env)
    bmcs.protocols.ports = {**bmcs.protocols.ports, "ipmi": sim.bmc.port}  # not 623 here
    assert bmcs.protocol(MAC, sim.address) == "redfish"
    assert bmcs.has_sol(sim.address)  # both: SOL over its IPMI side
    sim.bmc.lan_enabled = False  # Redfish only
    assert not bmcs.has_sol(sim.address)
    assert "speaks Redfish only" in ipmitool.no_sol_error("02:00:00:00:00:07").message


def test_system_uuid_over_redfish_is_the_ipmi_guid(sim: Sim, tmp_path: Path) -> None:
    """The Redfish System's `UUID` and IPMI's Get System GUID name the same server, the one
    the simulator gives the BMC (its node's SMBIOS UUID)."""
    async def go() -> tuple[bytes, bytes]:
        async with RedfishDriver(settings(tmp_path)) as rf, \
                IpmiDriver(IpmiSettings(timeout=2.0, retries=1)) as ipmi:
            over_redfish = await (await rf.open(sim.target())).system_guid()
            over_ipmi = await (await ipmi.open(BmcTarget("node7", sim.address, USER, PASSWORD,
                                                         sim.bmc.port))).system_guid()
            return over_redfish, over_ipmi

    over_redfish, over_ipmi = asyncio.run(go())
    assert guid_matches(over_redfish, str(sim.bmc.guid))
    assert guid_matches(over_ipmi, str(sim.bmc.guid))
    assert over_redfish == sim.bmc.guid.bytes and over_ipmi == sim.bmc.guid.bytes_le
