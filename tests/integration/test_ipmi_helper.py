"""The `ipmi` console script against real BMCs (OpenIPMI ipmi_sim on loopback) and ipmitool.

The rack's PXE interface is `lo` here (a fake /sys/class/net maps the management node's
secondary MAC to it), the BMCs are found through a dnsmasq lease file in the state dir, so the
route check passes for their 127.x addresses. Every run is watched: no process's command line and
no output may contain the BMC password.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.integration._ipmisim_rki import SimBmc, ipmi_sims
from tests.rackfixtures import bmc_mac, primary_mac, secondary_mac, write_rack

pytestmark = [pytest.mark.ipmi_sim]

IPMI = str(Path(sys.executable).with_name("ipmi"))
N_LIVE = 3
"""Nodes 1..3 have a BMC; node 4's BMC has a lease but nothing answers there."""


class CmdlineWatch:
    """Polls the command line of every process the test starts while it runs (ipmitool
    children included): those whose environment holds `marker` (`env` adds it).

    NOTE: not every process of the machine: another suite running beside this one (its
    ipmitool calls of other tests) failed `test_power_status_through_racker_driver_not_ipmitool`.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.marker = f"RKI_CMDLINE_WATCH={secrets.token_hex(8)}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with the marker that puts a process (and its children) under watch."""
        key, value = self.marker.split("=")
        return {**env, key: value}

    def _poll(self) -> None:
        marker = self.marker.encode()
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        if marker not in f.read().split(b"\0"):
                            continue
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        raw = f.read()
                except OSError:
                    continue
                if raw:
                    self.seen.add(raw.replace(b"\0", b" ").decode(errors="replace").strip())
            self._stop.wait(0.002)

    def __enter__(self) -> CmdlineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def ipmitool(self) -> list[str]:
        return sorted(c for c in self.seen if "ipmitool" in c and " -E" in c)


class SerialPort:
    """The serial side of a node: a TCP server ipmi_sim connects to for SOL.

    It sends a marker line every 50 ms and records what the console user typed.
    """

    MARKER = b"rki-serial-hello"

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn: socket.socket | None = None
        while not self._stop.is_set():
            if conn is None:
                try:
                    conn, _ = self._sock.accept()
                    conn.settimeout(0.05)
                except TimeoutError:
                    continue
            try:
                conn.sendall(self.MARKER + b"\r\n")
                self.received += conn.recv(4096)
            except TimeoutError:
                pass
            except OSError:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
        self._sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Rack:
    env: dict[str, str]
    password: str
    calls: Path
    """Every ipmitool argv, one per line, written by a shim in front of the real ipmitool."""
    ips: list[str]
    """BMC address of node i+1 (the last one has nothing listening)."""
    internal: list[str]
    sims: list[SimBmc]
    serial: SerialPort
    """Node 3's serial port (the only node with SOL)."""


def _net(prefix: str, i: int) -> str:
    return f"{prefix}.{i}"


@pytest.fixture
def rack(tmp_path: Path) -> Iterator[Rack]:
    require_tool("ipmi_sim")
    require_tool("ipmitool")
    env = write_rack(tmp_path, N_LIVE + 1)
    # The PXE interface is lo: its address file carries the management node's secondary MAC.
    net = Path(env["RACKER_SYS_CLASS_NET"])
    shutil.rmtree(net / "eth1")
    (net / "lo" / "address").write_text(secondary_mac(0) + "\n")
    password = "rki" + secrets.token_hex(8)
    pw = Path(env["RACKER_OEM_DIR"]) / "ipmi_password"
    pw.write_text(password + "\n")
    pw.chmod(0o600)
    # Random 127.a.b.0/24 so parallel test runs (and other helpers' BMCs) do not collide.
    prefix = f"127.{secrets.randbelow(100) + 100}.{secrets.randbelow(250) + 1}"
    ips = [_net(prefix, 10 + i) for i in range(1, N_LIVE + 2)]
    internal = [_net(prefix, 100 + i) for i in range(1, N_LIVE + 2)]
    dnsmasq = Path(env["RACKER_STATE_DIR"]) / "dnsmasq"
    dnsmasq.mkdir(parents=True)
    expiry = int(time.time()) + 3600
    leases = [f"{expiry} {bmc_mac(i + 1)} {ip} * *" for i, ip in enumerate(ips)]
    # Node 1's primary NIC has its planned address, node 2's another one, the rest none.
    leases += [f"{expiry} {primary_mac(1)} {internal[0]} node-1 *",
               f"{expiry} {primary_mac(2)} {_net(prefix, 222)} node-2 *"]
    (dnsmasq / "dnsmasq.leases").write_text("\n".join(leases) + "\n")
    planned = [f"dhcp-host={primary_mac(i + 1)},{ip},2m" for i, ip in enumerate(internal)]
    planned += [f"dhcp-host={bmc_mac(i + 1)},{ip},2m" for i, ip in enumerate(ips)]
    planned[N_LIVE + 2] = f"dhcp-host={bmc_mac(2)},{_net(prefix, 99)},2m"  # node 2's BMC moved
    (dnsmasq / "dnsmasq.conf").write_text("\n".join(planned) + "\n")
    Path(env["RACKER_HOSTS_FILE"]).write_text(
        "127.0.0.1 localhost\n"
        + "".join(f"{ip} node-{i + 1}.rack.example\n" for i, ip in enumerate(internal)))
    # A shim records every ipmitool argv (short-lived processes can slip past /proc polling).
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    calls = tmp_path / "ipmitool-calls"
    shim = shim_dir / "ipmitool"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {calls}\n'
                    f'exec {require_tool("ipmitool")} "$@"\n')
    shim.chmod(0o755)
    full = {**os.environ, **env, "USE_STDIN": "0", "USE_TTY": "0", "RETRY_SEC": "2",
            "IPMI_TIMEOUT": "1", "PATH": f"{shim_dir}:{os.environ['PATH']}"}
    for k in ("SSH_CONNECTION", "SSH_TTY", "IPMI_PASSWORD"):
        full.pop(k, None)
    serial = SerialPort()
    try:
        with ipmi_sims(tmp_path / "sims", ips[:N_LIVE], "admin", password,
                       power_on=[True, False, True], sol_ports=[None, None, serial.port]) as sims:
            yield Rack(env=full, password=password, calls=calls, ips=ips, internal=internal,
                       sims=sims, serial=serial)
    finally:
        serial.close()


def _calls(rack: Rack) -> list[str]:
    return rack.calls.read_text().splitlines() if rack.calls.exists() else []


def _ipmi(rack: Rack, *args: str, env: dict[str, str] | None = None,
          timeout: float = 60, stdin: str | None = None,
          ) -> tuple[subprocess.CompletedProcess[str], CmdlineWatch, float]:
    """Run the real console script while watching every command line."""
    rack.calls.unlink(missing_ok=True)
    with CmdlineWatch() as watch:
        t0 = time.monotonic()
        p = subprocess.run([IPMI, *args], env=watch.env(env or rack.env), capture_output=True,
                           text=True,
                           timeout=timeout, check=False,
                           **({"input": stdin} if stdin is not None else
                              {"stdin": subprocess.DEVNULL}))
        took = time.monotonic() - t0
        time.sleep(0.01)
    for text in (p.stdout, p.stderr, *watch.seen, *_calls(rack)):
        assert rack.password not in text
    return p, watch, took


def test_passthrough_by_any_mac_form(rack: Rack) -> None:
    for target in (bmc_mac(1), bmc_mac(1).upper().replace(":", "-"), primary_mac(1)):
        p, watch, _ = _ipmi(rack, target, "chassis", "status")
        assert p.returncode == 0, p.stderr
        assert watch.ipmitool(), "the watch sees the ipmitool the helper starts"
        assert "System Power         : on" in p.stdout.splitlines()
        cmds = _calls(rack)
        assert any(c.endswith(f"-H {rack.ips[0]} -U admin -E -N 1 -R 1 chassis status")
                   for c in cmds), cmds


def test_power_status_through_racker_driver_not_ipmitool(rack: Rack) -> None:
    for target in (bmc_mac(1), bmc_mac(1).upper().replace(":", "-"), primary_mac(1)):
        p, watch, _ = _ipmi(rack, target, "power", "status")
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "Chassis Power is on"
        assert _calls(rack) == [] and watch.ipmitool() == []
    p, _, _ = _ipmi(rack, primary_mac(2), "chassis", "power", "status")
    assert p.stdout.splitlines() == [
        "Warning: BMC IP address does not match the static IP address set up with dnsmasq, "
        f'expected "{rack.ips[0].rsplit(".", 1)[0]}.99"',
        "Chassis Power is off",
    ]
    assert _calls(rack) == []


def test_passthrough_attached_to_the_terminal_fds(rack: Rack) -> None:
    env = {**rack.env, "USE_TTY": "1"}
    p, _, _ = _ipmi(rack, "node-3.rack.example", "chassis", "status", env=env)
    assert p.returncode == 0, p.stderr
    assert "System Power         : on" in p.stdout.splitlines()


def test_raw_and_bootparam_round_trip(rack: Rack) -> None:
    p, _, _ = _ipmi(rack, bmc_mac(1), "raw", "0x00", "0x08", "0x05", "0xe0", "0x04", "0", "0", "0")
    assert p.returncode == 0, p.stdout + p.stderr
    p, _, _ = _ipmi(rack, bmc_mac(1), "chassis", "bootparam", "get", "5")
    assert "Force PXE" in p.stdout


def test_diag(rack: Rack) -> None:
    p, _, _ = _ipmi(rack, "node-1.rack.example", "diag")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:5] == [
        f"BMC MAC address: {bmc_mac(1)}",
        f"BMC IP address: {rack.ips[0]}",
        f"Node MAC address: {primary_mac(1)}",
        f"Internal IP address: {rack.internal[0]}",
        "Internal host name: node-1.rack.example",
    ]
    assert "System Power         : on" in lines
    assert any(line.startswith("Boot parameter data:") for line in lines)
    assert not any(line.startswith("Warning") for line in lines)
    # Both questions through racker's driver: one session, no ipmitool.
    assert _calls(rack) == []
    # Worded as ipmitool words the same BMC's answers (scripts grep these lines).
    theirs = _ipmi(rack, bmc_mac(1), "chassis", "status")[0].stdout.splitlines()
    theirs += _ipmi(rack, bmc_mac(1), "chassis", "bootparam", "get", "5")[0].stdout.splitlines()
    ours = [line.strip() for line in lines[5:]]
    for line in ("System Power", "Power Restore Policy", "Boot parameter data",
                 "- Boot Device Selector", "- Options apply"):
        mine = [x for x in ours if x.startswith(line)]
        assert mine and mine[0] in [t.strip() for t in theirs], (line, ours, theirs)


def test_diag_attached_to_the_terminal_fds(rack: Rack) -> None:
    p, _, _ = _ipmi(rack, bmc_mac(3), "diag", env={**rack.env, "USE_TTY": "1"})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Warning: Internal IP address not found")
    assert lines[1] == f"BMC MAC address: {bmc_mac(3)}"
    # Our lines are flushed before ipmitool writes to the same stdout.
    assert lines.index("Internal host name: node-3.rack.example") < lines.index(
        "System Power         : on")
    assert "Boot parameter data:" in p.stdout


def test_diag_warns_about_unplanned_addresses(rack: Rack) -> None:
    p, _, _ = _ipmi(rack, "node-2", "diag")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    prefix = rack.ips[0].rsplit(".", 1)[0]
    assert ("Warning: BMC IP address does not match the static IP address set up with dnsmasq, "
            f'expected "{prefix}.99"') in out
    assert ("Warning: Internal IP address does not match the static IP address set up with "
            f'dnsmasq and Ignition, expected "{rack.internal[1]}"') in out
    assert f"Internal IP address: {prefix}.222" in out
    assert "System Power         : off" in out


def test_all_runs_concurrently_and_reports_the_dead_bmc(rack: Rack) -> None:
    p, watch, took = _ipmi(rack, "--all", "power", "status")
    assert p.returncode == 1
    blocks = p.stdout.split("\n\n")
    assert [b.splitlines()[0] for b in blocks if b] == [
        f"Output for {bmc_mac(i)}:" for i in range(1, N_LIVE + 2)]
    assert blocks[0].splitlines()[1:] == ["Chassis Power is on"]
    assert blocks[1].splitlines()[1].startswith("Warning: BMC IP address does not match")
    assert blocks[1].splitlines()[2:] == ["Chassis Power is off"]
    assert blocks[2].splitlines()[1:] == ["Chassis Power is on"]
    dead = blocks[3].splitlines()
    assert dead[1] == (f"Error: node {primary_mac(N_LIVE + 1)}: BMC {rack.ips[3]}: unreachable "
                       "(no answer to IPMI): " + dead[1].split("(no answer to IPMI): ", 1)[1])
    assert dead[-1] == "Failed"
    # IPMI_TIMEOUT=1, one retry: the driver gives up after about 2 s; all nodes ran at once.
    assert took < 8, took
    # racker's driver, not one ipmitool per node; the /proc watch did see the helper itself.
    assert _calls(rack) == [] and watch.ipmitool() == []
    assert any(c.endswith("ipmi --all power status") for c in watch.seen)


def test_all_with_a_bmc_that_refuses_the_credentials(rack: Rack, tmp_path: Path) -> None:
    """Node 4's BMC answers but knows another password: Failed, within the timeout."""
    with ipmi_sims(tmp_path / "other", [rack.ips[N_LIVE]], "admin", "rki-other-pass"):
        p, _, took = _ipmi(rack, "--all", "power", "status")
    blocks = [b for b in p.stdout.split("\n\n") if b]
    assert blocks[0].endswith("Chassis Power is on")
    assert blocks[2].endswith("Chassis Power is on")
    refused = blocks[N_LIVE].splitlines()
    assert refused[1] == (f"Error: node {primary_mac(N_LIVE + 1)}: BMC {rack.ips[N_LIVE]}: "
                          "authentication failed: Incorrect password provided")
    assert refused[-1] == "Failed"
    assert p.returncode == 1
    assert took < 8, took


def test_all_with_a_bmc_nobody_knows(rack: Rack) -> None:
    """Node 4's BMC has no lease and does not answer ARP: its block fails after RETRY_SEC."""
    leases = Path(rack.env["RACKER_STATE_DIR"]) / "dnsmasq" / "dnsmasq.leases"
    leases.write_text("".join(ln + "\n" for ln in leases.read_text().splitlines()
                              if bmc_mac(N_LIVE + 1) not in ln))
    p, _, took = _ipmi(rack, "--all", "power", "status")
    blocks = [b for b in p.stdout.split("\n\n") if b]
    assert [b.splitlines()[-1] for b in blocks[:N_LIVE]] == [
        "Chassis Power is on", "Chassis Power is off", "Chassis Power is on"]
    dead = blocks[N_LIVE].splitlines()
    assert dead[0] == f"Output for {bmc_mac(N_LIVE + 1)}:"
    assert dead[1] == (f"Error: node {primary_mac(N_LIVE + 1)}: could not find the IP address "
                       f"of {bmc_mac(N_LIVE + 1)} via lo within 2 s (dnsmasq leases, "
                       "neighbour table, arp-scan)")
    assert dead[-1] == "Failed"
    assert 2 <= took < 8, took


def test_all_diag(rack: Rack) -> None:
    p, _, _ = _ipmi(rack, "--all", "diag")
    blocks = [b for b in p.stdout.split("\n\n") if b]
    assert len(blocks) == N_LIVE + 1
    for i, block in enumerate(blocks[:N_LIVE]):
        assert block.splitlines()[0] == f"Output for {bmc_mac(i + 1)}:"
        assert f"BMC IP address: {rack.ips[i]}" in block
        assert "System Power" in block and "Boot parameter data:" in block
    assert blocks[N_LIVE].endswith("Failed")


def test_all_with_a_silent_bmc_keeps_its_deadline(rack: Rack) -> None:
    """A BMC that stops answering (socket open, process frozen) fails; the others answer."""
    os.kill(rack.sims[1].pid, 19)  # SIGSTOP: the BMC's socket stays open but nothing answers
    try:
        env = {**rack.env, "IPMI_TIMEOUT": "1"}
        p, _, took = _ipmi(rack, "--all", "power", "status", env=env)
    finally:
        os.kill(rack.sims[1].pid, 18)  # SIGCONT
    blocks = [b for b in p.stdout.split("\n\n") if b]
    assert blocks[0].endswith("Chassis Power is on")
    assert blocks[1].endswith("Failed")
    assert blocks[2].endswith("Chassis Power is on")
    assert took < 10, took


def test_all_stops_waiting_for_a_hung_ipmitool(rack: Rack, tmp_path: Path) -> None:
    """An ipmitool (passthrough) that never returns is stopped at the deadline
    (2·IPMI_TIMEOUT + 3 s)."""
    hang = tmp_path / "hang-bin"
    hang.mkdir()
    fake = hang / "ipmitool"
    nap = f"sleep 60.{secrets.randbelow(10**6):06d}"  # unique: other tests may sleep too
    fake.write_text(f'#!/bin/sh\ncase "$*" in *" {rack.ips[0]} "*) exec {nap};; esac\n'
                    f'exec {rack.env["PATH"].split(":")[0]}/ipmitool "$@"\n')
    fake.chmod(0o755)
    env = {**rack.env, "PATH": f"{hang}:{rack.env['PATH']}"}
    p, _, took = _ipmi(rack, "--all", "chassis", "status", env=env)
    blocks = [b for b in p.stdout.split("\n\n") if b]
    assert blocks[0].splitlines()[1:] == [
        "Error: no answer from the BMC within 5 s (ipmitool stopped); "
        "set IPMI_TIMEOUT to change the limit",
        "Failed",
    ]
    assert "System Power         : on" in blocks[2].splitlines()
    assert 5 <= took < 9, took
    assert not [c for c in _running() if nap in c]


def _running() -> list[str]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                           .decode(errors="replace"))
    return out


def test_password_reaches_ipmitool_by_environment_only(rack: Rack, tmp_path: Path) -> None:
    """A (misbehaving) ipmitool that prints its IPMI_PASSWORD: the helper masks it."""
    leaky = tmp_path / "leaky-bin"
    leaky.mkdir()
    fake = leaky / "ipmitool"
    fake.write_text('#!/bin/sh\necho "argv: $*"\necho "env: $IPMI_PASSWORD"\n')
    fake.chmod(0o755)
    env = {**rack.env, "PATH": f"{leaky}:{rack.env['PATH']}"}
    for args in (["--all", "chassis", "status"], [bmc_mac(1), "chassis", "status"]):
        p, _, _ = _ipmi(rack, *args, env=env)  # asserts the password is nowhere
        assert p.returncode == 0, p.stderr
        assert "env: ********" in p.stdout
        assert "argv: -I lanplus -C3 -H " in p.stdout


def test_all_refuses_the_serial_console(rack: Rack) -> None:
    p, _, _ = _ipmi(rack, "--all")
    assert p.returncode == 2
    assert "serial console cannot be attached for all nodes" in p.stderr
    assert _calls(rack) == []


@pytest.mark.parametrize(("ssh", "seq"), [({}, "~."), ({"SSH_TTY": "/dev/pts/7"}, "~~.")])
def test_serial_console_hint_and_order(rack: Rack, ssh: dict[str, str], seq: str) -> None:
    p, _, _ = _ipmi(rack, bmc_mac(1), env={**rack.env, **ssh})
    assert f"Opening serial console, detach with {seq} " in p.stdout
    cmds = [c.rsplit(" -E ", 1)[1] for c in _calls(rack)]
    assert cmds == ["-N 1 -R 1 sol deactivate", "-N 1 -R 1 sol activate"]


def test_serial_console_takes_over_a_dangling_session(rack: Rack) -> None:
    """Someone left a SOL session open; `ipmi NODE` ends it, attaches stdin and shows output."""
    ip = rack.ips[2]
    dangling = subprocess.Popen(
        ["ipmitool", "-I", "lanplus", "-C3", "-H", ip, "-U", "admin", "-E", "sol", "activate"],
        env={**rack.env, "IPMI_PASSWORD": rack.password}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert dangling.stdout is not None
        head = b"".join(dangling.stdout.readline() for _ in range(2))
        assert b"SOL Session operational" in head, head
        env = {**rack.env, "USE_STDIN": "1"}
        rack.calls.unlink(missing_ok=True)
        watch = CmdlineWatch()
        with watch, subprocess.Popen(
                [IPMI, "node-3.rack.example"], env=watch.env(env), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as p:
            assert p.stdin is not None and p.stdout is not None
            out = b""
            for _ in range(10):  # hint, tcgetattr note, "SOL Session operational"
                out += p.stdout.readline()
                if b"SOL Session operational" in out:
                    break
            # The helper keeps the password out of its own environment; only ipmitool has it.
            assert rack.password.encode() not in Path(f"/proc/{p.pid}/environ").read_bytes()
            children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
            assert children, "ipmitool should be running"
            child_env = Path(f"/proc/{children[0]}/environ").read_bytes()
            assert f"IPMI_PASSWORD={rack.password}".encode() in child_env.split(b"\0")
            p.stdin.write(b"typed-by-rki\n")
            p.stdin.flush()
            for _ in range(50):
                line = p.stdout.readline()
                out += line
                if SerialPort.MARKER in line:
                    break
            deadline = time.monotonic() + 5
            while b"typed-by-rki" not in rack.serial.received and time.monotonic() < deadline:
                time.sleep(0.05)
            p.stdin.write(b"~.")
            p.stdin.close()
            out += p.stdout.read()
            rc = p.wait(timeout=10)
        text = out.decode(errors="replace")
        assert rc == 0, text
        assert "Opening serial console, detach with ~. " in text
        assert "SOL Session operational" in text
        assert SerialPort.MARKER.decode() in text
        assert b"typed-by-rki" in rack.serial.received
        cmds = [c.rsplit(" -E ", 1)[1] for c in _calls(rack)]
        assert cmds == ["-N 1 -R 1 sol deactivate", "-N 1 -R 1 sol activate"]
        for seen in (text, *watch.seen, *_calls(rack)):
            assert rack.password not in seen
    finally:
        dangling.kill()
        dangling.wait()


def test_route_not_via_the_pxe_interface_is_refused(rack: Rack) -> None:
    # 192.0.2.0/24 (TEST-NET-1) is routed via the host's default route, not lo; nothing is sent.
    leases = Path(rack.env["RACKER_STATE_DIR"]) / "dnsmasq" / "dnsmasq.leases"
    leases.write_text(f"0 {bmc_mac(1)} 192.0.2.55 * *\n")
    p, _, _ = _ipmi(rack, bmc_mac(1), "power", "status")
    assert p.returncode == 1
    assert 'the route to BMC address 192.0.2.55 goes via "' in p.stderr
    assert 'not via the PXE interface "lo"' in p.stderr
    assert "changed the internal subnet" in p.stderr
    assert _calls(rack) == []


def test_unknown_bmc_address_gives_up_after_retry_sec(rack: Rack) -> None:
    leases = Path(rack.env["RACKER_STATE_DIR"]) / "dnsmasq" / "dnsmasq.leases"
    leases.write_text("")
    p, _, took = _ipmi(rack, bmc_mac(1), "power", "status", env={**rack.env, "RETRY_SEC": "1"})
    assert p.returncode == 1
    assert f"could not find the IP address of {bmc_mac(1)} via lo within 1 s" in p.stderr
    assert "Traceback" not in p.stderr
    assert took < 10


@pytest.mark.parametrize(
    ("args", "rc", "where", "text"),
    [
        (["-h"], 0, "stdout",
         "Usage: ipmi domain|primary-mac|bmc-mac|--all diag|[ipmitool commands]"),
        ([], 2, "stderr", "Usage: ipmi"),
        (["02:00:00:00:09:09", "power", "status"], 2, "stderr", "has the MAC address"),
        (["nobody.rack.example"], 2, "stderr", "could not find a MAC address for"),
    ],
)
def test_usage_and_bad_names(rack: Rack, args: list[str], rc: int, where: str,
                             text: str) -> None:
    p, _, _ = _ipmi(rack, *args)
    assert p.returncode == rc
    assert text in (p.stdout if where == "stdout" else p.stderr)
