"""What the boot server serves each node, built from the plan and the configuration folder."""

from __future__ import annotations

from racker.model import ClusterPlan
from racker.node_ignition import ConfigFolder, node_ignition
from racker.paths import Paths
from racker.render import clc_paths
from racker.render.ignition import merge, to_json, transpile
from racker.render.installer import InstallerSettings, booted_report_clc, installer_clc
from racker.services.bootserver import BootNode
from racker.settings import Settings


def base_url(plan: ClusterPlan, settings: Settings) -> str:
    """`http://MGMT:PORT` as the nodes reach the management node."""
    return f"http://{plan.management_ip}:{settings.boot_port}"


def boot_nodes(plan: ClusterPlan, folder: ConfigFolder, paths: Paths,
               settings: Settings) -> list[BootNode]:
    """Installer and node Ignition for every planned node (raises on a broken snippet)."""
    url = base_url(plan, settings)
    ssh_key = paths.home / ".ssh" / "id_rsa.pub"
    keys = (ssh_key.read_text().strip(),) if ssh_key.is_file() else ()
    any_static = any(n.static for n in plan.nodes)
    out = []
    for n in plan.nodes:
        installer = [(f"racker installer of {n.name}", installer_clc(InstallerSettings(
            url, n.mac, channel=settings.flatcar_channel, version="current", ssh_keys=keys)))]
        if any_static:
            custom = folder.path / clc_paths(n.name)[1]
            if custom.is_file():
                installer.append((str(custom), custom.read_text()))
        node_cfg = node_ignition(folder, n.name, paths).config
        report = transpile([(f"racker report of {n.name}", booted_report_clc(url, n.mac))])
        out.append(BootNode(
            mac=n.mac, ip=n.ip, name=n.name,
            install_ignition=transpile(installer).to_json(pretty=False).encode(),
            node_ignition=to_json(merge(node_cfg, report.config), pretty=False).encode(),
            metadata={"domain": n.name},
        ))
    return out
