from __future__ import annotations

from pathlib import Path

import pytest

from racker.core.render.dnsmasq import IPXE_DIR, DnsmasqSettings, dhcp_hosts, render_dnsmasq
from racker.model import ClusterPlan
from tests.renderplans import build_plan, flatcar, lokomotive

SETTINGS = DnsmasqSettings(interface="eth1", lease_file=Path("/state/dnsmasq/dnsmasq.leases"),
                           pid_file=Path("/state/dnsmasq/dnsmasq.pid"))


def directives(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


@pytest.mark.parametrize(
    ("plan", "line"),
    [
        (build_plan(2, flatcar()), "dhcp-range=172.24.213.128,172.24.213.254,255.255.255.0,2m"),
        (build_plan(2, flatcar(subnet_prefix="10.9.8")),
         "dhcp-range=10.9.8.128,10.9.8.254,255.255.255.0,2m"),
        (build_plan(2, flatcar(subnet_prefix="10.9.8")),
         "dhcp-boot=tag:ipxe,http://10.9.8.1:8080/boot.ipxe"),
        (build_plan(2, flatcar()), "dhcp-boot=tag:ipxe,http://172.24.213.1:8080/boot.ipxe"),
        (build_plan(2, flatcar()), "dhcp-userclass=set:ipxe,iPXE"),
        (build_plan(2, flatcar()), "dhcp-match=set:bios,option:client-arch,0"),
        (build_plan(2, flatcar()), "dhcp-boot=tag:bios,tag:!ipxe,undionly.kpxe"),
        (build_plan(2, flatcar()), "dhcp-match=set:efi64,option:client-arch,9"),
        (build_plan(2, flatcar()), "dhcp-boot=tag:efi64,tag:!ipxe,ipxe.efi"),
        (build_plan(2, flatcar()), "dhcp-boot=tag:efibc,tag:!ipxe,ipxe.efi"),
        (build_plan(2, flatcar()), "dhcp-boot=tag:efi32,tag:!ipxe,ipxe.efi"),
        (build_plan(2, flatcar()), "interface=eth1"),
        (build_plan(2, flatcar()), "bind-interfaces"),
        (build_plan(2, flatcar()), "except-interface=lo"),
        (build_plan(2, flatcar()), "enable-tftp"),
        (build_plan(2, flatcar()), f"tftp-root={IPXE_DIR}"),
        (build_plan(2, flatcar()), "dhcp-leasefile=/state/dnsmasq/dnsmasq.leases"),
        (build_plan(2, flatcar()), "dhcp-option=3"),
        (build_plan(2, flatcar()), "dhcp-option=6"),
        (build_plan(2, flatcar()), "dhcp-authoritative"),
        (build_plan(2, flatcar()), "dhcp-ignore-clid"),
        (build_plan(2, flatcar()), "dhcp-host=02:00:00:00:00:01,172.24.213.2,2m"),
        (build_plan(2, flatcar()), "dhcp-host=02:00:00:00:01:01,172.24.213.4,2m"),
        (build_plan(2, flatcar()), "dhcp-host=02:00:00:00:01:02,172.24.213.5,2m"),
        (build_plan(3, lokomotive()), "dhcp-host=02:00:00:00:01:03,172.24.213.7,2m"),
    ],
)
def test_directive_present(plan: ClusterPlan, line: str) -> None:
    assert line in directives(render_dnsmasq(plan, SETTINGS))


def test_dhcp_hosts_cover_planned_nodes_only() -> None:
    plan = build_plan(4, flatcar(), exclude=[2])
    hosts = [ln for ln in directives(render_dnsmasq(plan, SETTINGS)) if ln.startswith("dhcp-host")]
    # 3 planned nodes × (primary, BMC); the excluded node keeps its numbers but gets no entry.
    assert len(hosts) == 6
    assert not any("02:00:00:00:00:02" in h or "02:00:00:00:01:02" in h for h in hosts)
    assert dict(dhcp_hosts(plan))["02:00:00:00:01:03"] == "172.24.213.8"


def test_ipxe_user_class_is_never_sent_back_to_tftp() -> None:
    # iPXE reports a client architecture too: every TFTP boot line must exclude it.
    for line in directives(render_dnsmasq(build_plan(1, flatcar()), SETTINGS)):
        if line.startswith("dhcp-boot=") and not line.startswith("dhcp-boot=tag:ipxe,"):
            assert "tag:!ipxe" in line


def test_dhcp_script_optional() -> None:
    plan = build_plan(1, flatcar())
    lines = directives(render_dnsmasq(plan, SETTINGS))
    assert not any(ln.startswith("dhcp-script") for ln in lines)
    with_script = DnsmasqSettings("eth1", Path("/l"), Path("/p"), dhcp_script=Path("/usr/bin/x"))
    assert "dhcp-script=/usr/bin/x" in directives(render_dnsmasq(plan, with_script))


def test_ipxe_binaries_exist_where_tftp_root_points() -> None:
    # Debian's ipxe package: the files dnsmasq hands out must be in tftp-root.
    assert (IPXE_DIR / "undionly.kpxe").is_file()
    assert (IPXE_DIR / "ipxe.efi").is_file()



def test_no_ping_only_when_asked() -> None:
    from dataclasses import replace

    plan = build_plan(2, flatcar())
    assert "no-ping" not in directives(render_dnsmasq(plan, SETTINGS))
    assert "no-ping" in directives(render_dnsmasq(plan, replace(SETTINGS, no_ping=True)))
