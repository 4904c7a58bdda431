"""iPXE scripts the boot server hands out (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from racker.core.macs import hyphenated

DEFAULT_KERNEL_CONSOLE = ("console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8")

KERNEL_ASSET = "flatcar/current/flatcar_production_pxe.vmlinuz"
INITRD_ASSET = "flatcar/current/flatcar_production_pxe_image.cpio.gz"


def boot_script() -> str:
    """`/boot.ipxe`: chain to the per-node script, identifying the node by MAC and UUID."""
    return "#!ipxe\nchain ipxe?mac=${mac:hexhyp}&uuid=${uuid}\n"


@dataclass(frozen=True)
class InstallBoot:
    """What the install script of one node needs."""

    base_url: str
    """`http://MGMT:8080`, no trailing slash."""
    mac: str
    kernel_console: Sequence[str] = DEFAULT_KERNEL_CONSOLE
    autologin: bool = True


def install_script(b: InstallBoot) -> str:
    """The install script: Flatcar PXE kernel and initrd with the installer Ignition URL.

    The MAC is written literally (not `${mac:hexhyp}`) so the script means the same whichever
    NIC iPXE booted from.
    """
    args = [
        "initrd=flatcar_production_pxe_image.cpio.gz",
        f"ignition.config.url={b.base_url}/ignition?mac={hyphenated(b.mac)}&os=installer",
        "flatcar.first_boot=yes",
        *b.kernel_console,
    ]
    if b.autologin:
        args.append("flatcar.autologin")
    return (
        "#!ipxe\n"
        f"kernel {b.base_url}/assets/{KERNEL_ASSET} {' '.join(args)}\n"
        f"initrd {b.base_url}/assets/{INITRD_ASSET}\n"
        "boot\n"
    )
