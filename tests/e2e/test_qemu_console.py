"""A QEMU node's real console through its virtual BMC: racker records it over SOL while it
installs the VM, and `ipmitool sol activate` shows it and types into it (the VM's second UART,
ttyS1, which racker's kernel arguments name, is carried both ways by the virtual BMC's SOL)."""

from __future__ import annotations

import os
import pty
import secrets
import select
import subprocess
import time
from pathlib import Path

import pytest

from racker.sim.state import RackDir, read_credentials
from tests.conftest import require_root, require_tool
from tests.e2e.simrack import BIN
from tests.e2e.test_qemu_bootstrap import QemuSimRack

pytestmark = [pytest.mark.qemu, pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


class SolTerminal:
    """`ipmitool … sol activate` on a terminal of its own (it wants one): what it prints is
    read, what the test types goes to its keyboard."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.got = b""

    def read_until(self, marker: bytes, timeout: float) -> bool:
        """Collect output until `marker` shows after what was read before (bounded)."""
        start = len(self.got)
        deadline = time.monotonic() + timeout
        while marker not in self.got[start:] and time.monotonic() < deadline \
                and self.proc.poll() is None:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.got += os.read(self.master, 65536)
                except OSError:
                    break
        return marker in self.got[start:]

    def type(self, keys: bytes) -> None:
        """Keys at the terminal, one at a time as a person types them."""
        for key in keys:
            os.write(self.master, bytes([key]))
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


@pytest.mark.timeout(900)
def test_the_vm_console_is_recorded_by_racker_and_shown_by_ipmitool_sol(tmp_path: Path) -> None:
    require_root()
    for tool in ("qemu-system-x86_64", "dnsmasq", "gpg", "ipmitool"):
        require_tool(tool)
    name = "q" + secrets.token_hex(3)
    rack = QemuSimRack(name, tmp_path / "sim")
    (tmp_path / "disks").mkdir()
    rack.sim("create", "--generate", "1", "--nodes", "qemu", "--firmware", "uefi", "--name",
             name, "--disk-dir", str(tmp_path / "disks"), timeout=300)
    try:
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel",
                        extra={"RACKER_TIMEOUT_SCALE": "0.3"}, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        (node,) = rack.nodes()
        recorded = rack.racker("node", "console-log", node["primary_mac"]).stdout
        # the test OS's own lines, written by the VM's kernel to ttyS1, carried over SOL
        assert "racker-testos: up (kernel " in recorded, recorded
        assert "racker-testos: reported installed" in recorded, recorded

        user, password = read_credentials(RackDir(rack.root))
        ipmitool = [str(BIN / "racker-sim"), "exec", name, "--", "ipmitool", "-I", "lanplus",
                    "-H", node["bmc_ip"], "-U", user, "-E"]
        env = {**rack.env, "IPMI_PASSWORD": password}
        reset = subprocess.run([*ipmitool, "power", "reset"], env=env, capture_output=True,
                               text=True, timeout=60, check=False)
        assert reset.returncode == 0, reset.stdout + reset.stderr
        # the installed VM boots from disk again: its console reaches ipmitool's SOL
        sol = SolTerminal([*ipmitool, "sol", "activate"], env)
        try:
            assert sol.read_until(b"racker-testos: up (kernel ", 240), sol.got[-3000:]
            # racker's services are down: the VM gets no lease and stops in its emergency
            # shell on the serial console, where what is typed over SOL reaches the VM
            assert sol.read_until(b"racker-testos: halted: no DHCP lease", 240), sol.got[-3000:]
            assert sol.read_until(b"# ", 60), sol.got[-3000:]  # the shell's prompt
            sol.type(b"echo racker-$((6*7)) from $(cat /sys/class/net/eth0/address)\r")
            # the typed line comes back as the VM's echo, then what the VM's shell made of it
            assert sol.read_until(f"racker-42 from {node['primary_mac']}".encode(), 60), \
                sol.got[-3000:]
        finally:
            sol.close()
    finally:
        rack.sim("destroy", name, check=False)


@pytest.mark.timeout(900)
def test_a_vm_whose_ignition_fails_is_named_by_its_console(tmp_path: Path) -> None:
    """`ignition-fails` on a QEMU node: the installed VM prints Ignition's error on its real
    console and never reports; the boot-stage failure names that line."""
    require_root()
    for tool in ("qemu-system-x86_64", "dnsmasq", "gpg"):
        require_tool(tool)
    name = "q" + secrets.token_hex(3)
    rack = QemuSimRack(name, tmp_path / "sim")
    (tmp_path / "disks").mkdir()
    rack.sim("create", "--generate", "1", "--nodes", "qemu", "--firmware", "uefi", "--name",
             name, "--disk-dir", str(tmp_path / "disks"), timeout=300)
    try:
        (node,) = rack.nodes()
        rack.sim("fault", node["node"], "ignition-fails", "--name", name)
        # NOTE: 0.3 of a real rack's deadlines, as test_qemu_bootstrap (the VM's firmware and
        # iPXE take seconds); the boot stage would wait 270 s for a report that never comes,
        # but the emergency shell on the VM's console fails it at once
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel",
                        extra={"RACKER_TIMEOUT_SCALE": "0.3"}, timeout=800)
        assert r.returncode == 1, r.stdout + r.stderr
        line = ("racker-testos: ignition[702]: CRITICAL : Ignition failed: config is not "
                "valid (fault)")
        assert f"failed at stage boot: the installed system stopped at its first boot; " \
               f"its console: {line}\n" in r.stdout, r.stdout
        assert "    > racker-testos: halted: emergency shell: Ignition has failed (fault)" in \
            r.stdout
    finally:
        rack.sim("destroy", name, check=False)
