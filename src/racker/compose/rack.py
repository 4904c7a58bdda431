"""Builders of one rack's real adapters (BMCs, event store, services) and of the use cases
that take them.

Every function reads the settings it needs once and wires adapters together; none holds state
of its own. The IPMI stack (pyghmi) is imported only when a BMC driver is first made, so that
commands that never touch a BMC start fast.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from racker.adapters.bmc import registry
from racker.adapters.bmc.control import RackControl, bmc_ref
from racker.adapters.bmc.interfaces import DriverOptions
from racker.adapters.bmc.locate import Locator
from racker.adapters.bmc.protocol import ProtocolRecord, Protocols
from racker.adapters.bmc.rack import IPMI_PORT, BmcRef, ByProtocol, RackBmcs
from racker.adapters.fs import runlock
from racker.adapters.fs.consolelog import holder as console_holder
from racker.adapters.fs.credentials import load_credentials, read_secret_file
from racker.adapters.fs.rackmeta import load_inventory
from racker.adapters.fs.store import Store
from racker.adapters.handover import Handover, socket_path
from racker.app import pxeboot
from racker.app.apply import ApplyPlan, Executor, OpenSsh
from racker.app.bmc_credentials import RotationReport, Target, rotate_credentials
from racker.app.bmc_trust import Forgotten, trust_new_certificate
from racker.app.configuration.create import ConfigureResult
from racker.app.discover import Discovery
from racker.app.ipmi_redfish import HelperBmcs
from racker.app.lokomotive import cluster_nodes, joined
from racker.app.provision import Ask, Provisioner
from racker.app.status import RackStatus, gather, rack_plan
from racker.compose.services import Management, RackServices
from racker.core.activity import Activity
from racker.errors import BmcError, InputError, RackerError, Where
from racker.model import ClusterPlan, Credentials, Inventory, Node, PlannedNode
from racker.paths import Paths
from racker.settings import Settings

Warn = Callable[[str], None]

CONSOLE_RECORDER_LOCK = "console-recorder.lock"


def warn_on_stderr(message: str) -> None:
    """A command's warnings: on stderr, apart from its output."""
    print(f"warning: {message}", file=sys.stderr)


def inventory(paths: Paths) -> Inventory:
    """The rack's nodes.csv, read and checked against this machine's interfaces."""
    return load_inventory(paths)


def credentials(paths: Paths) -> Credentials:
    """The rack's BMC credentials (`ipmi_user`, `ipmi_password`; modes checked)."""
    return load_credentials(paths)


def secret_from_file(path: Path, what: str) -> str:
    """A secret's first line from a file only its owner can read (InputError otherwise)."""
    return read_secret_file(path, what)


def run_lock(paths: Paths, command: str) -> AbstractContextManager[None]:
    """Held while `racker bootstrap` or `racker apply` provisions: a second one is refused at
    once, naming the first (`<state>/run.lock`, released by the kernel when it ends)."""
    return runlock.held(paths.state_dir / "run.lock", command)


def serve_lock(paths: Paths) -> AbstractContextManager[None]:
    """Held while `racker serve` runs: a second serve is refused at once (`<state>/serve.lock`)."""
    return runlock.held(paths.state_dir / "serve.lock", "racker serve")


def console_recorder_lock(paths: Paths, command: str) -> AbstractContextManager[None]:
    """Held by the one racker that records the consoles of PXE boots no engine follows
    (`<state>/console-recorder.lock`: serve, or the bootstrap or apply that borrowed its
    services); RackerError at once when another process holds it."""
    return runlock.held(paths.state_dir / CONSOLE_RECORDER_LOCK, command)


def console_recorder(paths: Paths) -> str | None:
    """Which racker records the consoles of PXE boots now (`pid N: racker serve (started …)`),
    or None when none does."""
    return runlock.holder(paths.state_dir / CONSOLE_RECORDER_LOCK)


def store(paths: Paths) -> Store:
    """The rack's event store (`<state>/racker.db`)."""
    return Store.in_state_dir(paths.state_dir)


async def open_install_window(paths: Paths, node: PlannedNode, say: Callable[[str], None]
                              ) -> None:
    """`racker pxe-boot`'s mark in the rack's store (racker is installing `node` now), and
    whether a racker records the console of this boot (said; waited for, briefly)."""
    with store(paths) as s:
        await pxeboot.open_window_recorded(
            s, node, console_recorder(paths), say,
            held=lambda: console_holder(paths.console_dir, node.mac) is not None)


def locator(paths: Paths, pxe_interface: str) -> Locator:
    """Finds BMCs and nodes by MAC (dnsmasq's leases, the neighbour table, ARP on the PXE
    interface). One per command, so that lookups made at once share its scans."""
    return Locator(paths, pxe_interface)


def bmc_protocols(paths: Paths, settings: Settings) -> Protocols:
    """Which protocol each BMC speaks: RACKER_BMC_PROTOCOL over the record in the state
    folder (auto: detected on first contact)."""
    return Protocols(settings.bmc_protocol, ProtocolRecord.in_state_dir(paths.state_dir))


def driver_options(paths: Paths, settings: Settings, *, timeout: float = 5.0,
                   retries: int = 2) -> DriverOptions:
    """The drivers' patience and trust: pins in the state folder, or the site CA bundle."""
    return DriverOptions(timeout=timeout, retries=retries, state_dir=paths.state_dir,
                         ca_bundle=settings.bmc_ca_bundle)


def rack_bmcs(paths: Paths, pxe_interface: str, *, retry_sec: float,
              credentials: Credentials | None = None, options: DriverOptions | None = None,
              wait_for_answer: bool = True, warn: Warn = lambda _m: None,
              settings: Settings | None = None) -> RackBmcs:
    """The rack's BMCs for one command: found on the PXE interface, reached with the rack's
    credentials (`ipmi_user`, `ipmi_password`) through the driver of each BMC's protocol."""
    s = settings or Settings.from_env()
    opts = options or driver_options(paths, s)
    return RackBmcs(credentials or load_credentials(paths), locator(paths, pxe_interface),
                    lambda protocol: registry.create(protocol, opts), retry_sec,
                    wait_for_answer=wait_for_answer, warn=warn,
                    protocols=bmc_protocols(paths, s))


def helper_bmcs(paths: Paths, pxe_interface: str, credentials: Credentials, *, retry_sec: float,
                timeout: float | None, env: Mapping[str, str] | None = None) -> RackBmcs:
    """The `ipmi` helper's BMCs for its built-in subcommands: reported as they answer (no
    waiting for a BMC that is found but silent), `timeout` seconds per attempt (IPMI_TIMEOUT;
    None: the driver's default)."""
    settings = Settings.from_env(env)
    opts = driver_options(paths, settings, retries=1)  # the pins and CA bundle of every command
    if timeout is not None:
        opts = replace(opts, timeout=timeout)
    return rack_bmcs(paths, pxe_interface, retry_sec=retry_sec, credentials=credentials,
                     options=opts, wait_for_answer=False, settings=settings)


def control(paths: Paths, plan: ClusterPlan, settings: Settings, *,
            retry_sec: float | None = None, warn: Warn = warn_on_stderr) -> RackControl:
    """What the engine drives `plan`'s BMCs with; `retry_sec` bounds the search for a BMC
    (default: the RETRY_SEC setting)."""
    wait = settings.retry_sec if retry_sec is None else retry_sec
    bmcs = rack_bmcs(paths, plan.inventory.pxe_interface, retry_sec=wait, warn=warn,
                     settings=settings)
    return RackControl(bmcs, legacy_boot=settings.legacy_boot)


def provisioner(paths: Paths, plan: ClusterPlan, out: TextIO, *,
                settings: Settings | None = None, ask: Ask = input,
                warn: Warn = warn_on_stderr, borrow: bool = True,
                management: Management | None = None) -> Provisioner:
    """The provisioning use case with real BMCs, dnsmasq, the boot server and the store.

    `borrow`: take the services over from a running `racker serve` (False for serve itself).
    `management` (the front end's API, dashboard and metrics) runs beside the services unless
    they are borrowed: then serve's own listener, which keeps running, shows the run."""
    s = settings or Settings.from_env()

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    services = RackServices(paths, s, say=say if borrow else None, management=management)
    ctl = control(paths, plan, s, warn=warn)
    return Provisioner(paths, s, ctl, services, lambda: store(paths), out, ask,
                       open_console=ctl.serial_console,
                       recorder_lock=lambda command: console_recorder_lock(paths, command))


def serve_lender(paths: Paths) -> Handover:
    """`racker serve`'s management socket, through which other commands borrow its services."""
    return Handover(socket_path(paths.state_dir))


def provision_rack(paths: Paths, configured: ConfigureResult,
                   management: Management | None = None) -> int:
    """`racker bootstrap` after the configuration: provision on real BMCs, output on stdout."""
    p = provisioner(paths, configured.plan, sys.stdout, management=management)
    return asyncio.run(p.run(configured))


def apply_executor(paths: Paths, ap: ApplyPlan, out: TextIO,
                   management: Management | None = None) -> Executor:
    """`racker apply`'s executor: racker's services, the rack's BMCs and the ssh client."""
    settings = Settings.from_env()
    p = provisioner(paths, ap.plan, out, settings=settings, management=management)
    # RACKER_SSH_USER: the nodes' user is `core`; tests log in to an sshd as another user
    ssh = OpenSsh(paths.ssh_key, user=os.environ.get("RACKER_SSH_USER", "core"))
    return Executor(paths, p.session, ssh, out, boot_timeout=900.0 * settings.timeout_scale)


STATUS_RETRY_SEC = 5.0
"""How long status looks for a BMC that is not in the leases: short, the table must come fast."""


async def rack_status(paths: Paths) -> RackStatus:
    """`racker status`: every node's BMC queried at once (short timeouts), flag files, hosts
    entries and, for Lokomotive, the cluster's members."""
    inventory = load_inventory(paths)
    settings = Settings.from_env()
    bmcs = rack_bmcs(paths, inventory.pxe_interface, retry_sec=STATUS_RETRY_SEC,
                     options=driver_options(paths, settings, timeout=3.0, retries=1),
                     wait_for_answer=False, settings=settings)

    async def power(node: PlannedNode) -> str:
        bmc = await bmcs.open(bmc_ref(node))
        return (await bmc.power_status()).value

    def members(plan: ClusterPlan) -> set[str] | None:
        names = cluster_nodes(paths.lokomotive_dir)
        return None if names is None else joined(plan, names)

    activity = Activity(owner={n.bmc_mac: n.primary_mac for n in inventory.nodes})
    if (paths.state_dir / "racker.db").is_file():  # status never creates the state folder
        with store(paths) as events:
            activity.feed(events.events())
    async with bmcs:
        return await gather(paths, power, members, lambda n: bmcs.protocol(bmc_ref(n)),
                            activity=activity)


async def bmc_targets(paths: Paths, retry_sec: float) -> list[Target]:
    """Every node's BMC (management node excluded), found by its MAC on the PXE interface and
    labelled by it, for `racker bmc rotate-credentials`. All must be found."""
    inventory = load_inventory(paths)
    nodes = sorted(inventory.nodes, key=lambda n: n.primary_mac)
    if not nodes:
        raise InputError(f"{inventory.path} lists no node besides the management node",
                         where=Where(file=str(inventory.path)))
    bmcs = rack_bmcs(paths, inventory.pxe_interface, retry_sec=retry_sec)

    async def locate(node: Node) -> Target | str:
        try:
            found = await bmcs.locate(BmcRef(node.primary_mac, node.bmc_mac))
        except RackerError as e:
            return f"BMC {node.bmc_mac}: {e.message}"
        return (node.bmc_mac, found.ip, IPMI_PORT)

    async with bmcs:
        results = await asyncio.gather(*(locate(n) for n in nodes))
    missing = [r for r in results if isinstance(r, str)]
    if missing:
        raise BmcError("not every BMC was found, nothing was changed:\n  " + "\n  ".join(missing),
                       hint="check the BMCs' power and cabling ('ipmi NODE diag'), or set "
                            "RETRY_SEC to wait longer")
    return [r for r in results if not isinstance(r, str)]


async def rotate_bmc_credentials(paths: Paths, targets: Sequence[Target], current: Credentials,
                                 new: Credentials, *, protocol: str | None = None,
                                 disable_old: bool = False, dry_run: bool = False,
                                 env: Mapping[str, str] | None = None) -> RotationReport:
    """`racker bmc rotate-credentials`, each BMC over its protocol (RACKER_BMC_PROTOCOL, the
    record, detection), or over `protocol` when given."""
    settings = Settings.from_env(env)
    opts = driver_options(paths, settings)
    protocols = bmc_protocols(paths, settings)
    if protocol is not None:
        protocols = replace(protocols, setting=protocol)
    driver = ByProtocol(protocols, lambda p: registry.create(p, opts))
    try:
        return await rotate_credentials(targets, current, new, driver, paths,
                                        disable_old=disable_old, dry_run=dry_run)
    finally:
        await driver.aclose()


def trust_bmc_certificate(paths: Paths, which: str) -> str:
    """`racker bmc trust-cert NODE`: drop the pin of the node's BMC certificate."""
    from racker.adapters.bmc.redfish.tls import PinStore  # late: loads sushy

    pins = PinStore.in_state_dir(paths.state_dir)

    def forget(mac: str) -> Forgotten | None:
        old = pins.forget(mac)
        return None if old is None else Forgotten(old.sha256, old.address)

    return trust_new_certificate(rack_plan(paths)[1], which, forget)


def helper_redfish(paths: Paths, credentials: Credentials, env: Mapping[str, str]
                   ) -> HelperBmcs:
    """The ipmi helper's protocol choice and Redfish driver for what it otherwise runs with
    ipmitool (power actions, the serial console check)."""
    settings = Settings.from_env(env)
    opts = driver_options(paths, settings)

    def ipmi_answers(ip: str, port: int) -> bool:
        from racker.adapters.bmc.ipmi.pyghmi_glue import probe  # late: loads pyghmi

        return asyncio.run(probe(ip, port, 1.5)) is None

    return HelperBmcs(bmc_protocols(paths, settings), lambda p: registry.create(p, opts),
                      credentials, ipmi_answers)


def discovery(paths: Paths, out: TextIO, settings: Settings | None = None) -> Discovery:
    """`racker factory discover` with racker's dnsmasq and boot server (never borrowed from
    `racker serve`: discovery serves a rack without nodes.csv), each BMC opened over the
    protocol it speaks (RACKER_BMC_PROTOCOL; auto: detected and recorded for the bootstrap
    after), and the store."""
    s = settings or Settings.from_env()
    opts = driver_options(paths, s)
    driver = ByProtocol(bmc_protocols(paths, s), lambda p: registry.create(p, opts))
    return Discovery(paths, s, RackServices(paths, s), driver, lambda: store(paths), out)
