from __future__ import annotations

from typing import Any

import pytest
import yaml

from racker.core.render import clc
from racker.model import Provision
from tests.renderplans import STATIC, build_plan, flatcar, lokomotive

# The parts of the Container Linux Config schema (coreos/container-linux-config-transpiler,
# config/types) that racker writes: anything else would be ignored or refused by ct.
SCHEMA: dict[str, Any] = {
    "storage": {
        "filesystems": [{"name": None, "path": None, "mount": {
            "device": None, "format": None, "create": None, "wipe_filesystem": None,
            "label": None, "uuid": None, "options": None}}],
        "files": [{"filesystem": None, "path": None, "mode": None, "user": None, "group": None,
                   "overwrite": None, "append": None, "contents": {"inline": None,
                                                                   "remote": None}}],
        "directories": None, "links": None, "disks": None, "raid": None,
    },
    "systemd": {"units": [{"name": None, "enabled": None, "mask": None, "contents": None,
                           "dropins": None}]},
    "networkd": {"units": [{"name": None, "contents": None, "dropins": None}]},
    "passwd": {"users": [{"name": None, "ssh_authorized_keys": None, "password_hash": None,
                          "groups": None}]},
}


def check_schema(doc: Any, schema: Any, where: str = "") -> None:
    if schema is None:
        return
    if isinstance(schema, list):
        assert isinstance(doc, list), where
        for i, item in enumerate(doc):
            check_schema(item, schema[0], f"{where}[{i}]")
        return
    assert isinstance(doc, dict), where
    for key, value in doc.items():
        assert key in schema, f"{where}.{key} is not in the CLC schema"
        check_schema(value, schema[key], f"{where}.{key}")


def test_priv_network_unit() -> None:
    assert clc.priv_network("aa:bb:cc:dd:ee:ff", "10.1.2.3") == (
        "[Match]\nMACAddress=aa:bb:cc:dd:ee:ff\n[Link]\nRequiredForOnline=no\n"
        "[Address]\nAddress=10.1.2.3/24\nScope=link\n[Network]\nDHCP=no\nLinkLocalAddressing=no\n"
    )


def test_public_network_unit() -> None:
    assert clc.public_network(STATIC) == (
        "[Match]\nMACAddress=02:00:00:00:02:01\n[Address]\nAddress=11.22.33.44/22\n"
        "[Network]\nDHCP=no\nLinkLocalAddressing=no\nDNS=1.2.3.4\n"
        "[Route]\nDestination=0.0.0.0/0\nGateway=11.22.33.1\n"
    )


@pytest.mark.parametrize(
    ("options", "networkd", "units", "files"),
    [
        (flatcar(), ["10-priv-stable.network"], ["boot-workaround-efi-disk-persist.service"], []),
        (lokomotive(),
         ["10-priv-stable.network", "10-resolve.netdev", "10-resolve.network"],
         ["boot-workaround-efi-disk-persist.service", "use-systemd-resolved.service"],
         ["/etc/systemd/resolved.conf", "/etc/hosts"]),
    ],
)
def test_node_config_parts(options: Any, networkd: list[str], units: list[str],
                           files: list[str]) -> None:
    plan = build_plan(2, options)
    for node in plan.nodes:
        text = clc.dump(clc.node_config(plan, node))
        doc = yaml.safe_load(text)
        check_schema(doc, SCHEMA)
        assert [u["name"] for u in doc["networkd"]["units"]] == networkd
        assert [u["name"] for u in doc["systemd"]["units"]] == units
        assert [f["path"] for f in doc.get("storage", {}).get("files", [])] == files
        priv = doc["networkd"]["units"][0]["contents"]
        assert f"MACAddress={node.mac}\n" in priv
        assert f"Address={node.ip}/24\n" in priv
        assert all(u["enabled"] is True for u in doc["systemd"]["units"])
        assert "/racker/v1/self/events" in doc["systemd"]["units"][0]["contents"]


def test_lokomotive_node_hosts_list_every_controller() -> None:
    plan = build_plan(5, lokomotive(num_controllers=3, cluster_name="rack1",
                                    k8s_domain_name="example.org"))
    doc = yaml.safe_load(clc.dump(clc.node_config(plan, plan.workers[0])))
    hosts = next(f for f in doc["storage"]["files"] if f["path"] == "/etc/hosts")
    assert hosts["mode"] == 0o644
    lines = hosts["contents"]["inline"].splitlines()
    assert lines[:2] == ["127.0.0.1 localhost", "::1 localhost"]
    assert lines[3:] == [
        f"172.24.213.{2 + i} rack1-etcd{i}.example.org rack1-controller-{i}.example.org "
        "rack1.example.org" for i in range(3)
    ]


def test_modes_are_written_in_octal() -> None:
    plan = build_plan(1, lokomotive())
    text = clc.dump(clc.node_config(plan, plan.nodes[0]))
    assert "mode: 0644" in text
    assert "mode: 420" not in text


@pytest.mark.parametrize("provision", [Provision.FLATCAR, Provision.LOKOMOTIVE])
def test_custom_config(provision: Provision) -> None:
    opts = flatcar() if provision is Provision.FLATCAR else lokomotive()
    plan = build_plan(2, opts, statics={1: STATIC})
    with_static = next(n for n in plan.nodes if n.static is not None)
    without = next(n for n in plan.nodes if n.static is None)
    doc = yaml.safe_load(clc.render_custom(with_static))
    check_schema(doc, SCHEMA)
    unit = doc["networkd"]["units"][0]
    assert unit["name"] == "10-public-stable.network"
    assert unit["contents"] == clc.public_network(STATIC)
    # without a static address: comments only, which is an empty YAML document
    text = clc.render_custom(without)
    assert text.strip() and yaml.safe_load(text) is None


def test_base_config_wipes_root_under_storage_filesystems() -> None:
    doc = clc.base_config(["ssh-ed25519 AAAA key"])
    check_schema(doc, SCHEMA)
    assert "filesystems" not in doc
    assert doc["storage"]["filesystems"] == [{"name": "root", "mount": {
        "device": "/dev/disk/by-label/ROOT", "format": "ext4", "wipe_filesystem": True,
        "label": "ROOT"}}]
    assert doc["passwd"]["users"] == [{"name": "core",
                                        "ssh_authorized_keys": ["ssh-ed25519 AAAA key"]}]


def test_base_template_is_terraform_template_of_base_config() -> None:
    text = clc.base_template()
    assert "ssh_authorized_keys: ${ssh_keys}\n" in text
    # Terraform substitutes jsonencode(keys): the result must be base_config(keys).
    keys = ["ssh-rsa AAAA one", "ssh-rsa BBBB two"]
    import json

    rendered = yaml.safe_load(text.replace("${ssh_keys}", json.dumps(keys)))
    assert rendered == yaml.safe_load(clc.dump(clc.base_config(keys)))


def test_dump_of_nothing_is_empty() -> None:
    assert clc.dump(None) == ""
    assert clc.dump({}) == ""


@pytest.mark.parametrize("options", [flatcar(), lokomotive(num_controllers=3)])
def test_node_configs_from_one_template_equal_direct_dumps(options: Any) -> None:
    plan = build_plan(12, options, statics={3: STATIC})
    configs = clc.render_node_configs(plan)
    assert list(configs) == [n.name for n in plan.nodes]
    for node in plan.nodes:
        assert configs[node.name] == clc.dump(clc.node_config(plan, node))


def test_node_configs_of_empty_plan() -> None:
    assert clc.render_node_configs(build_plan(2, flatcar(), exclude=[1, 2])) == {}
