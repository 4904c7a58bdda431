"""Container Linux Configs (CLC YAML) of the nodes: `cl/<name>.yaml` and `cl/<name>-custom.yaml`.

Documents are built as plain dicts in the CLC schema (`networkd.units`, `systemd.units`,
`storage.files`, `storage.filesystems`, `passwd.users`) and dumped as YAML with literal blocks
for unit contents and octal file modes, so that they read like hand-written configs. The
"ignition" part of racker transpiles them to Ignition 3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import yaml

from racker.core.render import inband_disk_boot_command
from racker.model import ClusterPlan, PlannedNode, Provision, StaticAddress

RESOLVE_ADDR = "192.0.2.254"
"""Address of the dummy `resolve` link where systemd-resolved also listens (TEST-NET-1)."""

Doc = dict[str, Any]


class FileMode(int):
    """A file mode that YAML shows in octal (`0644`), as operators write it."""


class _Dumper(yaml.SafeDumper):
    """Safe YAML dumper with literal blocks, octal modes and indented lists (as people write)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _mode(dumper: yaml.SafeDumper, value: FileMode) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:int", f"0{int(value):o}")


_Dumper.add_representer(str, _str)
_Dumper.add_representer(FileMode, _mode)


def dump(doc: Mapping[str, Any] | None) -> str:
    """The YAML text of a CLC document, keys in the order given."""
    if not doc:
        return ""
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                          allow_unicode=True, width=1000)
    return text


def _unit(*sections: tuple[str, Sequence[str]]) -> str:
    """systemd/networkd unit text from `(section, lines)` pairs."""
    out: list[str] = []
    for name, lines in sections:
        out.append(f"[{name}]")
        out.extend(lines)
    return "\n".join(out) + "\n"


def priv_network(mac: str, ip: str) -> str:
    """`10-priv-stable.network`: the fixed internal address on the primary NIC, link scope."""
    return _unit(
        ("Match", [f"MACAddress={mac}"]),
        ("Link", ["RequiredForOnline=no"]),
        ("Address", [f"Address={ip}/24", "Scope=link"]),
        ("Network", ["DHCP=no", "LinkLocalAddressing=no"]),
    )


def public_network(static: StaticAddress) -> str:
    """`10-public-stable.network`: the static public address on the secondary NIC."""
    return _unit(
        ("Match", [f"MACAddress={static.secondary_mac}"]),
        ("Address", [f"Address={static.address}"]),
        ("Network", ["DHCP=no", "LinkLocalAddressing=no", f"DNS={static.dns}"]),
        ("Route", ["Destination=0.0.0.0/0", f"Gateway={static.gateway}"]),
    )


def disk_boot_unit(management_ip: str) -> Doc:
    """The unit that keeps "boot from disk" persistent (BMCs forget it after 60 s otherwise)."""
    contents = _unit(
        ("Unit", [
            "Description=Keep booting from disk: report this boot to racker, which sets the"
            " persistent disk boot device over IPMI (and the 60 s boot-flag timer off)",
            "Requires=network-online.target",
            "After=network-online.target",
        ]),
        ("Service", [
            "Type=oneshot",
            "RemainAfterExit=yes",
            "Restart=on-failure",
            "RestartSec=5s",
            f"ExecStart={inband_disk_boot_command(management_ip)}",
        ]),
        ("Install", ["WantedBy=multi-user.target"]),
    )
    return {"name": "boot-workaround-efi-disk-persist.service", "enabled": True,
            "contents": contents}


def _resolver_netdevs() -> list[Doc]:
    """A dummy link `resolve` with an address where systemd-resolved answers pods too."""
    netdev = _unit(("NetDev", ["Name=resolve", "Kind=dummy"]))
    network = _unit(
        ("Match", ["Name=resolve"]),
        ("Link", ["RequiredForOnline=no"]),
        ("Address", [f"Address={RESOLVE_ADDR}/32", "Scope=host"]),
        ("Network", ["DHCP=no", "LinkLocalAddressing=no"]),
    )
    return [{"name": "10-resolve.netdev", "contents": netdev},
            {"name": "10-resolve.network", "contents": network}]


def _resolver_service() -> Doc:
    # Kubelet and CoreDNS refuse a resolv.conf pointing at 127.0.0.53, so the stub file is
    # rewritten to the `resolve` link's address, and kept so while resolved rewrites it.
    script = (
        f"while true; do sed -i 's/127.0.0.53/{RESOLVE_ADDR}/g'"
        " /run/systemd/resolve/stub-resolv.conf;"
        " ln -fs /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf; sleep 1; done"
    )
    contents = _unit(
        ("Unit", [
            "Description=Point /etc/resolv.conf at systemd-resolved in a way Kubelet and"
            " CoreDNS can use",
            "PartOf=systemd-resolved.service",
            "After=systemd-resolved.service",
        ]),
        ("Service", ["Type=simple", "Restart=always", "RestartSec=1s",
                     f'ExecStart=/bin/sh -c "{script}"']),
        ("Install", ["RequiredBy=systemd-resolved.service"]),
    )
    return {"name": "use-systemd-resolved.service", "enabled": True, "contents": contents}


def _file(path: str, text: str, mode: int = 0o644) -> Doc:
    return {"path": path, "filesystem": "root", "mode": FileMode(mode),
            "contents": {"inline": text}}


def etc_hosts(plan: ClusterPlan) -> str:
    """A node's /etc/hosts: every controller under its etcd, node and API server names.

    systemd-resolved returns all addresses of the API server name from here, which gives
    kubectl and the kubelets a highly available control plane without a load balancer.
    """
    o = plan.options
    lines = ["127.0.0.1 localhost", "::1 localhost",
             "# all controllers, for the HA API server name (resolved through systemd-resolved)"]
    for c in plan.controllers:
        lines.append(f"{c.ip} {o.cluster_name}-etcd{c.index}.{o.k8s_domain_name} {c.name} "
                     f"{o.cluster_name}.{o.k8s_domain_name}")
    return "\n".join(lines) + "\n"


def node_config(plan: ClusterPlan, node: PlannedNode) -> Doc:
    """`cl/<name>.yaml`: internal address, persistent disk boot, and for Lokomotive the resolver.
    """
    networkd: list[Doc] = [{"name": "10-priv-stable.network",
                            "contents": priv_network(node.mac, node.ip)}]
    units: list[Doc] = [disk_boot_unit(plan.management_ip)]
    doc: Doc = {"networkd": {"units": networkd}, "systemd": {"units": units}}
    if plan.options.provision is Provision.LOKOMOTIVE:
        networkd.extend(_resolver_netdevs())
        units.append(_resolver_service())
        doc["storage"] = {"files": [
            _file("/etc/systemd/resolved.conf",
                  f"[Resolve]\nDNSStubListenerExtra={RESOLVE_ADDR}\n"),
            _file("/etc/hosts", etc_hosts(plan)),
        ]}
    return doc


_MAC_SLOT = "RACKER-NODE-MAC"
_IP_SLOT = "RACKER-NODE-IP"


def render_node_configs(plan: ClusterPlan) -> dict[str, str]:
    """The text of every planned node's `cl/<name>.yaml`, by node name.

    All nodes' configs have the same shape and differ only in MAC and internal address, so the
    YAML is dumped once with slots and filled in per node (a 62-node rack would otherwise spend
    most of its rendering time in the YAML emitter). MACs and addresses are plain tokens inside
    literal blocks, so filling them in cannot change the YAML structure.
    """
    if not plan.nodes:
        return {}
    first = plan.nodes[0]
    slot = replace(first, node=replace(first.node, primary_mac=_MAC_SLOT), ip=_IP_SLOT)
    template = dump(node_config(plan, slot))
    return {n.name: template.replace(_MAC_SLOT, n.mac).replace(_IP_SLOT, n.ip)
            for n in plan.nodes}


def custom_config(node: PlannedNode) -> Doc | None:
    """`cl/<name>-custom.yaml`: the static public address if the node has one, else nothing."""
    if node.static is None:
        return None
    return {"networkd": {"units": [{"name": "10-public-stable.network",
                                    "contents": public_network(node.static)}]}}


CUSTOM_PLACEHOLDER = (
    "# Container Linux Config snippet for {name}, merged after cl/{name}.yaml.\n"
    "# Empty: the public interface uses DHCP. Add your own units and files here.\n"
)


def render_custom(node: PlannedNode) -> str:
    """The text of `cl/<name>-custom.yaml` (comments only when there is nothing to configure)."""
    doc = custom_config(node)
    return dump(doc) if doc else CUSTOM_PLACEHOLDER.format(name=node.name)


IGNITION_RAN_FLAG = "/ignition_ran"


def base_config(ssh_keys: Sequence[str]) -> Doc:
    """The base CLC every Flatcar node gets before its snippets: ROOT wipe, flag file, SSH keys.

    The wipe sits under `storage.filesystems`, where the CLC schema has it (the reference put it
    at the top level, where it was ignored).
    """
    return {
        "storage": {
            "filesystems": [{"name": "root", "mount": {
                "device": "/dev/disk/by-label/ROOT", "format": "ext4",
                "wipe_filesystem": True, "label": "ROOT"}}],
            "files": [_file(IGNITION_RAN_FLAG,
                            "Flag file: Ignition ran on this boot.\n"
                            "The provisioning step that checks it deletes it.\n")],
        },
        "passwd": {"users": [{"name": "core", "ssh_authorized_keys": list(ssh_keys)}]},
    }


_KEYS_SENTINEL = "RACKER-SSH-KEYS-PLACEHOLDER"


def base_template() -> str:
    """`templates/base.yaml.tmpl`: base_config() as a Terraform template taking `ssh_keys`."""
    text = dump(base_config([_KEYS_SENTINEL]))
    # templatefile() gets ssh_keys as a JSON list, which is also a YAML flow sequence.
    return "---\n" + re.sub(rf"\n *- {_KEYS_SENTINEL}\n", " ${ssh_keys}\n", text)
