"""What a lite node's serial console shows (pure): each step of its timeline as the lines its
firmware, iPXE, the kernel, the installer and Ignition would write on a real server's serial
port, including the text of a fault's failure. The node's virtual BMC carries them over SOL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

KERNEL = "6.6.60-flatcar"
BANNER = "Flatcar Container Linux by Kinvolk stable 9999.0.0 (Oklo)"
INSTALLER_UNIT = "installer.service - Install Flatcar Container Linux for racker"
IGNITION_ERROR = ("ignition[702]: CRITICAL : Ignition failed: failed to fetch config: "
                  "config is not valid: unknown field \"storrage\" (line 4, column 3)")
"""The Ignition failure of the `ignition-fails` fault (the boot-stage failure names it)."""

Lines = Callable[[str, Mapping[str, Any]], list[str]]


def _firmware(name: str, f: Mapping[str, Any]) -> list[str]:
    if f.get("boot_device") == "pxe" or (f.get("boot_device") == "none"
                                         and not f.get("installed")):
        return ["BdsDxe: loading Boot0001 \"UEFI PXEv4 (MAC:internal NIC)\"",
                "BdsDxe: starting Boot0001 \"UEFI PXEv4 (MAC:internal NIC)\""]
    return ["BdsDxe: loading Boot0002 \"UEFI Misc Device\"",
            "BdsDxe: starting Boot0002 \"UEFI Misc Device\""]


def _lease(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"  Station IP address is {str(f.get('ip', '')).split('/')[0]}"]


def _tftp(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"  Server IP address is {f.get('server', '')}",
            f"  NBP filename is {f.get('file', '')}"]


def _tftp_done(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"  NBP filesize is {f.get('size', 0)} Bytes", " Downloading NBP file...",
            "  NBP file downloaded successfully."]


def _ipxe_dhcp(name: str, f: Mapping[str, Any]) -> list[str]:
    return ["iPXE initialising devices...ok",
            "iPXE 1.21.1+ -- Open Source Network Boot Firmware -- https://ipxe.org",
            "Features: DNS HTTP HTTPS iSCSI TFTP VLAN AoE EFI Menu",
            "Configuring (net0)...... ok"]


def _http(name: str, f: Mapping[str, Any]) -> list[str]:
    if f.get("method") == "POST":
        return []
    status = f.get("status")
    return [f"{f.get('url', '')}... " + ("ok" if status == 200 else f"HTTP {status}")]


def _kernel(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"[    0.000000] Linux version {KERNEL} (build@flatcar) #1 SMP PREEMPT_DYNAMIC",
            "[    0.000000] Command line: console=ttyS1,57600n8 flatcar.first_boot=yes",
            "[    1.843210] Run /init as init process"]


def _ignition(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"[    3.201554] ignition[612]: GET {f.get('url', '')}: attempt #1",
            "[    3.254901] ignition[612]: GET result: OK",
            "[  OK  ] Finished ignition-files.service - Ignition (files)."]


def _installing(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"         Starting {INSTALLER_UNIT}...",
            "[   12.004511] racker-installer[812]: Downloading, writing and verifying "
            "flatcar_production_image.bin.bz2..."]


def _install_failed(name: str, f: Mapping[str, Any]) -> list[str]:
    return ["[   14.118902] racker-installer[812]: Error: failed to write "
            "flatcar_production_image.bin.bz2 to /dev/sda: Input/output error",
            f"[FAILED] Failed to start {INSTALLER_UNIT}.",
            "See 'systemctl status installer.service' for details.",
            "",
            f"{BANNER} (installer)",
            f"{name} login:"]


def _report(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"[   20.310224] racker-installer[812]: POST {f.get('url', '')}"]


def _reboot(name: str, f: Mapping[str, Any]) -> list[str]:
    return ["[  OK  ] Reached target reboot.target - System Reboot.",
            "[   21.502113] reboot: Restarting system"]


def _disk_boot(name: str, f: Mapping[str, Any]) -> list[str]:
    return ["Welcome to GRUB!", "Booting `Flatcar default'",
            f"[    0.000000] Linux version {KERNEL} (build@flatcar) #1 SMP PREEMPT_DYNAMIC"]


def _os_ignition(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"[    4.102311] ignition[702]: GET {f.get('url', '')}: attempt #1",
            "[    4.150022] ignition[702]: GET result: OK"]


def _ignition_failed(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"[    4.180411] {IGNITION_ERROR}",
            "[FAILED] Failed to start ignition-fetch.service - Ignition (fetch).",
            "[  OK  ] Reached target emergency.target - Emergency Mode.",
            "Ignition has failed. Please ensure your config is valid.",
            "You are in emergency mode. After logging in, type \"journalctl -xb\" to view "
            "system logs.",
            "Press Enter for maintenance"]


def _running(name: str, f: Mapping[str, Any]) -> list[str]:
    out = ["[  OK  ] Reached target multi-user.target - Multi-User System."]
    if f.get("reported"):
        out.insert(0, "[  OK  ] Finished racker-report-booted.service - Report to racker "
                      "that this node booted.")
    return [*out, "", BANNER, f"{name} login:"]


def _failed(name: str, f: Mapping[str, Any]) -> list[str]:
    return [f"Boot failed: {f.get('reason', '')}"]


_BY_EVENT: dict[str, Lines] = {
    "firmware": _firmware,
    "pxe-dhcp": lambda n, f: [">>Start PXE over IPv4."],
    "lease": _lease,
    "tftp": _tftp,
    "tftp-done": _tftp_done,
    "ipxe-dhcp": _ipxe_dhcp,
    "http": _http,
    "http-error": lambda n, f: [f"{f.get('url', '')}... {f.get('error', '')}"],
    "kernel": _kernel,
    "ignition": _ignition,
    "installing": _installing,
    "install-failed": _install_failed,
    "report-installed": _report,
    "report-install-failed": _report,
    "reboot": _reboot,
    "disk-boot": _disk_boot,
    "os-dhcp": lambda n, f: ["[    3.021180] systemd-networkd[411]: eth0: DHCPv4 address "
                             "acquired"],
    "os-ignition": _os_ignition,
    "ignition-failed": _ignition_failed,
    "running": _running,
    "no-pxe": lambda n, f: ["BdsDxe: failed to load Boot0001 \"UEFI PXEv4\": Not Found",
                            "BdsDxe: No bootable option or device was found."],
    "boot-failed": _failed,
    "halted": lambda n, f: [f"System halted: {f.get('reason', '')}"],
}


def console_lines(name: str, event: str, fields: Mapping[str, Any]) -> list[str]:
    """The console lines of one timeline step of node `name` (none for steps a console does
    not show, such as a power event)."""
    lines = _BY_EVENT.get(event)
    return lines(name, fields) if lines is not None else []
