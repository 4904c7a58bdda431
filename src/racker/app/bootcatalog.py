"""What the boot server serves each node, built from the plan and the configuration folder."""

from __future__ import annotations

from racker.adapters.fs.node_ignition import ConfigFolder, installer_ignition, node_ignition
from racker.core.bootnode import BootNode
from racker.core.render.installer import InstallerSettings, booted_report_clc, installer_clc
from racker.model import ClusterPlan
from racker.paths import Paths
from racker.settings import Settings


def base_url(plan: ClusterPlan, settings: Settings) -> str:
    """`http://MGMT:PORT` as the nodes reach the management node."""
    return f"http://{plan.management_ip}:{settings.boot_port}"


def report_snippet(plan: ClusterPlan, settings: Settings, mac: str) -> tuple[str, str]:
    """The `booted` report unit merged into every node's own config (source, CLC text)."""
    return ("racker booted report", booted_report_clc(base_url(plan, settings), mac))


def boot_nodes(plan: ClusterPlan, folder: ConfigFolder, paths: Paths,
               settings: Settings) -> list[BootNode]:
    """Installer and node Ignition for every planned node (raises on a broken snippet)."""
    url = base_url(plan, settings)
    ssh_key = paths.ssh_public_key
    keys = (ssh_key.read_text().strip(),) if ssh_key.is_file() else ()
    out = []
    for n in plan.nodes:
        installer = installer_clc(InstallerSettings(
            url, n.mac, channel=settings.flatcar_channel, version="current", ssh_keys=keys))
        install_cfg = installer_ignition(folder, n.name, (f"racker installer of {n.name}",
                                                          installer))
        node_cfg = node_ignition(folder, n.name, paths,
                                 extra=[report_snippet(plan, settings, n.mac)])
        out.append(BootNode(
            mac=n.mac, ip=n.ip, name=n.name,
            install_ignition=install_cfg.to_json(pretty=False).encode(),
            node_ignition=node_cfg.to_json(pretty=False).encode(),
            metadata={"domain": n.name},
        ))
    return out
