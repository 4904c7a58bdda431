"""Finding a BMC by ARP on a real link: two network namespaces joined by a veth pair.

The "management node" side runs racker's locator (and the `ipmi` helper) inside its namespace;
the "BMC" side has the BMC MAC and an address. Nothing is configured on a host interface: both
ends and their addresses live in namespaces this test creates and always deletes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_root, require_tool
from tests.integration._ipmisim_rki import ipmi_sims
from tests.netns import Link, ip, veth_pair
from tests.rackfixtures import IPMI_PASSWORD, IPMI_USER, bmc_mac, secondary_mac, write_rack

pytestmark = [pytest.mark.root]

BMC = bmc_mac(1)

_LOOKUP = """
import json, sys
from pathlib import Path
from racker.adapters.bmc.locate import Locator
from racker.errors import BmcError
from racker.paths import Paths
state, iface, mac, active, *routes = sys.argv[1:]
p = Paths(oem_dir=Path(state), state_dir=Path(state), hosts_file=Path(state) / "hosts",
          sys_class_net=Path(state), home=Path(state))
loc = Locator(p, iface, active_scan=active == "1")
found = loc.lookup_once(mac)
out = {"found": None if found is None else [found.ip, str(found.source)], "routes": {}}
for r in routes:
    try:
        loc.check_route(r)
        out["routes"][r] = "ok"
    except BmcError as e:
        out["routes"][r] = str(e)
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Net:
    link: Link
    mgmt_ip: str
    bmc_ip: str


@pytest.fixture
def net() -> Iterator[Net]:
    require_root()
    require_tool("arp-scan")
    base = f"10.{secrets.randbelow(50) + 200}.{secrets.randbelow(250) + 1}"
    with veth_pair("rki", left_mac=secondary_mac(0), right_mac=BMC) as link:
        ip("-n", link.left_ns, "addr", "add", f"{base}.1/24", "dev", link.left_if)
        ip("-n", link.right_ns, "addr", "add", f"{base}.2/24", "dev", link.right_if)
        yield Net(link, f"{base}.1", f"{base}.2")


def _in_ns(ns: str, *argv: str, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def _lookup(net: Net, state: Path, active: bool, *routes: str) -> dict[str, object]:
    p = _in_ns(net.link.left_ns, sys.executable, "-c", _LOOKUP, str(state), net.link.left_if,
               BMC, "1" if active else "0", *routes)
    assert p.returncode == 0, p.stderr
    result: dict[str, object] = json.loads(p.stdout)
    return result


def test_arp_scan_finds_the_bmc(net: Net, tmp_path: Path) -> None:
    got = _lookup(net, tmp_path, True, net.bmc_ip, "192.0.2.1")
    assert got["found"] == [net.bmc_ip, "arp-scan"]
    routes = got["routes"]
    assert isinstance(routes, dict)
    assert routes[net.bmc_ip] == "ok"
    # No default route in the namespace: an address off the PXE subnet is refused.
    assert 'not via the PXE interface "' + net.link.left_if + '"' in routes["192.0.2.1"]
    assert "changed the internal subnet" in routes["192.0.2.1"]


def test_neighbour_table_without_scanning(net: Net, tmp_path: Path) -> None:
    assert _lookup(net, tmp_path, False)["found"] is None
    # One UDP datagram makes the kernel resolve the address by ARP (a neighbour entry).
    send = ("import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
            ".sendto(b'x', (sys.argv[1], 9))")
    for _ in range(20):  # bounded: ARP resolution is asynchronous
        sent = _in_ns(net.link.left_ns, sys.executable, "-c", send, net.bmc_ip)
        assert sent.returncode == 0, sent.stderr
        found = _lookup(net, tmp_path, False)["found"]
        if found is not None:
            break
        time.sleep(0.1)
    assert found == [net.bmc_ip, "neighbour table"]


def test_ipmi_helper_finds_the_bmc_by_arp_only(net: Net, tmp_path: Path) -> None:
    """No lease, no neighbour entry: `ipmi` must ARP-scan the PXE interface to reach the BMC."""
    require_tool("ipmi_sim")
    env = write_rack(tmp_path, 1)
    sysnet = Path(env["RACKER_SYS_CLASS_NET"])
    shutil.rmtree(sysnet / "eth1")
    (sysnet / net.link.left_if).mkdir()
    (sysnet / net.link.left_if / "address").write_text(secondary_mac(0) + "\n")
    dnsmasq = Path(env["RACKER_STATE_DIR"]) / "dnsmasq"
    dnsmasq.mkdir()
    planned = net.bmc_ip.rsplit(".", 1)[0] + ".77"
    (dnsmasq / "dnsmasq.conf").write_text(f"dhcp-host={BMC},{planned},2m\n")
    full = {**os.environ, **env, "USE_STDIN": "0", "USE_TTY": "0", "RETRY_SEC": "10",
            "IPMI_TIMEOUT": "2"}
    ipmi = str(Path(sys.executable).with_name("ipmi"))
    with ipmi_sims(tmp_path / "sims", [net.bmc_ip], IPMI_USER, IPMI_PASSWORD,
                   netns=net.link.right_ns):
        p = _in_ns(net.link.left_ns, ipmi, BMC.upper(), "power", "status", env=full)
    assert p.returncode == 0, p.stdout + p.stderr
    # neither a lease nor the neighbour table knows the BMC: the wait is announced at once
    assert p.stdout.splitlines()[0].startswith(f"Waiting up to 10 s for BMC {BMC}"), p.stdout
    assert p.stdout.splitlines()[1:] == [
        "Warning: BMC IP address does not match the static IP address set up with dnsmasq, "
        f'expected "{planned}"',
        "Chassis Power is on",
    ]
    assert IPMI_PASSWORD not in p.stdout + p.stderr
