"""`racker bootstrap` on a rack of two QEMU nodes made by `racker-sim create --nodes qemu`.

Everything is real except the hardware: virtual BMCs over IPMI, racker's dnsmasq and boot
server, the VMs' iPXE ROM, the test OS (served as the Flatcar release by the rack's signed
mirror, which racker downloads and verifies), the installer's `installed` report, the BMC's
switch to disk boot and the installed system's `booted` report.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from racker.sim.net.netns import list_netns, netns_pids
from racker.sim.nodes.hardware import smbios_uuid
from racker.sim.nodes.qemu import DISK_SIZE, MEMORY_MB
from racker.sim.nodes.testos import cache_root
from racker.sim.state import RackDir, read_credentials
from tests.conftest import require_root, require_tool
from tests.e2e.simrack import BIN, SimRack

pytestmark = [pytest.mark.qemu, pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


class QemuSimRack(SimRack):
    """A rack whose test OS comes from the shared cache (built once, not per test)."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "RACKER_SIM_CACHE": str(cache_root())}


@pytest.mark.timeout(900)
def test_bootstrap_installs_two_qemu_nodes(tmp_path: Path) -> None:
    require_root()
    for tool in ("qemu-system-x86_64", "dnsmasq", "gpg", "ipmitool"):
        require_tool(tool)
    name = "q" + secrets.token_hex(3)
    rack = QemuSimRack(name, tmp_path / "sim")
    (tmp_path / "disks").mkdir()
    started = time.monotonic()
    rack.sim("create", "--generate", "2", "--nodes", "qemu", "--firmware", "uefi", "--name", name,
             "--disk-dir", str(tmp_path / "disks"), timeout=300)
    created = time.monotonic() - started
    try:
        # NOTE: stage timeouts at 0.3 of real hardware's (the lite-rack tests use 0.02): a VM
        # under TCG takes seconds through its BIOS and iPXE, as a real server takes minutes
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel",
                        extra={"RACKER_TIMEOUT_SCALE": "0.3"}, timeout=600)
        took = time.monotonic() - started - created
        print(f"create_s={created:.1f} bootstrap_s={took:.1f}")
        consoles = "\n".join(rack.sim("console", s["node"], "--name", name).stdout[-3000:]
                             for s in rack.nodes())
        assert r.returncode == 0, r.stdout + r.stderr + consoles
        assert "➤ OS installation via PXE (2/2)... ✓ done" in r.stdout, r.stdout
        macs = {s["primary_mac"] for s in rack.nodes()}
        assert {e.mac for e in rack.events() if e.kind is EventKind.BOOTED} == macs
        for s in rack.nodes():
            assert s["boot_device"] == "disk" and s["installed"], s
            kinds = [e.kind for e in rack.events(s["primary_mac"])]
            assert kinds.index(EventKind.INSTALLED) < kinds.index(EventKind.BOOTED)
            disk = tmp_path / "disks" / f"{name}-{s['node']}.img"
            assert disk.read_bytes()[:17] == b"racker-installed "
        # each VM's installer reported what the VM has (read from /sys and /proc in the test
        # OS); its BMC's GUID is the VM's SMBIOS UUID, so the cabling check had nothing to say
        assert "Cabling check:" not in r.stdout
        for s in rack.nodes():
            show = rack.racker("node", "show", s["primary_mac"], "--json")
            assert show.returncode == 0, show.stdout + show.stderr
            inv = json.loads(show.stdout)["inventory"]
            assert inv["uuid"] == smbios_uuid(s["primary_mac"])
            assert inv["memory_bytes"] == MEMORY_MB << 20, inv
            assert [(d["name"], d["size_bytes"]) for d in inv["disks"]] == [("vda", DISK_SIZE)]
            assert [n["mac"] for n in inv["nics"]] == [s["primary_mac"]]
            assert inv["nics"][0]["link"] and inv["cpu_threads"] == 1
        # UEFI firmware took racker's default path: PXE (client arch 7) → ipxe.efi by TFTP
        tftp = (rack.state / "dnsmasq" / "dnsmasq.log").read_text(errors="replace")
        assert tftp.count("sent /usr/lib/ipxe/ipxe.efi to") >= 2, tftp[-3000:]
        # the test OS's steps are on each node's console (timeline)
        assert consoles.count("reported booted") == 2, consoles
        # an IPMI power reset stops the VM and starts it again from disk (the BMC keeps disk,
        # persistently); racker's services are gone after bootstrap, so only the start counts
        first = rack.nodes()[0]
        user, password = read_credentials(RackDir(rack.root))
        reset = subprocess.run(
            [str(BIN / "racker-sim"), "exec", name, "--", "ipmitool", "-I", "lanplus", "-H",
             first["bmc_ip"], "-U", user, "-E", "power", "reset"],
            env={**rack.env, "IPMI_PASSWORD": password}, capture_output=True, text=True,
            timeout=60, check=False)
        assert reset.returncode == 0, reset.stdout + reset.stderr

        def after_reset() -> list[str]:
            out = rack.sim("console", first["node"], "--name", name, "--json").stdout
            events = [json.loads(line)["event"] for line in out.splitlines()]
            cut = max((i for i, e in enumerate(events) if e == "power"), default=len(events))
            return events[cut:]

        deadline = time.monotonic() + 240  # bounded, with room for TCG on a busy machine
        while time.monotonic() < deadline and "testos-up" not in after_reset():
            time.sleep(1)
        events = after_reset()
        assert events[:4] == ["power", "firmware", "disk-boot", "testos-up"], events
        assert "qemu-failed" not in events
    finally:
        rack.sim("destroy", name, check=False)
    left = [ns for ns in list_netns() if f"-{name}-" in ns]
    assert not left and not any(netns_pids(ns) for ns in left)
    assert not list((tmp_path / "disks").iterdir())  # destroy removed the VMs' disks
