"""A QEMU node's real console through its virtual BMC: racker records it over SOL while it
installs the VM, and `ipmitool sol activate` shows it (the VM's second UART, ttyS1, which
racker's kernel arguments name, is carried by the virtual BMC's SOL)."""

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


def sol_output_until(argv: list[str], env: dict[str, str], marker: bytes,
                     timeout: float) -> bytes:
    """Run `ipmitool … sol activate` on a terminal of its own (it wants one) and collect what
    it prints until `marker` shows (bounded); then end it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    got = b""
    deadline = time.monotonic() + timeout
    try:
        while marker not in got and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    got += os.read(master, 65536)
                except OSError:
                    break
    finally:
        proc.kill()
        proc.wait(10)
        os.close(master)
    return got


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
        got = sol_output_until([*ipmitool, "sol", "activate"], env, b"racker-testos: up",
                               timeout=240)
        assert b"racker-testos: up (kernel " in got, got[-3000:]
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
        # iPXE take seconds): the boot stage waits 270 s for a report that never comes
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel",
                        extra={"RACKER_TIMEOUT_SCALE": "0.3"}, timeout=800)
        assert r.returncode == 1, r.stdout + r.stderr
        line = ("racker-testos: ignition[702]: CRITICAL : Ignition failed: config is not "
                "valid (fault)")
        assert f"failed at stage boot: timed out waiting for the first boot from disk (270 s); " \
               f"its console: {line}\n" in r.stdout, r.stdout
        assert "    > racker-testos: halted: emergency shell: Ignition has failed (fault)" in \
            r.stdout
    finally:
        rack.sim("destroy", name, check=False)
