"""The rendered dnsmasq.conf against the real dnsmasq: syntax check, then real DHCP in netns."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from racker.core.render.dnsmasq import IPXE_DIR, DnsmasqSettings, render_dnsmasq
from racker.model import ClusterPlan
from tests.conftest import require_root, require_tool
from tests.renderplans import build_plan, flatcar, lokomotive

pytestmark = pytest.mark.dnsmasq


def settings(tmp_path: Path, interface: str = "eth1") -> DnsmasqSettings:
    return DnsmasqSettings(interface=interface, lease_file=tmp_path / "dnsmasq.leases",
                           pid_file=tmp_path / "dnsmasq.pid", tftp_root=IPXE_DIR)


@pytest.mark.parametrize(
    "plan",
    [build_plan(1, flatcar()), build_plan(62, lokomotive(num_controllers=3)),
     build_plan(5, flatcar(subnet_prefix="10.0.7"), exclude=[2])],
    ids=["flatcar-1", "lokomotive-62", "flatcar-excluded"],
)
def test_dnsmasq_accepts_the_syntax(tmp_path: Path, plan: ClusterPlan) -> None:
    dnsmasq = require_tool("dnsmasq")
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(render_dnsmasq(plan, settings(tmp_path)))
    r = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True,
                       timeout=10, check=False)
    assert r.returncode == 0, r.stderr
    assert "syntax check OK" in r.stderr
    # and the check is real: a broken line is refused
    conf.write_text(conf.read_text() + "dhcp-range=nonsense\n")
    r = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True,
                       timeout=10, check=False)
    assert r.returncode != 0


# ---- real DHCP: dnsmasq in one namespace, busybox udhcpc in another -----------------------

@dataclass
class Rack:
    server_ns: str
    client_ns: str
    server_if: str
    client_if: str
    tmp: Path


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=10, capture_output=True)


@pytest.fixture
def rack(tmp_path: Path) -> Iterator[Rack]:
    require_root()
    require_tool("ip")
    sfx = secrets.token_hex(3)
    server_ns, client_ns = f"rndrs-{sfx}", f"rndrc-{sfx}"
    srv_if, cli_if = f"rndr0{sfx}", f"rndr1{sfx}"
    _ip("netns", "add", server_ns)
    try:
        _ip("netns", "add", client_ns)
        try:
            _ip("link", "add", srv_if, "netns", server_ns, "type", "veth", "peer", "name",
                cli_if, "netns", client_ns)
            for ns, ifname in ((server_ns, srv_if), (client_ns, cli_if)):
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", ifname, "up")
            _ip("-n", server_ns, "addr", "add", "172.24.213.1/24", "dev", srv_if)
            yield Rack(server_ns, client_ns, srv_if, cli_if, tmp_path)
        finally:
            subprocess.run(["ip", "netns", "del", client_ns], timeout=10, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", server_ns], timeout=10, check=False)


SCRIPT = """#!/bin/sh
# udhcpc event hook for the test: record the offer, never configure anything.
[ "$1" = bound ] || exit 0
printf 'ip=%s\\nboot_file=%s\\nrouter=%s\\ndns=%s\\n' "$ip" "$boot_file" "$router" "$dns" > "$OUT"
"""


def dhcp(rack: Rack, mac: str, *extra: str) -> dict[str, str]:
    """One DHCP exchange from `mac` in the client namespace; the bound values udhcpc saw."""
    _ip("-n", rack.client_ns, "link", "set", rack.client_if, "address", mac)
    script = rack.tmp / "hook.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    out = rack.tmp / f"bound-{secrets.token_hex(3)}"
    subprocess.run(
        ["ip", "netns", "exec", rack.client_ns, "busybox", "udhcpc", "-f", "-q", "-n",
         "-t", "5", "-T", "1", "-i", rack.client_if, "-s", str(script), *extra],
        env={**os.environ, "OUT": str(out)}, timeout=20, check=True, capture_output=True,
    )
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


@pytest.mark.root
def test_real_dhcp_fixed_addresses_and_ipxe_chain(rack: Rack) -> None:
    dnsmasq = require_tool("dnsmasq")
    require_tool("busybox")
    plan = build_plan(3, flatcar())
    conf = rack.tmp / "dnsmasq.conf"
    conf.write_text(render_dnsmasq(plan, settings(rack.tmp, interface=rack.server_if)))
    proc = subprocess.Popen(["ip", "netns", "exec", rack.server_ns, dnsmasq, "-C", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        node = plan.nodes[1]
        # PXE firmware, BIOS: the fixed address and undionly.kpxe; no router, no DNS
        got = dhcp(rack, node.mac, "-x", "0x5d:0000")
        assert got == {"ip": node.ip, "boot_file": "undionly.kpxe", "router": "", "dns": ""}
        # PXE firmware, EFI x86-64
        assert dhcp(rack, node.mac, "-x", "0x5d:0009")["boot_file"] == "ipxe.efi"
        # iPXE (user class "iPXE", same arch): chained to racker's boot script
        got = dhcp(rack, node.mac, "-x", "0x5d:0009", "-x", "0x4d:69505845")
        assert got["boot_file"] == "http://172.24.213.1:8080/boot.ipxe"
        # the node's BMC gets its own fixed address
        assert dhcp(rack, node.node.bmc_mac)["ip"] == node.bmc_ip
        # an unknown machine gets a lease from the pool in the upper half
        last = int(dhcp(rack, "02:99:00:00:00:01")["ip"].rsplit(".", 1)[1])
        assert 128 <= last <= 254
        assert node.mac in (rack.tmp / "dnsmasq.leases").read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
