"""The virtual BMC driven by the real `ipmitool -I lanplus` (and pyghmi's client) on loopback."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from racker.sim.nodes.hardware import smbios_uuid
from racker.sim.vbmc.chassis import BootDevice, BootRequest, MemoryChassis, PowerAction
from racker.sim.vbmc.server import BmcRunner, VirtualBmc, bind_udp_in_netns, serve
from tests.conftest import require_root, require_tool

USER, PASSWORD = "admin", "s3cret-pw"


@pytest.fixture(scope="module")
def runner() -> Iterator[BmcRunner]:
    with BmcRunner() as r:
        yield r


@pytest.fixture
def chassis() -> MemoryChassis:
    return MemoryChassis()


@pytest.fixture
def bmc(runner: BmcRunner, chassis: MemoryChassis) -> Iterator[VirtualBmc]:
    require_tool("ipmitool")
    b = serve("127.0.0.1", 0, USER, PASSWORD, chassis, runner=runner)
    yield b
    b.stop()


def ipmitool(bmc: VirtualBmc, *args: str, user: str = USER, password: str = PASSWORD,
             timeout: float = 30, options: tuple[str, ...] = ()
             ) -> subprocess.CompletedProcess[str]:
    """Run ipmitool against `bmc` with the password in the environment (-E), never in argv."""
    cmd = ["ipmitool", "-I", "lanplus", "-C3", "-H", bmc.address, "-p", str(bmc.port),
           "-U", user, "-E", *options, *args]
    env = dict(os.environ, IPMI_PASSWORD=password)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def ok(bmc: VirtualBmc, *args: str, **kw: object) -> str:
    r = ipmitool(bmc, *args, **kw)  # type: ignore[arg-type]
    assert r.returncode == 0, f"ipmitool {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def spawn(bmc: VirtualBmc, *args: str) -> pexpect.spawn:
    cmd = ["-I", "lanplus", "-C3", "-H", bmc.address, "-p", str(bmc.port), "-U", USER, "-E",
           *args]
    return pexpect.spawn("ipmitool", cmd, env=dict(os.environ, IPMI_PASSWORD=PASSWORD),
                         timeout=15)


def raw_bytes(out: str) -> list[int]:
    return [int(x, 16) for x in out.split()]


def test_chassis_status_and_power(bmc: VirtualBmc, chassis: MemoryChassis) -> None:
    status = ok(bmc, "chassis", "status")
    assert "System Power         : off" in status
    assert "Power Restore Policy : always-off" in status
    assert "Chassis Power Control: Up/On" in ok(bmc, "power", "on")
    assert chassis.powered_on and chassis.actions == [PowerAction.ON]
    assert ok(bmc, "power", "status").strip() == "Chassis Power is on"
    status = ok(bmc, "chassis", "status")
    assert "System Power         : on" in status
    assert "Last Power Event     : command" in status
    ok(bmc, "power", "reset")
    ok(bmc, "power", "off")
    assert ok(bmc, "power", "status").strip() == "Chassis Power is off"
    # like the spec recommends, a power cycle of a chassis that is off is refused
    r = ipmitool(bmc, "power", "cycle")
    assert r.returncode != 0
    assert "Cycle failed: Command not supported in present state" in r.stderr
    assert chassis.actions == [PowerAction.ON, PowerAction.RESET, PowerAction.OFF]


def test_bootdev_pxe_persistent_efi(bmc: VirtualBmc, chassis: MemoryChassis) -> None:
    ok(bmc, "chassis", "bootdev", "pxe", "options=persistent,efiboot")
    out = ok(bmc, "chassis", "bootparam", "get", "5")
    for line in ("Boot parameter data: e004000000", "- Boot Flag Valid",
                 "- Options apply to all future boots", "- BIOS EFI boot",
                 "- Boot Device Selector : Force PXE"):
        assert line in out
    ok(bmc, "power", "on")
    assert chassis.last_boot == BootRequest(BootDevice.PXE, efi=True, persistent=True)
    # persistent flags survive the power-up
    assert raw_bytes(ok(bmc, "raw", "0x00", "0x09", "0x05", "0x00", "0x00")) == \
        [0x01, 0x05, 0xE0, 0x04, 0, 0, 0]


def test_raw_boot_option_bytes_read_back(bmc: VirtualBmc) -> None:
    ok(bmc, "raw", "0x0", "0x8", "0x3", "0x1f")
    ok(bmc, "raw", "0x00", "0x08", "0x05", "0xe0", "0x04", "0x00", "0x00", "0x00")
    assert raw_bytes(ok(bmc, "raw", "0x00", "0x09", "0x05", "0x00", "0x00")) == \
        [0x01, 0x05, 0xE0, 0x04, 0, 0, 0]
    assert raw_bytes(ok(bmc, "raw", "0x00", "0x09", "0x03", "0x00", "0x00")) == [0x01, 0x03, 0x1F]
    ok(bmc, "raw", "0x00", "0x08", "0x05", "0xe0", "0x08", "0x00", "0x00", "0x00")
    assert "Force Boot from default Hard-Drive" in ok(bmc, "chassis", "bootparam", "get", "5")
    # a wrong length is refused with C7h (request data length invalid)
    r = ipmitool(bmc, "raw", "0x00", "0x08", "0x05", "0xe0", "0x04")
    assert r.returncode != 0 and "rsp=0xc7" in r.stderr


@pytest.mark.slow
def test_valid_bit_cleared_after_timer_unless_param3(runner: BmcRunner) -> None:
    require_tool("ipmitool")
    with serve("127.0.0.1", 0, USER, PASSWORD, MemoryChassis(), runner=runner,
               boot_valid_timeout=2.0) as b:
        pxe = ("raw", "0x00", "0x08", "0x05", "0xe0", "0x04", "0x00", "0x00", "0x00")
        get5 = ("raw", "0x00", "0x09", "0x05", "0x00", "0x00")
        ok(b, *pxe)
        assert raw_bytes(ok(b, *get5))[2] == 0xE0
        time.sleep(2.2)
        assert raw_bytes(ok(b, *get5))[2] == 0x60, "valid bit must clear after the timer"
        ok(b, "raw", "0x0", "0x8", "0x3", "0x1f")
        ok(b, *pxe)
        time.sleep(2.2)
        assert raw_bytes(ok(b, *get5))[2] == 0xE0, "param 3 = 0x1f keeps the valid bit"


def test_one_time_boot_flags_consumed_on_power_up(bmc: VirtualBmc, chassis: MemoryChassis) -> None:
    ok(bmc, "raw", "0x00", "0x08", "0x05", "0x80", "0x04", "0x00", "0x00", "0x00")
    ok(bmc, "power", "on")
    assert chassis.last_boot == BootRequest(BootDevice.PXE)
    assert raw_bytes(ok(bmc, "raw", "0x00", "0x09", "0x05", "0x00", "0x00"))[2] == 0x00
    ok(bmc, "power", "reset")
    assert chassis.last_boot == BootRequest(BootDevice.NONE)


def test_boot_flag_faults_show_in_read_back(bmc: VirtualBmc, chassis: MemoryChassis) -> None:
    bmc.faults.ignore_boot_flags = True
    ok(bmc, "chassis", "bootdev", "pxe", "options=persistent,efiboot")  # acknowledged...
    assert "Boot Flag Invalid" in ok(bmc, "chassis", "bootparam", "get", "5")  # ...not kept
    bmc.faults.ignore_boot_flags = False
    bmc.faults.lose_boot_flags = True
    ok(bmc, "chassis", "bootdev", "pxe", "options=persistent,efiboot")
    ok(bmc, "power", "on")
    assert chassis.last_boot == BootRequest(BootDevice.NONE)
    assert "Boot Flag Invalid" in ok(bmc, "chassis", "bootparam", "get", "5")


def test_unknown_raw_command_is_c1(bmc: VirtualBmc) -> None:
    for cmd in (("0x06", "0x99"), ("0x30", "0x01"), ("0x00", "0x55")):
        r = ipmitool(bmc, "raw", *cmd)
        assert r.returncode == 1
        assert "rsp=0xc1): Invalid command" in r.stderr


def test_user_slots_and_login_as_new_user(bmc: VirtualBmc) -> None:
    listing = ok(bmc, "user", "list", "1")
    assert any(line.split()[:2] == ["2", "admin"] and "ADMINISTRATOR" in line
               for line in listing.splitlines())
    ok(bmc, "user", "set", "name", "3", "foo")
    ok(bmc, "user", "set", "password", "3", "pw-of-foo")
    r = ipmitool(bmc, "power", "status", user="foo", password="pw-of-foo")
    assert r.returncode != 0, "a user without enable and channel access must not log in"
    ok(bmc, "user", "enable", "3")
    ok(bmc, "channel", "setaccess", "1", "3", "callin=on", "ipmi=on", "link=on", "privilege=4")
    row = next(line for line in ok(bmc, "user", "list", "1").splitlines()
               if line.split()[:2] == ["3", "foo"])
    assert row.split()[2:] == ["true", "true", "true", "ADMINISTRATOR"]
    assert "Success" in ok(bmc, "user", "test", "3", "16", "pw-of-foo")
    assert ipmitool(bmc, "user", "test", "3", "16", "wrong").returncode != 0
    assert ok(bmc, "power", "status", user="foo", password="pw-of-foo").strip() == \
        "Chassis Power is off"
    assert ipmitool(bmc, "power", "status", user="foo", password="wrong").returncode != 0
    # authentication follows the table: a changed password takes effect at once
    ok(bmc, "user", "set", "password", "2", "new-admin-pw")
    assert ipmitool(bmc, "power", "status").returncode != 0
    ok(bmc, "power", "status", password="new-admin-pw")
    ok(bmc, "user", "disable", "3", password="new-admin-pw")
    assert ipmitool(bmc, "power", "status", user="foo", password="pw-of-foo").returncode != 0


def test_documented_credential_rotation_procedure(bmc: VirtualBmc) -> None:
    """The reference's 'IPMI Credentials' guide, step by step, as `ipmi --all` would run it."""
    listing = ok(bmc, "user", "list")  # no channel: ipmitool finds the LAN channel itself
    old = next(line.split()[0] for line in listing.splitlines() if USER in line.split())
    assert old == "2"
    new = next(line.split()[0] for line in listing.splitlines()[1:]
               if line.split()[1] == "true" and line.split()[0] not in ("1", old))
    ok(bmc, "user", "set", "name", new, "rotated")
    ok(bmc, "user", "set", "password", new, "rotated-pw")
    ok(bmc, "user", "enable", new)
    ok(bmc, "user", "priv", new, "4")
    ok(bmc, "channel", "setaccess", "1", new, "callin=on", "ipmi=on", "link=off", "privilege=4")
    assert ok(bmc, "power", "status", user="rotated", password="rotated-pw").strip() == \
        "Chassis Power is off"
    ok(bmc, "user", "disable", old, user="rotated", password="rotated-pw")
    assert ipmitool(bmc, "power", "status").returncode != 0
    ok(bmc, "raw", "0x6", "0x45", hex(int(old)), *["0xff"] * 16, user="rotated",
       password="rotated-pw")
    rows = ok(bmc, "user", "list", "1", user="rotated", password="rotated-pw").splitlines()
    assert rows[int(old)].split() == [old, "true", "false", "false", "NO", "ACCESS"]


def test_sol_both_ways_and_dangling_deactivate(bmc: VirtualBmc, chassis: MemoryChassis) -> None:
    console = spawn(bmc, "sol", "activate")
    try:
        console.expect_exact("[SOL Session operational.")
        banner = b"Flatcar Container Linux login: " * 20  # more than one SOL packet
        assert chassis.emit_console(banner)
        console.expect_exact(banner.decode())
        console.send("root\r")
        deadline = time.monotonic() + 10
        while b"root\r" not in chassis.console_received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bytes(chassis.console_received) == b"root\r"
        # a second console is refused while the first holds SOL
        r = ipmitool(bmc, "sol", "activate")
        assert r.returncode != 0 and "already active on another session" in r.stderr
        # the first console dangles: another client deactivates it
        assert ipmitool(bmc, "sol", "deactivate").returncode == 0
        assert not chassis.emit_console(b"lost")
        assert "already de-activated" in ipmitool(bmc, "sol", "deactivate").stderr
    finally:
        console.terminate(force=True)
    again = spawn(bmc, "sol", "activate")
    try:
        again.expect_exact("[SOL Session operational.")
        chassis.emit_console(b"second console\r\n")
        again.expect_exact("second console")
        again.send("\r~.")
        again.expect(pexpect.EOF)
    finally:
        again.terminate(force=True)
    assert bmc.engine is not None and bmc.engine.sol is None


@pytest.mark.slow
def test_session_limit_and_idle_timeout(runner: BmcRunner) -> None:
    require_tool("ipmitool")
    with serve("127.0.0.1", 0, USER, PASSWORD, MemoryChassis(), runner=runner,
               session_limit=4, session_timeout=3.0) as b:
        shells = []
        try:
            for _ in range(4):
                shell = spawn(b, "shell")
                shell.expect_exact("ipmitool>")
                shell.sendline("power status")
                shell.expect_exact("Chassis Power is off")
                shells.append(shell)
            for shell in shells:  # activity keeps the sessions alive
                shell.sendline("power status")
                shell.expect_exact("Chassis Power is off")
            assert b.session_count() == 4
            r = ipmitool(b, "power", "status")
            assert r.returncode != 0
            assert "insufficient resources for session" in r.stderr
        finally:
            for shell in shells:  # killed, so no session is closed: they must time out
                shell.kill(signal.SIGKILL)
                shell.close(force=True)
        time.sleep(3.3)
        assert ok(b, "power", "status").strip() == "Chassis Power is off"
        assert b.session_count() == 0, "ipmitool closes its session on exit"


FAULTS = {
    "drop": ("drop", True, "Unable to establish IPMI v2 / RMCP+ session"),
    "slow": ("delay", 3.0, ""),
    "wrong_credentials": ("reject_auth", True, "Unable to establish IPMI v2 / RMCP+ session"),
    "no_free_session": ("no_session", True, "insufficient resources for session"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_in_bounded_time_while_other_bmc_answers(runner: BmcRunner,
                                                             fault: str) -> None:
    require_tool("ipmitool")
    attr, value, message = FAULTS[fault]
    with serve("127.0.0.1", 0, USER, PASSWORD, MemoryChassis(), runner=runner) as faulty, \
            serve("127.0.0.1", 0, USER, PASSWORD, MemoryChassis(powered_on=True),
                  runner=runner) as healthy:
        setattr(faulty.faults, attr, value)
        start = time.monotonic()
        env = dict(os.environ, IPMI_PASSWORD=PASSWORD)
        proc = subprocess.Popen(
            ["ipmitool", "-I", "lanplus", "-C3", "-H", "127.0.0.1", "-p", str(faulty.port),
             "-U", USER, "-E", "-N", "1", "-R", "1", "power", "status"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert ok(healthy, "power", "status").strip() == "Chassis Power is on"
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - start
        assert proc.returncode != 0, out
        assert message in err
        assert elapsed < 15
        setattr(faulty.faults, attr, type(value)())
        assert ok(faulty, "power", "status").strip() == "Chassis Power is off"


def test_slow_bmc_answers_late_but_answers(runner: BmcRunner) -> None:
    require_tool("ipmitool")
    with serve("127.0.0.1", 0, USER, PASSWORD, MemoryChassis(), runner=runner) as b:
        b.faults.delay = 0.25
        start = time.monotonic()
        assert ok(b, "power", "status", options=("-N", "3")).strip() == "Chassis Power is off"
        assert time.monotonic() - start >= 0.25 * 4  # open, RAKP1, RAKP3, then each command


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_racker_sim_bmc_serve_subprocess(tmp_path: Path) -> None:
    require_tool("ipmitool")
    secret_file = tmp_path / "pw"
    secret_file.write_text(PASSWORD + "\n")
    secret_file.chmod(0o600)
    port = free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from racker.cli.sim import main; sys.exit(main())",
         "bmc", "serve", "--address", "127.0.0.1", "--port", str(port), "--user", USER,
         "--password-file", str(secret_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"listening on 127.0.0.1 port {port}" in first
        assert PASSWORD not in Path(f"/proc/{proc.pid}/cmdline").read_text()
        b = VirtualBmc(MemoryChassis(), address="127.0.0.1", port=port)  # only for ipmitool()
        assert "Up/On" in ok(b, "power", "on")
        ok(b, "chassis", "bootdev", "pxe", "options=persistent,efiboot")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    log = first + out
    assert "power on -> chassis is on" in log
    assert "boot parameter 5 set to e0 04 00 00 00 (pxe, efi, persistent)" in log
    assert "stopped" in log
    assert PASSWORD not in log + err


@pytest.mark.root
def test_bmc_inside_network_namespace(runner: BmcRunner) -> None:
    require_root()
    require_tool("ipmitool")
    ns = f"rkv-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        sock = bind_udp_in_netns(ns, "127.0.0.1", 623)
        chassis = MemoryChassis()
        with serve("127.0.0.1", 623, USER, PASSWORD, chassis, runner=runner, sock=sock):
            env = dict(os.environ, IPMI_PASSWORD=PASSWORD)
            r = subprocess.run(["ip", "netns", "exec", ns, "ipmitool", "-I", "lanplus", "-C3",
                                "-H", "127.0.0.1", "-U", USER, "-E", "power", "on"],
                               env=env, capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            assert chassis.powered_on
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_pyghmi_client_one_socket_two_bmcs_same_port(runner: BmcRunner) -> None:
    """racker's pooled pyghmi client talks to many BMCs on port 623 from one socket."""
    from pyghmi.ipmi.command import Command

    port = free_udp_port()
    chassis = [MemoryChassis(), MemoryChassis(powered_on=True)]
    with serve("127.0.0.2", port, USER, PASSWORD, chassis[0], runner=runner), \
            serve("127.0.0.3", port, USER, PASSWORD, chassis[1], runner=runner):
        cmds = [Command(bmc=f"127.0.0.{i}", userid=USER, password=PASSWORD, port=port)
                for i in (2, 3)]
        try:
            for _ in range(3):
                assert cmds[0].get_power()["powerstate"] == "off"
                assert cmds[1].get_power()["powerstate"] == "on"
            cmds[0].set_bootdev("network", persist=True, uefiboot=True)
            assert cmds[0].get_bootdev()["bootdev"] == "network"
        finally:
            for c in cmds:
                c.ipmi_session.logout()


def test_serve_without_runner_owns_its_thread() -> None:
    require_tool("ipmitool")
    before = set(threading.enumerate())
    b = serve("127.0.0.1", 0, USER, PASSWORD, MemoryChassis(powered_on=True))
    try:
        assert ok(b, "power", "status").strip() == "Chassis Power is on"
    finally:
        b.stop()
    assert set(threading.enumerate()) <= before
    # an address this machine does not have: the bind error reaches the caller
    with pytest.raises(OSError):
        VirtualBmc(MemoryChassis(), address="192.0.2.1", port=0).start()
    assert set(threading.enumerate()) <= before


def test_mc_guid_is_the_node_smbios_uuid(runner: BmcRunner, chassis: MemoryChassis) -> None:
    """`ipmitool mc guid` against a virtual BMC prints its node's SMBIOS UUID (as racker-sim
    gives every BMC: `sim/nodes/hardware.smbios_uuid`)."""
    require_tool("ipmitool")
    node_uuid = smbios_uuid("02:aa:bb:cc:01:00")
    b = serve("127.0.0.1", 0, USER, PASSWORD, chassis, runner=runner,
              guid=uuid.UUID(node_uuid))
    try:
        out = ok(b, "mc", "guid")
    finally:
        b.stop()
    line = next(x for x in out.splitlines() if x.strip().startswith("System GUID"))
    assert line.split(":", 1)[1].strip().lower() == node_uuid
