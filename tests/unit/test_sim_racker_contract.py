"""The lite node understands what racker itself renders: its iPXE scripts and its installer
and installed-node Ignition (racker.core.render.*), not only the e2e test's hand-written peer."""

from __future__ import annotations

from racker.core.render.ignition import transpile_one
from racker.core.render.installer import InstallerSettings, booted_report_clc, installer_clc
from racker.core.render.ipxe import InstallBoot, boot_script, install_script
from racker.sim.nodes import install_config as ic
from racker.sim.nodes.ipxe_interp import Boot, Chain, ipxe_vars, run_script

BASE = "http://172.24.213.1:8080"
MAC = "02:aa:bb:cc:dd:01"
UUID = "cce34cba-3b8c-5183-aeef-67ad8f8ee81e"


def test_ipxe_chain_to_racker_install_script() -> None:
    variables = ipxe_vars(MAC, UUID)
    first = run_script(boot_script(), f"{BASE}/boot.ipxe", variables)
    assert first == Chain(f"{BASE}/ipxe?mac=02-aa-bb-cc-dd-01&uuid={UUID}")
    boot = run_script(install_script(InstallBoot(BASE, MAC)), first.url, variables)
    assert isinstance(boot, Boot)
    assert boot.kernel == f"{BASE}/assets/flatcar/current/flatcar_production_pxe.vmlinuz"
    assert boot.initrds == (f"{BASE}/assets/flatcar/current/flatcar_production_pxe_image.cpio.gz",)
    assert boot.arg("ignition.config.url") == (
        f"{BASE}/ignition?mac=02-aa-bb-cc-dd-01&os=installer")


def test_installer_ignition_from_racker() -> None:
    ign = transpile_one(installer_clc(InstallerSettings(BASE, MAC)), "installer").to_json()
    texts = ic.config_texts(ign)
    plan = ic.find_install_plan(texts)
    assert plan == ic.InstallPlan(f"{BASE}/assets/flatcar", "current", "stable")
    assert ic.find_event_url(texts) == f"{BASE}/racker/v1/nodes/02-aa-bb-cc-dd-01/events"
    assert ic.find_installed_ignition_url(texts) == (
        f"{BASE}/ignition?mac=02-aa-bb-cc-dd-01&os=installed")


def test_installed_node_reports_booted_where_racker_listens() -> None:
    ign = transpile_one(booted_report_clc(BASE, MAC), "booted").to_json()
    assert ic.find_event_url(ic.config_texts(ign)) == (
        f"{BASE}/racker/v1/nodes/02-aa-bb-cc-dd-01/events")
