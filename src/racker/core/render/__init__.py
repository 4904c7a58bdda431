"""Pure renderers: a ClusterPlan (and the Paths it lives in) becomes file contents: the
configuration folder, dnsmasq.conf, hosts entries, iPXE scripts and Ignition.

Nothing here reads or writes files; `racker.adapters.fs.configdir`,
`racker.adapters.fs.hostsfile` and `racker.app.configuration.create` do the I/O. The files are
semantically those of the reference (same file names, HCL variables and values, networkd
units), so the documented manual procedures apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from racker.model import Provision
from racker.paths import Paths

BOOT_HTTP_PORT = 8080
"""Port of the boot server (matchbox-compatible HTTP: /boot.ipxe, /ipxe, /ignition, /assets)."""
MATCHBOX_API_PORT = 8081
"""Port of the matchbox gRPC API that the Terraform and lokoctl providers talk to."""

DEFAULT_KERNEL_CONSOLE = ("console=ttyS1,57600n8", "earlyprintk=serial,ttyS1,57600n8")
"""The serial console of the rack's servers (IPMI SOL on ttyS1)."""

PXE_COMMANDS = "racker pxe-boot $mac $domain"
"""What Terraform/lokoctl run to force a PXE reinstall; they set `$mac` and `$domain`."""

def ssh_pubkey(paths: Paths) -> str:
    """The management key's public half as the rendered Terraform/lokoctl files name it:
    `~/...` under the home folder (as the reference wrote it), else its absolute path."""
    pub = paths.ssh_public_key
    try:
        return "~/" + pub.relative_to(paths.home).as_posix()
    except ValueError:
        return pub.as_posix()


@dataclass(frozen=True)
class RenderedFile:
    """One file of a rendered tree: a path relative to the tree's root, its text and mode."""

    path: PurePosixPath
    content: str
    mode: int = 0o644


def folder_name(provision: Provision) -> str:
    """The configuration folder's name under $HOME for a provision type."""
    return "lokomotive" if provision is Provision.LOKOMOTIVE else "flatcar-container-linux"


def config_folder(paths: Paths, provision: Provision) -> Path:
    """Absolute path of the configuration folder for a provision type."""
    return paths.lokomotive_dir if provision is Provision.LOKOMOTIVE else paths.flatcar_dir


def asset_dir(paths: Paths, provision: Provision) -> Path:
    """Where the flag files `<MAC>` of provisioned nodes live (the reference's layout)."""
    folder = config_folder(paths, provision)
    return folder / ("lokoctl-assets" if provision is Provision.LOKOMOTIVE else "assets")


def _report(management_ip: str, event: str) -> str:
    return (f"curl --fail --silent --show-error --retry 30 --retry-delay 2 --retry-all-errors "
            f"-H 'Content-Type: application/json' -d '{{\"event\": \"{event}\"}}' "
            f"http://{management_ip}:8080/racker/v1/self/events")


def inband_disk_boot_command(management_ip: str) -> str:
    """What a node runs at every boot so that "boot from disk" stays set.

    NOTE: the node tells racker (identified by its address) that it booted, and racker sets the
    boot device (parameter 3 = 0x1f, then persistent disk) over IPMI before it answers: BMCs
    that forget their boot flags are corrected at every boot, without ipmitool on the node.
    """
    return _report(management_ip, "booted")


def install_pre_reboot_command(management_ip: str) -> str:
    """What the installer runs before its reboot: racker sets boot device disk, then answers."""
    return _report(management_ip, "installed")


def clc_paths(name: str) -> tuple[str, str]:
    """The node's two Container Linux Config files, relative to the configuration folder."""
    return (f"cl/{name}.yaml", f"cl/{name}-custom.yaml")
