"""Use case: `racker factory discover`: a rack with credentials but no nodes.csv gets a proposed
one.

Racker serves DHCP on the PXE interface and collects the BMCs that lease an address (all at
once: each is probed as soon as it leases), opens a session on each with the rack's
credentials (over the protocol it speaks: the driver it is given) and reads its system GUID,
sets PXE and powers every server on. Each server boots the discovery configuration (the PXE
image with an Ignition that posts the hardware inventory and powers off); the boot server
serves it to any MAC that leased an address while discovery runs and is not a BMC. Servers and
BMCs are paired by UUID (core/discover.py) and the proposed nodes.csv is written atomically,
never over an existing one without `-force`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from racker.adapters.bmc.errors import BmcAuthFailed, BmcFailure, Unsupported
from racker.adapters.bmc.interfaces import Bmc, BmcTarget, BootTarget, Driver
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.credentials import load_credentials
from racker.adapters.fs.rackmeta import read_machine_macs
from racker.adapters.fs.store import Store
from racker.adapters.http.requests import accept_report
from racker.app.configuration.create import dnsmasq_conf_path, dnsmasq_settings
from racker.app.provision import Services, fetch_assets
from racker.core.bootnode import BootNode
from racker.core.discover import FoundBmc, FoundServer, Proposal, Row, nodes_csv, pair, summary
from racker.core.events import Event, EventKind
from racker.core.hardware import guid_matches, hardware_from_json
from racker.core.macs import parse_mac
from racker.core.nodetrust import OPENS_STAGE
from racker.core.plan import check_subnet_prefix
from racker.core.render.dnsmasq import render_dnsmasq
from racker.core.render.ignition import transpile
from racker.core.render.installer import discovery_clc
from racker.errors import InputError, RackerError, ServiceError, Where
from racker.model import ClusterPlan, Credentials, Inventory, Node, Options, Provision
from racker.paths import Paths
from racker.settings import Settings

PROBE_WAIT = 20.0
"""Seconds a MAC that leased an address is asked for an IPMI session before it counts as no
BMC."""


@dataclass(frozen=True)
class DiscoverOptions:
    """What `racker factory discover` was asked."""

    interface: str
    """This machine's interface on the rack network (the management row's secondary MAC)."""
    force: bool = False
    management_bmc: str | None = None
    subnet_prefix: str = "172.24.213"
    settle: float = 5.0
    """Seconds without a new lease after which every BMC is taken to be found."""
    bmc_wait: float = 120.0
    """Seconds to wait for BMC leases at most."""
    boot_wait: float = 900.0
    """Seconds for the servers to PXE boot and report at most."""


@dataclass
class _Run:
    """What discovery has seen so far."""

    start_id: int
    bmcs: dict[str, FoundBmc] = field(default_factory=dict)
    probes: list[asyncio.Task[None]] = field(default_factory=list)
    servers: dict[str, FoundServer] = field(default_factory=dict)
    last_id: int = 0


class DiscoveryCatalog:
    """The boot server's catalog while discovery runs: any MAC that leased an address and is
    neither a BMC nor this machine gets the discovery configuration, at its leased address."""

    def __init__(self, store: Store, base_url: str, not_servers: Callable[[], set[str]]):
        self._store = store
        self._base_url = base_url
        self._not_servers = not_servers
        self._ignition: dict[str, bytes] = {}

    def get(self, mac: str) -> BootNode | None:
        """A discovery node for `mac` when it leased an address and is no BMC. The first
        answer opens its install window (racker powered every server on from the network):
        its discovery configuration and its inventory report are accepted from then on."""
        if mac in self._not_servers():
            return None
        lease = self._store.last_of(mac, (EventKind.LEASE,))
        if lease is None:
            return None
        if mac not in self._ignition:
            self._store.add(mac, EventKind.STAGE, stage=OPENS_STAGE, detail={"discovery": "yes"})
            self._ignition[mac] = transpile(
                [("discovery", discovery_clc(self._base_url, mac))]).to_json().encode()
        return BootNode(mac, str(lease.detail.get("ip", "")), f"discovered-{mac}",
                        self._ignition[mac], b"{}")

    def all(self) -> Sequence[BootNode]:
        """Nothing to list: the servers are not known yet."""
        return []


def _check_start(paths: Paths, opts: DiscoverOptions) -> tuple[Row, dict[str, str]]:
    """Before anything runs: nodes.csv may be written, the interface exists; the management
    row from this machine's interfaces."""
    csv = paths.nodes_csv
    if csv.exists() and csv.read_text(errors="replace").strip() and not opts.force:
        raise InputError(f"{csv} exists already: discovery does not overwrite it",
                         where=Where(file=str(csv)),
                         hint="review or move it, or run 'racker factory discover -force' to "
                              "replace it")
    machine = read_machine_macs(paths.sys_class_net)
    if opts.interface not in machine:
        raise InputError(f"this machine has no interface {opts.interface}",
                         where=Where(flag="-interface"),
                         hint=f"name the interface on the rack network: one of "
                              f"{', '.join(sorted(machine)) or 'none found'}")
    bmc = parse_mac(opts.management_bmc or "")
    if opts.management_bmc and bmc is None:
        raise InputError(f"'{opts.management_bmc}' is not a MAC address",
                         where=Where(flag="-management-bmc"))
    others = [m for name, m in sorted(machine.items())
              if name != opts.interface and m != machine[opts.interface]]
    primary = others[0] if others else machine[opts.interface]
    return Row(primary, bmc or "", machine[opts.interface], "mgmt", "management node"), machine


def take_management_bmc(mgmt: Row, bmcs: dict[str, FoundBmc], own_uuid: str) -> Row:
    """This machine's BMC (-management-bmc, or the one answering this machine's SMBIOS UUID)
    taken out of `bmcs` before any server is powered: racker must never PXE boot the machine
    it runs on. The management row with its BMC MAC; InputError when it is not known."""
    own = next((b for b in bmcs.values() if b.mac == mgmt.bmc or (
        own_uuid and b.guid is not None and guid_matches(b.guid, own_uuid))), None)
    if own is not None:
        del bmcs[own.mac]
        return Row(mgmt.primary, own.mac, mgmt.secondary, mgmt.node_type, mgmt.comment)
    if mgmt.bmc:
        return mgmt
    raise InputError("this machine's BMC was not found: its row of nodes.csv needs its BMC MAC "
                     "(no server was powered on)", where=Where(flag="-management-bmc"),
                     hint="give it with -management-bmc MAC (it is on the server's label or "
                          "in its BMC's network settings)")


def _plan(paths: Paths, opts: DiscoverOptions, mgmt: Row) -> ClusterPlan:
    prefix = check_subnet_prefix(opts.subnet_prefix)
    node = Node(mgmt.primary, mgmt.bmc or mgmt.primary, mgmt.secondary, "mgmt", "", 2)
    inventory = Inventory(paths.nodes_csv, node, (), opts.interface)
    return ClusterPlan(Options(provision=Provision.FLATCAR, subnet_prefix=prefix), inventory,
                       f"{prefix}.1", ())


@dataclass
class Discovery:
    """Runs one discovery with the adapters it is given."""

    paths: Paths
    settings: Settings
    services: Services
    driver: Driver
    open_store: Callable[[], Store]
    out: TextIO
    netns_ip: Callable[[list[str]], None] = lambda argv: _ip(argv)
    clock: Callable[[], float] = time.monotonic

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def run(self, opts: DiscoverOptions) -> int:
        """Discover, write the proposed nodes.csv, print the summary; 0 when rows were
        found."""
        mgmt, _machine = _check_start(self.paths, opts)
        own_uuid = self._own_uuid()
        credentials = load_credentials(self.paths)
        plan = _plan(self.paths, opts, mgmt)
        fetch_assets(self.paths, self.settings, self.out)  # the discovery image is Flatcar's
        # NOTE: no ICMP check before each pool offer: every BMC and server takes one now
        dhcp = dataclasses.replace(dnsmasq_settings(self.paths, opts.interface), no_ping=True)
        write_atomic(dnsmasq_conf_path(self.paths), render_dnsmasq(plan, dhcp))
        self.netns_ip(["link", "set", opts.interface, "up"])
        self.netns_ip(["addr", "replace", f"{plan.management_ip}/24", "dev", opts.interface])
        base_url = f"http://{plan.management_ip}:{self.settings.boot_port}"
        with self.open_store() as store:
            existing = store.events()
            run = _Run(existing[-1].id if existing else 0)
            run.last_id = run.start_id
            catalog = DiscoveryCatalog(store, base_url,
                                       lambda: set(run.bmcs) | {mgmt.primary, mgmt.secondary})
            async with self.services.run(plan, store, catalog, accept_report):
                try:
                    await self._find_bmcs(store, run, credentials, opts)
                    mgmt = take_management_bmc(mgmt, run.bmcs, own_uuid)
                    await self._boot_servers(run, credentials)
                    await self._wait_for_servers(store, run, opts)
                finally:
                    await self._power_off(run, credentials)
                    await self.driver.aclose()
        proposal = pair(list(run.bmcs.values()), list(run.servers.values()))
        return self._write(mgmt, proposal)

    def _own_uuid(self) -> str:
        """This machine's SMBIOS UUID. NOTE: read from the DMI folder beside sys/class/net, so
        RACKER_SYS_CLASS_NET points both at a test tree."""
        try:
            return (self.paths.sys_class_net.parent / "dmi" / "id" / "product_uuid"
                    ).read_text().strip()
        except OSError:
            return ""

    def _write(self, mgmt: Row, proposal: Proposal) -> int:
        if not proposal.rows:
            self.say("No server was paired with its BMC: nodes.csv was not written.")
            for line in summary(proposal)[2:]:
                self.say(line)
            return 1
        write_atomic(self.paths.nodes_csv, nodes_csv(mgmt, proposal))
        self.say(f"Wrote {self.paths.nodes_csv}: the management node and "
                 f"{len(proposal.rows)} servers. Review it, then run 'racker factory check' and "
                 "'racker bootstrap'.")
        self.say()
        for line in summary(proposal):
            self.say(line)
        return 0 if proposal.rows else 1

    def _new_events(self, store: Store, run: _Run) -> list[Event]:
        events = store.events(since_id=run.last_id)
        if events:
            run.last_id = events[-1].id
        return events

    async def _find_bmcs(self, store: Store, run: _Run, credentials: Credentials,
                         opts: DiscoverOptions) -> None:
        """Every MAC that leases is probed at once; done when no new lease came for
        `settle` seconds (or after `bmc_wait`)."""
        self.say("➤ Waiting for the BMCs' DHCP requests...")
        start = last_new = self.clock()
        while self.clock() - start < opts.bmc_wait:
            for e in self._new_events(store, run):
                if e.kind is EventKind.LEASE and e.mac and e.mac not in run.bmcs:
                    ip = str(e.detail.get("ip", ""))
                    run.bmcs[e.mac] = FoundBmc(e.mac, ip, error="probing")
                    run.probes.append(asyncio.create_task(
                        self._probe(run, e.mac, ip, credentials)))
                    last_new = self.clock()
            if run.bmcs and self.clock() - last_new >= opts.settle:
                break
            await asyncio.sleep(0.2)
        await asyncio.gather(*run.probes)
        good = [b for b in run.bmcs.values() if not b.error]
        self.say(f"➤ {len(run.bmcs)} addresses leased, {len(good)} BMCs answered with their "
                 f"system GUID ({self.clock() - start:.1f} s)")

    async def _probe(self, run: _Run, mac: str, ip: str, credentials: Credentials) -> None:
        """A session and the system GUID of what leased `mac`. NOTE: the lease is recorded
        when dnsmasq hands it out, before the BMC configured its address: a BMC that does not
        answer yet is asked again for `PROBE_WAIT` seconds."""
        target = BmcTarget(mac, ip, credentials.user, credentials.password, bmc_mac=mac)
        error: str | None = None
        guid = None
        deadline = self.clock() + PROBE_WAIT
        while True:
            try:
                bmc = await self.driver.open(target)
                guid = await bmc.system_guid()
                error = None
            except BmcAuthFailed:
                error = ("refused the credentials of ipmi_user and ipmi_password (set them on "
                         "this BMC, or fix the files)")
            except Unsupported:
                error = "answers, but cannot tell its system GUID (pairing it needs one)"
            except BmcFailure as e:
                error = f"no IPMI answer ({e.message}): not a BMC, or its IPMI over LAN is off"
                if self.clock() < deadline:
                    await asyncio.sleep(1.0)
                    continue
            break
        run.bmcs[mac] = FoundBmc(mac, ip, guid, error)

    async def _open(self, b: FoundBmc, credentials: Credentials) -> Bmc:
        return await self.driver.open(BmcTarget(b.mac, b.ip, credentials.user,
                                                credentials.password, bmc_mac=b.mac))

    async def _boot_servers(self, run: _Run, credentials: Credentials) -> None:
        """PXE (persistent, read back) and power on, every server at once."""
        async def one(b: FoundBmc) -> None:
            try:
                bmc = await self._open(b, credentials)
                await bmc.power_off()
                await bmc.set_boot_device(BootTarget.PXE, persistent=True,
                                          efi=not self.settings.legacy_boot)
                await bmc.power_on()
            except RackerError as e:
                run.bmcs[b.mac] = FoundBmc(b.mac, b.ip, b.guid, f"cannot PXE boot: {e.message}")

        good = [b for b in run.bmcs.values() if not b.error]
        self.say(f"➤ Powering on {len(good)} servers from the network...")
        start = self.clock()
        await asyncio.gather(*(one(b) for b in good))
        self.say(f"  done ({self.clock() - start:.1f} s)")

    async def _wait_for_servers(self, store: Store, run: _Run, opts: DiscoverOptions) -> None:
        """Collect the inventories; done when every BMC's server reported (or after
        `boot_wait`)."""
        start = self.clock()
        while self.clock() - start < opts.boot_wait:
            for e in self._new_events(store, run):
                if e.kind is EventKind.INVENTORY and isinstance(e.detail.get("hardware"), dict):
                    with contextlib.suppress(KeyError, TypeError, ValueError):
                        run.servers[e.mac] = FoundServer(
                            e.mac, hardware_from_json(e.detail["hardware"]))
            if self._all_reported(run):
                break
            await asyncio.sleep(0.2)
        self.say(f"➤ {len(run.servers)} servers reported their hardware "
                 f"({self.clock() - start:.1f} s)")

    @staticmethod
    def _all_reported(run: _Run) -> bool:
        good = [b for b in run.bmcs.values() if not b.error and b.guid]
        return bool(good) and all(
            any(s.hardware.uuid and b.guid and guid_matches(b.guid, s.hardware.uuid)
                for s in run.servers.values()) for b in good)

    async def _power_off(self, run: _Run, credentials: Credentials) -> None:
        """Every server off at the end (the discovery image powers off by itself; a server
        that never reported may still run)."""
        async def one(b: FoundBmc) -> None:
            with contextlib.suppress(RackerError):
                await (await self._open(b, credentials)).power_off()

        await asyncio.gather(*(one(b) for b in run.bmcs.values()
                               if b.guid is not None))


def _ip(argv: list[str]) -> None:
    """`ip ARGV` (the PXE interface's address), a ServiceError naming the command on failure."""
    r = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise ServiceError(f"ip {' '.join(argv)} failed: {r.stderr.strip()}",
                           hint="racker configures the PXE interface itself; run it as root")
