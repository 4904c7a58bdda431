"""A simulated 3-node lite rack against real peers: dnsmasq (DHCP + TFTP with Debian's iPXE),
ipmitool (lanplus against the virtual BMCs) and an HTTP boot server in the management namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from racker.sim.net.netns import list_netns, netns_pids
from racker.sim.net.topology import Topology
from racker.sim.state import RackDir, load_topology, read_credentials
from tests.conftest import require_root, require_tool

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

PREFIX = "172.24.213"
MGMT_IP = f"{PREFIX}.1"
PEER = Path(__file__).with_name("sim_http_peer.py")
RACKER_SIM = str(Path(sys.executable).with_name("racker-sim"))
"""The racker-sim of the environment running this (the venv's entry point)."""


def sim(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run racker-sim."""
    return subprocess.run([RACKER_SIM, *args], env=env,
                          capture_output=True, text=True, timeout=120, check=check)


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's reaper may be slow)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@dataclass
class Rack:
    name: str
    env: dict[str, str]
    rd: RackDir
    topo: Topology
    work: Path
    dnsmasq: subprocess.Popen[bytes]
    links_before: set[str]

    @property
    def leases(self) -> str:
        p = self.work / "dnsmasq.leases"
        return p.read_text() if p.exists() else ""

    def http_log(self) -> list[dict[str, Any]]:
        p = self.work / "http.jsonl"
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def ipmitool_run(self, bmc_ip: str, *args: str) -> subprocess.CompletedProcess[str]:
        user, password = read_credentials(self.rd)
        # Password via the environment (-E), never in argv.
        return subprocess.run(["ip", "netns", "exec", self.topo.mgmt_ns, "ipmitool", "-I",
                               "lanplus", "-H", bmc_ip, "-U", user, "-E", *args],
                              env={**os.environ, "IPMI_PASSWORD": password},
                              capture_output=True, text=True, timeout=60, check=False)

    def ipmitool(self, bmc_ip: str, *args: str) -> str:
        r = self.ipmitool_run(bmc_ip, *args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def status(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(sim("status", "--name", self.name, "--json",
                                              env=self.env).stdout)
        return info

    def console(self, node: str) -> str:
        return sim("console", node, "--name", self.name, env=self.env).stdout

    def timeline(self, node: str) -> list[dict[str, Any]]:
        out = sim("console", node, "--name", self.name, "--json", env=self.env).stdout
        return [json.loads(line) for line in out.splitlines()]

    def count(self, node: str, event: str) -> int:
        return sum(1 for e in self.timeline(node) if e["event"] == event)


def _dnsmasq_conf(topo: Topology, work: Path) -> str:
    hosts = []
    for s in topo.servers:
        hosts.append(f"dhcp-host={s.bmc_mac},{PREFIX}.{10 + s.index}")
        hosts.append(f"dhcp-host={s.primary_mac},{PREFIX}.{20 + s.index}")
    return "\n".join([
        "port=0", "interface=eth1", "bind-interfaces", "except-interface=lo",
        f"dhcp-range={PREFIX}.128,{PREFIX}.254,255.255.255.0,2m", "dhcp-authoritative",
        "dhcp-ignore-clid", "dhcp-option=3", "dhcp-option=6",
        "enable-tftp", "tftp-root=/usr/lib/ipxe",
        "dhcp-match=set:efi64,option:client-arch,7", "dhcp-boot=tag:efi64,ipxe.efi",
        "dhcp-userclass=set:ipxe,iPXE", f"dhcp-boot=tag:ipxe,http://{MGMT_IP}:8080/boot.ipxe",
        *hosts, f"dhcp-leasefile={work}/dnsmasq.leases", "log-dhcp",
        f"log-facility={work}/dnsmasq.log", "",
    ])


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rack]:
    require_root()
    for tool in ("ip", "dnsmasq", "ipmitool", "udhcpc"):
        require_tool(tool)
    work = tmp_path_factory.mktemp("simrack")
    name = f"rkse2e-{secrets.token_hex(3)}"
    env = {**os.environ, "RACKER_SIM_DIR": str(work / "sim")}
    links_before = host_links()
    rd = RackDir(work / "sim" / name)
    try:
        sim("create", "--generate", "3", "--name", name, "--mgmt-ip", f"{MGMT_IP}/24", env=env)
        topo = load_topology(rd)
        conf = work / "dnsmasq.conf"
        conf.write_text(_dnsmasq_conf(topo, work))
        dnsmasq = subprocess.Popen(["ip", "netns", "exec", topo.mgmt_ns, "dnsmasq",
                                    "--keep-in-foreground", "-C", str(conf)])
        # The boot server runs through `racker-sim exec`, which also proves its environment.
        subprocess.Popen([RACKER_SIM, "exec", name, "--",
                          sys.executable, str(PEER), MGMT_IP, "8080", str(work / "http.jsonl")],
                         env=env)
        r = Rack(name, env, rd, topo, work, dnsmasq, links_before)
        wait_for("the boot server", lambda: bool(r.http_log()), 15)
        yield r
    finally:
        sim("destroy", name, env=env, check=False)


def test_exec_finds_racker_without_an_activated_venv(rack: Rack) -> None:
    # As docs/simulator.md shows: `racker-sim exec NAME -- racker ...` from a shell whose PATH
    # does not hold the virtual environment (sudo's secure_path, no `activate`).
    bare = {**rack.env, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    r = subprocess.run([RACKER_SIM, "exec", rack.name, "--", "racker", "--version"], env=bare,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()[0].isdigit(), r.stdout
    where = subprocess.run([RACKER_SIM, "exec", rack.name, "--", "sh", "-c", "command -v racker"],
                           env=bare, capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.strip() == str(Path(RACKER_SIM).with_name("racker"))


def test_every_bmc_gets_its_lease_from_the_racks_dhcp(rack: Rack) -> None:
    macs = [s.bmc_mac for s in rack.topo.servers]
    wait_for(f"the leases of BMCs {macs}", lambda: all(m in rack.leases for m in macs))
    wait_for("status to show BMC addresses",
             lambda: all(x["bmc_ip"] for x in rack.status()["servers"]), 15)
    got = {x["node"]: x["bmc_ip"] for x in rack.status()["servers"]}
    assert got == {s.name: f"{PREFIX}.{10 + s.index}" for s in rack.topo.servers}
    # The management namespace saw racker's paths through `racker-sim exec`.
    env = rack.http_log()[0]["env"]
    assert env["RACKER_OEM_DIR"] == str(rack.rd.oem)
    assert env["RACKER_SYS_CLASS_NET"] == str(rack.rd.sys_class_net)
    assert (rack.rd.sys_class_net / "eth1" / "address").read_text().strip() == (
        rack.topo.mgmt_secondary_mac)
    assert (rack.rd.oem / "ipmi_password").stat().st_mode & 0o077 == 0


def test_ipmitool_powers_on_a_pxe_node_which_asks_for_dhcp_and_boot_ipxe(rack: Rack) -> None:
    node = rack.topo.servers[0]
    bmc_ip = f"{PREFIX}.{10 + node.index}"
    wait_for("BMC lease", lambda: node.bmc_mac in rack.leases)
    assert "Set Boot Device to pxe" in rack.ipmitool(bmc_ip, "chassis", "bootdev", "pxe",
                                                     "options=persistent")
    assert "off" in rack.ipmitool(bmc_ip, "power", "status")
    rack.ipmitool(bmc_ip, "power", "on")
    assert "on" in rack.ipmitool(bmc_ip, "power", "status")
    wait_for("the node's DHCP lease", lambda: node.primary_mac in rack.leases)
    wait_for("GET /boot.ipxe from the node", lambda: any(
        e.get("path") == "/boot.ipxe" and e["client"] == f"{PREFIX}.{20 + node.index}"
        for e in rack.http_log()))
    console = rack.console(node.name)
    assert "tftp-done" in console and "size=" in console
    st = {x["node"]: x for x in rack.status()["servers"]}[node.name]
    assert (st["power"], st["boot_device"], st["boot_persistent"]) == ("on", "pxe", True)


def _events(rack: Rack, node_ip: str) -> list[str]:
    return [json.loads(e["body"])["event"] for e in rack.http_log()
            if e.get("method") == "POST" and e["client"] == node_ip]


def _bmc(rack: Rack, index: int) -> tuple[Any, str, str]:
    node = rack.topo.servers[index - 1]
    bmc_ip = f"{PREFIX}.{10 + node.index}"
    wait_for("BMC lease", lambda: node.bmc_mac in rack.leases)
    return node, bmc_ip, f"{PREFIX}.{20 + node.index}"


def test_one_time_pxe_installs_then_boots_from_disk_and_reports_booted(rack: Rack) -> None:
    node, bmc_ip, node_ip = _bmc(rack, 2)
    rack.ipmitool(bmc_ip, "chassis", "bootdev", "pxe")  # one-time override
    rack.ipmitool(bmc_ip, "power", "on")
    wait_for("installed and booted", lambda: _events(rack, node_ip) == ["installed", "booted"],
             60)
    paths = [e["path"] for e in rack.http_log() if e.get("client") == node_ip]
    assert "/assets/flatcar/current/version.txt" in paths
    assert "/assets/flatcar/3510.2.6/flatcar_production_image.bin.bz2" in paths
    assert any(p.startswith("/ignition?mac=") and p.endswith("&os=installed") for p in paths)
    st = {x["node"]: x for x in rack.status()["servers"]}[node.name]
    assert (st["phase"], st["installed"], st["boot_device"]) == ("running", True, "none")

    # no-boot-report: the installed system boots and fetches its config but never reports.
    sim("fault", node.name, "no-boot-report", "--name", rack.name, env=rack.env)
    rack.ipmitool(bmc_ip, "power", "reset")
    wait_for("the second disk boot", lambda: rack.count(node.name, "os-ignition") == 2)
    wait_for("the phase running", lambda: "reason=boot report lost" in rack.console(node.name))
    assert _events(rack, node_ip) == ["installed", "booted"]
    sim("fault", node.name, "no-boot-report", "--clear", "--name", rack.name, env=rack.env)

    # boot-flag-lost: racker asks for PXE, the BMC forgets it, the node boots its disk again.
    sim("fault", node.name, "boot-flag-lost", "--name", rack.name, env=rack.env)
    rack.ipmitool(bmc_ip, "chassis", "bootdev", "pxe", "options=persistent")
    rack.ipmitool(bmc_ip, "power", "reset")
    wait_for("a disk boot despite PXE", lambda: _events(rack, node_ip) == [
        "installed", "booted", "booted"])
    firmware = [e for e in rack.timeline(node.name) if e["event"] == "firmware"]
    assert firmware[-1]["boot_device"] == "none" and rack.count(node.name, "pxe-dhcp") == 1
    rack.ipmitool(bmc_ip, "power", "off")


def test_node_faults_no_pxe_dhcp_lost_installer_fails(rack: Rack) -> None:
    node, bmc_ip, node_ip = _bmc(rack, 3)
    sim("fault", node.name, "no-pxe", "--name", rack.name, env=rack.env)
    rack.ipmitool(bmc_ip, "chassis", "bootdev", "pxe", "options=persistent")
    rack.ipmitool(bmc_ip, "power", "on")
    wait_for("no-pxe in the timeline", lambda: rack.count(node.name, "no-pxe") == 1)
    time.sleep(2)
    assert node.primary_mac not in rack.leases

    sim("fault", node.name, "no-pxe", "--clear", "--name", rack.name, env=rack.env)
    sim("fault", node.name, "dhcp-lost", "--name", rack.name, env=rack.env)
    rack.ipmitool(bmc_ip, "power", "reset")
    log = rack.work / "dnsmasq.log"
    wait_for("the node's DISCOVER at the server",
             lambda: f"DHCPDISCOVER(eth1) {node.primary_mac}" in log.read_text())
    time.sleep(3)
    assert node.primary_mac not in rack.leases  # offers never reached it: no REQUEST, no lease

    sim("fault", node.name, "dhcp-lost", "--clear", "--name", rack.name, env=rack.env)
    sim("fault", node.name, "installer-fails", "--name", rack.name, env=rack.env)
    rack.ipmitool(bmc_ip, "power", "reset")
    wait_for("install-failed", lambda: rack.count(node.name, "install-failed") == 1)
    # the installer reports its failure (with its journal's tail), never `installed`
    wait_for("the installer's failure report",
             lambda: "install-failed" in _events(rack, node_ip))
    assert _events(rack, node_ip) == ["install-failed"]
    st = {x["node"]: x for x in rack.status()["servers"]}[node.name]
    # its last step: the failure report (after the failure itself, which its console shows)
    assert st["phase"] == "report-install-failed" and "installer-fails" in st["faults"]
    rack.ipmitool(bmc_ip, "power", "off")
    wait_for("power off", lambda: {x["node"]: x for x in rack.status()["servers"]}[
        node.name]["phase"] == "off")


@pytest.mark.parametrize(
    ("kind", "error"),
    [("bmc-down", "Unable to establish IPMI v2 / RMCP+ session"),
     ("bmc-bad-credentials", "RAKP 2 HMAC is invalid|Unable to establish"),
     ("bmc-no-session", "Unable to establish IPMI v2 / RMCP+ session")],
)
def test_bmc_faults_make_ipmitool_fail_until_cleared(rack: Rack, kind: str, error: str) -> None:
    node, bmc_ip, _ = _bmc(rack, 1)
    sim("fault", node.name, kind, "--name", rack.name, env=rack.env)
    started = time.monotonic()
    r = rack.ipmitool_run(bmc_ip, "-N", "1", "-R", "1", "power", "status")
    assert r.returncode != 0
    assert any(e in r.stderr for e in error.split("|")), r.stderr
    assert kind in {x["node"]: x for x in rack.status()["servers"]}[node.name]["faults"]
    sim("fault", node.name, kind, "--clear", "--name", rack.name, env=rack.env)
    assert "Chassis Power is" in rack.ipmitool(bmc_ip, "power", "status")
    assert time.monotonic() - started < 30


def test_slow_bmc_answers_late(rack: Rack) -> None:
    node, bmc_ip, _ = _bmc(rack, 1)
    sim("fault", node.name, "bmc-slow", "--name", rack.name, env=rack.env)
    try:
        started = time.monotonic()
        r = rack.ipmitool_run(bmc_ip, "-N", "3", "-R", "1", "power", "status")
        assert time.monotonic() - started >= 1.5 * 4  # every exchange of the session is late
        assert r.returncode == 0, r.stderr
    finally:
        sim("fault", node.name, "bmc-slow", "--clear", "--name", rack.name, env=rack.env)


def test_destroy_leaves_no_namespace_interface_process_or_mount(rack: Rack) -> None:
    pids = [int(rack.rd.pid_file.read_text())]
    for ns in rack.topo.namespaces:
        pids += netns_pids(ns)
    comms = {Path(f"/proc/{p}/comm").read_text().strip() for p in pids}
    assert "udhcpc" in comms and "dnsmasq" in comms
    sim("destroy", rack.name, env=rack.env)
    assert [ns for ns in list_netns() if rack.name in ns] == []
    # Other tests may add host links meanwhile; none may be ours (by name or by MAC).
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    for s in rack.topo.servers:
        assert s.primary_mac not in out and s.bmc_mac not in out
    assert rack.topo.mgmt_secondary_mac not in out
    assert not {link for link in host_links() - rack.links_before if rack.name in link}
    rack.dnsmasq.wait(timeout=10)
    assert [p for p in pids if alive(p)] == []
    assert rack.name not in Path("/proc/mounts").read_text()
    assert not rack.rd.root.exists()


def test_two_racks_side_by_side_and_create_after_a_crash(tmp_path: Path) -> None:
    require_root()
    env = {**os.environ, "RACKER_SIM_DIR": str(tmp_path / "sim")}
    a, b = f"rksa-{secrets.token_hex(3)}", f"rksb-{secrets.token_hex(3)}"
    try:
        sim("create", "--generate", "1", "--name", a, env=env)
        sim("create", "--generate", "2", "--name", b, env=env)
        rd_a = RackDir(tmp_path / "sim" / a)
        topo_a = load_topology(rd_a)
        crashed = int(rd_a.pid_file.read_text())
        orphans = netns_pids(topo_a.bmc_ns(topo_a.servers[0]))
        os.kill(crashed, 9)  # a crash: the daemon leaves udhcpc and its namespaces behind
        wait_for("the daemon to die", lambda: not alive(crashed), 10)
        assert orphans and all(alive(p) for p in orphans)
        sim("create", "--generate", "1", "--name", a, env=env)
        assert not any(alive(p) for p in orphans)
        assert len([ns for ns in list_netns() if ns.startswith(f"rks-{a}-")]) == 4
        assert len([ns for ns in list_netns() if ns.startswith(f"rks-{b}-")]) == 6
        st = json.loads(sim("status", "--name", b, "--json", env=env).stdout)
        assert st["daemon"] == "running" and len(st["servers"]) == 2
        sim("destroy", a, env=env)
        assert [ns for ns in list_netns() if ns.startswith(f"rks-{a}-")] == []
        assert json.loads(sim("status", "--name", b, "--json", env=env).stdout)[
            "daemon"] == "running"
    finally:
        sim("destroy", a, env=env, check=False)
        sim("destroy", b, env=env, check=False)
    assert [ns for ns in list_netns() if a in ns or b in ns] == []


def test_create_refuses_a_running_rack_of_the_same_name_and_destroy_an_unknown_one(
        tmp_path: Path) -> None:
    require_root()
    env = {**os.environ, "RACKER_SIM_DIR": str(tmp_path / "sim")}
    other = {**os.environ, "RACKER_SIM_DIR": str(tmp_path / "other")}
    name = f"rksr-{secrets.token_hex(3)}"
    try:
        sim("create", "--generate", "1", "--name", name, env=env)
        again = sim("create", "--generate", "1", "--name", name, env=env, check=False)
        assert again.returncode == 2
        assert f"rack {name} exists already and runs" in again.stderr
        assert "--replace" in again.stderr and "Traceback" not in again.stderr
        elsewhere = sim("create", "--generate", "1", "--name", name, env=other, check=False)
        assert elsewhere.returncode == 2
        assert "rack names are global on a machine" in elsewhere.stderr
        assert not (tmp_path / "other" / name).exists()
        st = json.loads(sim("status", "--name", name, "--json", env=env).stdout)
        assert st["daemon"] == "running"  # the refusals left the rack alone
        replaced = sim("create", "--generate", "2", "--name", name, "--replace", env=env)
        assert f"created rack {name}: 2 nodes" in replaced.stdout
        sim("destroy", name, env=env)
        gone = sim("destroy", name, env=env, check=False)
        assert gone.returncode == 2 and f"there is no rack {name}" in gone.stderr
    finally:
        sim("destroy", name, env=env, check=False)
