"""A lite node's console: what a real server's serial port would show of each step."""

from __future__ import annotations

from racker.sim.nodes.liteconsole import IGNITION_ERROR, console_lines


def test_each_stage_has_its_real_world_lines() -> None:
    assert console_lines("node2", "firmware", {"boot_device": "pxe", "installed": False})[0] \
        .startswith("BdsDxe: loading Boot0001 \"UEFI PXEv4")
    assert console_lines("node2", "ipxe-dhcp", {})[1].startswith("iPXE 1.21.1+")
    assert console_lines("node2", "kernel", {})[0].startswith("[    0.000000] Linux version")
    assert console_lines("node2", "install-failed", {})[1] == (
        "[FAILED] Failed to start installer.service - Install Flatcar Container Linux for "
        "racker.")
    assert console_lines("node2", "ignition-failed", {})[0] == f"[    4.180411] {IGNITION_ERROR}"
    assert console_lines("node2", "running", {"reported": True})[-1] == "node2 login:"
    assert console_lines("node2", "http", {"url": "http://m/x", "status": 403}) == [
        "http://m/x... HTTP 403"]
    assert console_lines("node2", "http", {"url": "http://m/x", "method": "POST"}) == []


def test_power_events_show_nothing() -> None:
    assert console_lines("node2", "power", {"state": "on"}) == []
