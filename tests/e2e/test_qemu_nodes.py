"""Two QEMU nodes PXE boot from racker's real boot server, install, and boot from disk.

Namespaces (all created and removed here): `<tag>-net` holds the rack bridge; `<tag>-mgmt` the
management node's NIC with plain dnsmasq (DHCP; iPXE clients get the boot URL) and racker's boot
server (`create_app` served by `httpserve.server` on a socket opened in that namespace);
`<tag>-nN` each node's uplink veth, where `QemuNode` adds a tap and runs the VM. The VM's own
iPXE ROM chains `/boot.ipxe` → `/ipxe` → the test OS kernel and initramfs (served as Flatcar
assets from a Flatcar-layout mirror) → the test OS fetches its installer Ignition, downloads the
image `flatcar-install` would, writes its disk marker and POSTs `installed`. As racker's engine
does, the report callback sets the boot device to disk before answering; the guest reboots, QEMU
restarts from disk and the installed system POSTs `booted`.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.adapters.http.bootserver import BootServerConfig, create_app
from racker.adapters.http.serve import server as http_server
from racker.core.bootnode import BootNode, StaticCatalog
from racker.core.events import EventKind
from racker.core.render.ignition import transpile
from racker.core.render.installer import InstallerSettings, booted_report_clc, installer_clc
from racker.sim.mirror.build import sim_signing_key
from racker.sim.net.netns import call_in_netns, list_netns, netns_pids
from racker.sim.nodes.chassis import BootDevice, PowerEvent
from racker.sim.nodes.qemu import Firmware, QemuNode, QemuSpec, attach_commands, pick_accel
from racker.sim.nodes.testos import ensure_testos, publish_testos
from tests.conftest import require_root, require_tool

pytestmark = [pytest.mark.qemu, pytest.mark.root, pytest.mark.slow]

SUBNET = "10.213.77"
MGMT_IP = f"{SUBNET}.1"
PORT = 8080
BASE = f"http://{MGMT_IP}:{PORT}"
NODES = (("node1", "52:54:00:7a:00:01", f"{SUBNET}.11"),
         ("node2", "52:54:00:7a:00:02", f"{SUBNET}.12"))
DEADLINE = 600.0


def ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"ip {' '.join(args)}: {r.stderr}"


@dataclass(frozen=True)
class Rack:
    tag: str

    @property
    def net(self) -> str:
        return f"{self.tag}-net"

    @property
    def mgmt(self) -> str:
        return f"{self.tag}-mgmt"

    def node(self, i: int) -> str:
        return f"{self.tag}-n{i}"

    @property
    def namespaces(self) -> list[str]:
        return [self.net, self.mgmt, *(self.node(i) for i in range(1, len(NODES) + 1))]


@pytest.fixture
def rack() -> Iterator[Rack]:
    require_root()
    r = Rack("rkq" + secrets.token_hex(3))
    try:
        for ns in r.namespaces:
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", r.net, "link", "add", "br0", "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        ip("-n", r.net, "link", "set", "br0", "up")
        links = [("vm", r.mgmt, "eth1", "52:54:00:7a:00:f1")]
        links += [(f"vn{i}", r.node(i), "eth0", mac) for i, (_, mac, _) in enumerate(NODES, 1)]
        for near, ns, far, mac in links:
            ip("-n", r.net, "link", "add", near, "type", "veth", "peer", "name", far,
               "netns", ns)
            ip("-n", r.net, "link", "set", near, "master", "br0", "up")
            ip("-n", ns, "link", "set", far, "address", mac)
            ip("-n", ns, "link", "set", far, "up")
        ip("-n", r.mgmt, "addr", "add", f"{MGMT_IP}/24", "dev", "eth1")
        yield r
    finally:
        for ns in r.namespaces:
            for pid in netns_pids(ns):  # only what this test started can live in them
                subprocess.run(["kill", "-9", str(pid)], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


class TestChassis:
    """The BMC's side as the node sees it: a boot device, persistent once set."""

    __test__ = False

    def __init__(self) -> None:
        self.device = BootDevice.PXE

    def take_boot_device(self) -> BootDevice:
        return self.device

    def shut_down(self) -> None:
        self.device = BootDevice.NONE


def dnsmasq_conf(tmp: Path) -> Path:
    conf = tmp / "dnsmasq.conf"
    hosts = "".join(f"dhcp-host={mac},{addr},{name}\n" for name, mac, addr in NODES)
    conf.write_text(
        "port=0\ninterface=eth1\nbind-interfaces\nexcept-interface=lo\n"
        f"dhcp-range={SUBNET}.100,{SUBNET}.200,255.255.255.0,1h\n"
        "dhcp-authoritative\ndhcp-option=3\ndhcp-option=6\n"
        f"{hosts}"
        # UEFI PXE (client arch 7) gets Debian's ipxe.efi by TFTP; that iPXE comes back with
        # its user class and gets the boot script (the legacy ROM sends the user class at once)
        "enable-tftp\ntftp-root=/usr/lib/ipxe\n"
        "dhcp-match=set:efi64,option:client-arch,7\ndhcp-boot=tag:efi64,tag:!ipxe,ipxe.efi\n"
        "dhcp-userclass=set:ipxe,iPXE\n"
        f"dhcp-boot=tag:ipxe,{BASE}/boot.ipxe\n"
        f"dhcp-leasefile={tmp / 'leases'}\nlog-dhcp\n")
    return conf


def listen_socket(ns: str) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((MGMT_IP, PORT))
        s.listen(64)
        s.setblocking(False)
        return s

    return call_in_netns(ns, make)


def catalog() -> StaticCatalog:
    nodes = []
    for name, mac, addr in NODES:
        installer = transpile([("installer", installer_clc(InstallerSettings(BASE, mac)))])
        booted = transpile([("booted", booted_report_clc(BASE, mac))])
        nodes.append(BootNode(mac, addr, name, installer.to_json().encode(),
                              booted.to_json().encode()))
    return StaticCatalog(nodes)


def kinds(store: Store, mac: str) -> list[EventKind]:
    return [e.kind for e in store.events(mac)]


def paths(store: Store, mac: str) -> list[str]:
    return [str(e.detail.get("path", "")) + "?" + str(e.detail.get("query", ""))
            for e in store.events(mac) if e.kind is EventKind.REQUEST]


@dataclass
class Run:
    """What one run of the two VMs left behind."""

    store: Store
    nodes: list[QemuNode]
    timelines: dict[str, list[tuple[str, dict[str, object]]]]
    marks: dict[str, float]
    consoles: dict[str, str]
    accel: str

    def why(self, name: str, mac: str) -> str:
        return f"{name}: timeline {self.timelines[mac]}\nconsole:\n{self.consoles[name][-3000:]}"


Timelines = dict[str, list[tuple[str, dict[str, object]]]]
Done = Callable[[Store, list[QemuNode], Timelines], bool]
"""When a run has what its test asserts: the store, and what the VMs printed and logged (the
guest prints its report's outcome only after the boot server's answer reached it, so the
store alone is not enough)."""


def run_nodes(rack: Rack, tmp: Path, done: Done, faults: dict[str, set[str]] | None = None,
              deadline: float = DEADLINE, firmware: Firmware = Firmware.UEFI) -> Run:
    """Serve DHCP and racker's boot server, power both VMs on, run until `done` (bounded)."""
    for tool in ("qemu-system-x86_64", "dnsmasq", "gpg", "apt-get", "dpkg-deb"):
        require_tool(tool)
    testos = ensure_testos()
    assets = tmp / "assets"
    publish_testos(assets, sim_signing_key(tmp / "key"), testos, channel="stable",
                   version="9999.0.0")
    (assets / "flatcar").symlink_to("stable/amd64-usr")
    accel = pick_accel()
    chassis = {mac: TestChassis() for _, mac, _ in NODES}
    timelines: Timelines = {mac: [] for _, mac, _ in NODES}
    nodes: list[QemuNode] = []
    for i, (name, mac, _) in enumerate(NODES, 1):
        for _ns, args in attach_commands(rack.node(i), "eth0", mac):
            ip("-n", rack.node(i), *args)
        spec = QemuSpec(name, mac, rack.node(i), tmp / "disks" / f"{name}.raw",
                        tmp / f"{name}.console", testos, accel=accel, firmware=firmware)

        def log(event: str, _mac: str = mac, **fields: object) -> None:
            timelines[_mac].append((event, fields))

        node = QemuNode(spec, chassis[mac], log)
        node.state.faults |= (faults or {}).get(mac, set())
        nodes.append(node)
    store = Store(tmp / "events.sqlite")

    async def on_report(node: BootNode, kind: EventKind) -> None:
        if kind is EventKind.INSTALLED:  # as racker's engine does before it answers
            chassis[node.mac].device = BootDevice.DISK

    app = create_app(BootServerConfig(BASE, assets), catalog(), store, on_report)
    dnsmasq = subprocess.Popen(
        ["ip", "netns", "exec", rack.mgmt, "dnsmasq", "--keep-in-foreground",
         f"--conf-file={dnsmasq_conf(tmp)}", "--user=root",
         f"--log-facility={tmp / 'dnsmasq.log'}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marks: dict[str, float] = {}

    async def scenario() -> None:
        srv = http_server(app, MGMT_IP, PORT)
        serving = asyncio.get_running_loop().create_task(
            srv.serve(sockets=[listen_socket(rack.mgmt)]))
        try:
            boot_start = time.monotonic()
            for node in nodes:
                # as racker's engine records before it powers a node on from the network: the
                # node's install window, in which the boot server serves its installer
                store.add(node.spec.mac, EventKind.STAGE, stage="pxe")
                node.power_event(PowerEvent.ON)
            while time.monotonic() < boot_start + deadline:
                for _, mac, _ in NODES:
                    for kind in (EventKind.INSTALLED, EventKind.BOOTED):
                        if kind in kinds(store, mac):
                            marks.setdefault(f"{kind.value}_{mac}", time.monotonic() - boot_start)
                failed = any(n.state.phase == "qemu-failed" for n in nodes)
                if failed or done(store, nodes, timelines):
                    break
                await asyncio.sleep(0.5)
        finally:
            for node in nodes:
                await node.close()
            srv.should_exit = True
            await asyncio.wait_for(serving, 10)

    try:
        asyncio.run(scenario())
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(10)
    consoles = {n.name: n.spec.console_log.read_text(errors="replace") for n in nodes}
    left = [ns for ns in list_netns() if ns.startswith(rack.tag)]
    assert all(not netns_pids(ns) for ns in left), "a QEMU or dnsmasq outlived the run"
    return Run(store, nodes, timelines, marks, consoles, accel)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("firmware", [Firmware.UEFI, Firmware.BIOS])  # BIOS: the legacy path
def test_two_qemu_nodes_install_and_boot_from_disk(rack: Rack, tmp_path: Path,
                                                   firmware: Firmware) -> None:
    started = time.monotonic()

    def all_booted(store: Store, nodes: list[QemuNode], timelines: Timelines) -> bool:
        # Everything asserted below: the store's report and the guest's own view of it.
        return all(EventKind.BOOTED in kinds(store, mac)
                   and {"installed-to-disk", "reported"} <= {ev for ev, _ in timelines[mac]}
                   and "racker-testos: reported booted" in node.spec.console_log.read_text(
                       errors="replace")
                   for (_, mac, _), node in zip(NODES, nodes, strict=True))

    run = run_nodes(rack, tmp_path, all_booted, firmware=firmware)
    store = run.store
    print(f"accel={run.accel} total_s={time.monotonic() - started:.1f} "
          + " ".join(f"{k}={v:.1f}" for k, v in sorted(run.marks.items())))
    for (name, mac, addr), node in zip(NODES, run.nodes, strict=True):
        why = run.why(name, mac)
        requested = paths(store, mac)
        # the iPXE chain reached the boot server: boot.ipxe (known by the client IP), the
        # node's iPXE script, and the installer Ignition
        assert "/boot.ipxe?" in requested, why
        assert any(p.startswith("/ipxe?") and f"mac={mac.replace(':', '-')}" in p
                   for p in requested), why
        assert any(p.startswith("/ignition?") and "os=installer" in p for p in requested), why
        assert any(p.startswith("/ignition?") and "os=installed" in p for p in requested), why
        got = kinds(store, mac)
        assert EventKind.INSTALLED in got and EventKind.BOOTED in got, why
        assert got.index(EventKind.INSTALLED) < got.index(EventKind.BOOTED), why
        reports = [e for e in store.events(mac) if e.kind in (EventKind.INSTALLED,
                                                              EventKind.BOOTED)]
        assert {e.detail["client"] for e in reports} == {addr}, why
        boots = [ev for ev, _ in run.timelines[mac] if ev in ("pxe-boot", "disk-boot")]
        assert boots[:2] == ["pxe-boot", "disk-boot"], why
        assert node.disk_marker() == (mac.replace(":", "-"),
                                      f"{BASE}/ignition?mac={mac.replace(':', '-')}"
                                      "&os=installed"), why
        assert "racker-testos: reported booted" in run.consoles[name], why
        # the test OS's steps reached the node's timeline from its serial console
        events = [ev for ev, _ in run.timelines[mac]]
        assert "installed-to-disk" in events and "reported" in events, why
    # the firmware's own path to iPXE, as dnsmasq saw it
    log = (tmp_path / "dnsmasq.log").read_text()
    uefi = ("PXEClient:Arch:00007" in log, "sent /usr/lib/ipxe/ipxe.efi to" in log)
    assert uefi == ((True, True) if firmware is Firmware.UEFI else (False, False)), log[-3000:]


@pytest.mark.timeout(900)
def test_installer_fails_and_no_boot_report_faults(rack: Rack, tmp_path: Path) -> None:
    (_, failing, _), (_, silent, _) = NODES

    def both_halted(store: Store, nodes: list[QemuNode], _timelines: Timelines) -> bool:
        texts = {n.spec.mac: n.spec.console_log.read_text(errors="replace")
                 if n.spec.console_log.exists() else "" for n in nodes}
        return ("halted: flatcar-install failed (fault)" in texts[failing]
                and "halted: running; boot report lost (fault)" in texts[silent])

    run = run_nodes(rack, tmp_path, both_halted,
                    faults={failing: {"installer-fails"}, silent: {"no-boot-report"}})
    # the failing installer fetched its Ignition, never wrote its disk nor reported
    assert "halted: flatcar-install failed (fault)" in run.consoles["node1"], run.why("node1",
                                                                                       failing)
    assert kinds(run.store, failing).count(EventKind.INSTALLED) == 0
    # it told racker so, with its journal's tail, from its own address in its install window
    (report,) = [e for e in run.store.events(failing) if e.kind is EventKind.INSTALL_FAILED]
    assert report.detail["exit_status"] == 1 and report.detail["journal"][-1] == (
        "flatcar-install: Error: failed to write the image to /dev/vda: Input/output error "
        "(fault)"), report
    assert "reported install-failed" in run.consoles["node1"]
    assert run.nodes[0].disk_marker() is None
    assert any("os=installer" in p for p in paths(run.store, failing))
    # the silent node installed, booted from disk, fetched its own Ignition and said nothing
    got = kinds(run.store, silent)
    assert EventKind.INSTALLED in got and EventKind.BOOTED not in got, run.why("node2", silent)
    assert any("os=installed" in p for p in paths(run.store, silent))
    assert "halted: running; boot report lost (fault)" in run.consoles["node2"]
