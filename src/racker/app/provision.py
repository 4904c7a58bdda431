"""Use case: provision the configured rack (the second half of `racker bootstrap`).

Assets, the PXE interface's address, dnsmasq and the boot server, the BMC check, then the
engine's install stages with the failure policy (retry, exclude, cancel, ask) around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import resource
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from racker.adapters.assets import DirSource, HttpSource, Source, install_flatcar
from racker.adapters.fs.applied import AppliedHashes, ignition_hash
from racker.adapters.fs.node_ignition import FolderKind, node_ignition, read_config_folder
from racker.adapters.fs.store import Store
from racker.adapters.http.requests import NodeReport
from racker.app.bootcatalog import boot_nodes
from racker.app.configuration.create import ConfigureResult
from racker.app.consolecapture import ConsoleCapture, OpenConsole
from racker.app.factory import gen_ssh_key
from racker.app.nodeops import exclude_nodes
from racker.app.pxecapture import RecorderLock, recording_pxe_boots
from racker.app.resume import mark_finished, mark_started
from racker.core.bootnode import BootNode, Catalog, StaticCatalog
from racker.core.events import EventKind
from racker.core.render import asset_dir, config_folder
from racker.engine.control import Control, NoWatch, Watch
from racker.engine.progress import ProgressDisplay, failure_details
from racker.engine.run import Engine, FlagFiles, NodeState, NodeStatus, RunState, retry_bmc_step
from racker.engine.stages import Timeouts
from racker.errors import BmcError, RackerError, ServiceError
from racker.model import ClusterPlan, OnFailure, PlannedNode, Provision
from racker.paths import Paths
from racker.settings import Settings


def check_tools(paths: Paths, provision: Provision) -> None:
    """The programs a provisioning run needs besides racker's own; `racker bootstrap` checks
    them before it writes anything, so that a missing one leaves nothing behind."""
    if provision is Provision.LOKOMOTIVE and shutil.which("lokoctl") is None:
        raise RackerError("lokoctl is not installed (it brings up Kubernetes on the "
                          "provisioned nodes); nothing was written",
                          hint="install lokoctl v0.9 into PATH, or run with -render-only to only "
                               f"write the configuration in {config_folder(paths, provision)}")


BMC_TITLE = "Checking BMC connectivity"
INSTALL_TITLE = "OS installation via PXE"
REPORTED_BMC_STEP_WITHIN = 60.0
"""Seconds racker keeps trying the BMC step a node's report asks for (its boot device to disk)
while the BMC times out (the installer waits up to 300 s for its answer)."""

Ask = Callable[[str], str]


class Services(Protocol):
    """racker's DHCP and boot server for a run (built by the composition root)."""

    def run(self, plan: ClusterPlan, store: Store, catalog: Catalog,
            on_report: NodeReport) -> AbstractAsyncContextManager[None]:
        """Both services up for `plan` while the block runs; ServiceError when they cannot
        start."""
        ...


@dataclass
class Session:
    """Running services: the store where node reports land, and the engine."""

    store: Store
    engine: Engine
    exit_code: int = 0
    """The run's outcome as its user sets it (recorded as the run's end, e.g. for metrics)."""


@dataclass
class Provisioner:
    """Everything one provisioning run needs, the outside world passed in."""

    paths: Paths
    settings: Settings
    control: Control
    services: Services
    open_store: Callable[[], Store]
    out: TextIO
    ask: Ask = input
    netns_ip: Callable[[list[str]], None] = lambda argv: _ip(argv)
    open_console: OpenConsole | None = None
    """The nodes' serial consoles, recorded while they are provisioned (None: not recorded)."""
    recorder_lock: RecorderLock | None = None
    """Held while this process records the consoles of PXE boots no engine follows (None:
    it does not record them)."""
    _title: str = BMC_TITLE
    _logs: Path = Path(".")
    _background: dict[str, asyncio.Task[None]] = dataclasses.field(default_factory=dict)
    """The running BMC task of each node (at most one: reports cannot pile them up)."""

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def run(self, configured: ConfigureResult) -> int:
        """Provision every planned node; returns the exit code."""
        plan = configured.plan
        # checked before any BMC, service or network is touched
        check_tools(self.paths, plan.options.provision)
        mark_started(self.paths, configured.folder)
        logs = configured.folder / "logs" / time.strftime("%Y%m%d-%H%M%S")
        logs.mkdir(parents=True, exist_ok=True)
        self._logs = logs
        self.say(f"Logs: {logs}")
        self._ensure_ssh_key()
        self._fetch_assets()
        self._ensure_address(plan)
        store = self.open_store()
        catalog = StaticCatalog(self._boot_nodes(plan))
        code, finished = 1, False
        run = run_started(store, "bootstrap")
        try:
            async with self._services(plan, store, catalog, "bootstrap"):
                code = await self._provision(plan, store, catalog)
                # recorded while the dashboard still runs, so that it shows the outcome
                run_finished(store, run, "bootstrap", code)
                finished = True
        finally:
            if not finished:
                run_finished(store, run, "bootstrap", code)
            await self.control.close()
            _write_log(logs / "events.log", store)
            store.close()
        return code

    @contextlib.asynccontextmanager
    async def session(self, plan: ClusterPlan, assets: bool,
                      command: str = "apply") -> AsyncIterator[Session]:
        """The services up for `plan` outside a bootstrap (`racker apply`, `node reprovision`).

        Assets are fetched only when `assets` (a PXE install needs them, an Ignition re-run
        does not). The engine's progress goes to `out`.
        """
        logs = _folder(self.paths, plan) / "logs" / time.strftime("%Y%m%d-%H%M%S")
        logs.mkdir(parents=True, exist_ok=True)
        self._logs = logs
        self.say(f"Logs: {logs}")
        if assets:
            self._fetch_assets()
        self._ensure_address(plan)
        store = self.open_store()
        catalog = StaticCatalog(self._boot_nodes(plan))
        display = ProgressDisplay(self.out)
        flags = FlagFiles(asset_dir(self.paths, plan.options.provision))
        timeouts = Timeouts.scaled(self.settings.timeout_scale)
        # the BMC stage includes looking for the BMC by its MAC for RETRY_SEC
        timeouts = dataclasses.replace(timeouts, bmc=self.settings.retry_sec + timeouts.bmc)
        engine = Engine(self.control, store, flags, timeouts,
                        on_change=lambda run: display.update(
                            BMC_TITLE if run.bmc_check else INSTALL_TITLE, run),
                        watch=self._watch(store))
        run = run_started(store, command)
        code, finished = 1, False
        try:
            async with self._services(plan, store, catalog, command):
                session = Session(store, engine)
                yield session
                code = session.exit_code
                # recorded while the dashboard still runs, so that it shows the outcome
                run_finished(store, run, command, code)
                finished = True
        finally:
            if not finished:
                run_finished(store, run, command, code)
            await self.control.close()
            _write_log(logs / "events.log", store)
            store.close()

    async def serve(self, configured: ConfigureResult, until: Callable[[], Awaitable[None]],
                    on_up: Callable[[], None] = lambda: None) -> None:
        """One round of `racker serve`: dnsmasq and the boot server for a configured rack
        until `until()` returns (a stop, or another command borrowing them)."""
        plan = configured.plan
        self._ensure_address(plan)
        store = self.open_store()
        try:
            catalog = StaticCatalog(self._boot_nodes(plan))
            async with self._services(plan, store, catalog, "serve"):
                self.say(f"Serving DHCP on {plan.inventory.pxe_interface} and the boot server on "
                         f"http://{plan.management_ip}:{self.settings.boot_port} "
                         f"for {len(plan.nodes)} nodes (stop with Ctrl-C or SIGTERM)")
                on_up()
                await until()
        finally:
            await self.control.close()
            store.close()

    # --- preparation -------------------------------------------------------------------------

    def _ensure_ssh_key(self) -> None:
        """The nodes' configs carry the management key's public half; make the key pair when
        there is none (ed25519, `~/.ssh/id_ed25519` unless RACKER_SSH_KEY names another)."""
        if not self.paths.ssh_public_key.exists():
            gen_ssh_key(self.paths.ssh_key, run=_quiet_run)
            self.say(f"Created the SSH key {self.paths.ssh_key} for the nodes")

    def _fetch_assets(self) -> None:
        fetch_assets(self.paths, self.settings, self.out)

    def _ensure_address(self, plan: ClusterPlan) -> None:
        """The PXE interface carries the management address (PREFIX.1/24), idempotently."""
        iface = plan.inventory.pxe_interface
        self.netns_ip(["link", "set", iface, "up"])
        self.netns_ip(["addr", "replace", f"{plan.management_ip}/24", "dev", iface])

    def _boot_nodes(self, plan: ClusterPlan) -> list[BootNode]:
        folder = read_config_folder(_folder(self.paths, plan), _kind(plan))
        return boot_nodes(plan, folder, self.paths, self.settings)

    def _services(self, plan: ClusterPlan, store: Store, catalog: StaticCatalog,
                  command: str) -> AbstractAsyncContextManager[None]:
        """The services for `plan`; beside them, the consoles of the PXE boots that `racker
        pxe-boot` and the dashboard start (racker.app.pxecapture)."""
        by_mac = {n.mac: n for n in plan.nodes}

        async def on_report(node: BootNode, kind: EventKind) -> None:
            planned = by_mac.get(node.mac)
            if planned is None:
                return
            if kind is EventKind.INSTALLED:
                # NOTE: before answering: the installer reboots only after this, and a PXE
                # boot of an installed node would install it again
                try:
                    await retry_bmc_step(self.control.set_disk_boot, planned,
                                         REPORTED_BMC_STEP_WITHIN)
                except TimeoutError:  # a call outlasted the minute: the answer names it
                    raise BmcError(f"{planned.name}: its boot device was not set to disk "
                                   f"within {REPORTED_BMC_STEP_WITHIN:g} s: the BMC call "
                                   "did not end") from None
            else:
                # every boot is reported: correct a BMC that lost its boot flags, in the
                # background, so that neither the answer nor the event waits for the BMC
                running = self._background.get(planned.mac)
                if running is not None and not running.done():
                    return
                task = asyncio.create_task(self._reassert_disk_boot(planned, store))
                self._background[planned.mac] = task
                task.add_done_callback(lambda t: self._forget_task(planned.mac, t))

        services = self.services.run(plan, store, catalog, on_report)
        watch = self._watch(store)
        if self.recorder_lock is None or not isinstance(watch, ConsoleCapture):
            return services
        return recording_pxe_boots(services, plan, store, watch, self.settings.timeout_scale,
                                   self.recorder_lock, f"racker {command}")

    def _watch(self, store: Store) -> Watch:
        """The console capture of a run (RACKER_CONSOLE_CAPTURE=0: none)."""
        if self.open_console is None or not self.settings.console_capture:
            return NoWatch()
        return ConsoleCapture(self.open_console, self.paths.console_dir, store)

    def _forget_task(self, mac: str, task: asyncio.Task[None]) -> None:
        if self._background.get(mac) is task:
            del self._background[mac]

    # --- the run -----------------------------------------------------------------------------

    async def _provision(self, plan: ClusterPlan, store: Store, catalog: StaticCatalog) -> int:
        display = ProgressDisplay(self.out)
        flags = FlagFiles(asset_dir(self.paths, plan.options.provision))
        timeouts = Timeouts.scaled(self.settings.timeout_scale)
        # the BMC stage includes looking for the BMC by its MAC for RETRY_SEC
        timeouts = dataclasses.replace(timeouts, bmc=self.settings.retry_sec + timeouts.bmc)
        engine = Engine(self.control, store, flags, timeouts,
                        on_change=lambda run: display.update(self._title, run),
                        watch=self._watch(store))
        self._title = BMC_TITLE
        # a Lokomotive bring-up PXE boots its nodes through lokoctl: their consoles are
        # recorded as pxe-boot's (racker.app.pxecapture), not by this engine
        checked = await engine.check_bmcs(
            plan.nodes, watch=plan.options.provision is not Provision.LOKOMOTIVE)
        ok = not checked.failed
        display.finish(BMC_TITLE, checked, ok)
        if not ok:
            self._bmc_failure(checked)
            return 1
        if plan.options.provision is Provision.LOKOMOTIVE:
            from racker.app.lokomotive import Bringup

            bringup = Bringup(self, store, self._logs)
            return await self.with_policy(plan, catalog, bringup.attempt, bringup.success)

        async def install(plan: ClusterPlan) -> list[PlannedNode] | None:
            self._title = INSTALL_TITLE
            run = await engine.install(plan.nodes)
            display.finish(INSTALL_TITLE, run, not run.failed)
            self._cabling_warnings(run)
            await self._record_applied(plan, run)
            if not run.failed:
                return None
            self._failure(run.failed)
            return [s.node for s in run.failed]

        return await self.with_policy(plan, catalog, install, self._success)

    async def with_policy(self, plan: ClusterPlan, catalog: StaticCatalog,
                          attempt: Callable[[ClusterPlan], Awaitable[list[PlannedNode] | None]],
                          success: Callable[[ClusterPlan], None]) -> int:
        """Run `attempt` (None: success, else the failed nodes, maybe none) under -onfailure."""
        options = plan.options
        tries = 0
        while True:
            failed = await attempt(plan)
            if failed is None:
                mark_finished(self.paths)
                success(plan)
                return 0
            choice = self._choose(options.onfailure, bool(failed))
            if choice in ("retry", "exclude"):
                tries += 1
                if tries > options.retries:
                    self.say(f"Error after {options.retries} retries")
                    self._guidance()
                    return 1
                if choice == "exclude" and failed:
                    self.say(f"Something went wrong, removing {len(failed)} nodes from the "
                             f"configuration and retrying {tries}/{options.retries}")
                    plan = await self._exclude(plan, failed, catalog)
                else:
                    self.say(f"Something went wrong, retrying {tries}/{options.retries}")
                continue
            if choice == "exclude-once":
                plan = await self._exclude(plan, failed, catalog)
                continue
            if choice == "retry-once":
                continue
            self.say("Canceling")
            self._guidance()
            return 1

    async def _record_applied(self, plan: ClusterPlan, run: RunState) -> None:
        """Remember which Ignition each installed node runs, so `racker apply` sees changes."""
        folder = read_config_folder(_folder(self.paths, plan), _kind(plan))
        hashes = AppliedHashes(self.paths.state_dir)
        digests = {st.node.mac: ignition_hash(node_ignition(folder, st.node.name, self.paths)
                                              .to_json(pretty=False))
                   for st in run.nodes.values()
                   if st.state is NodeState.DONE and hashes.get(st.node.mac) is None}
        await asyncio.to_thread(hashes.record_many, digests)

    async def _reassert_disk_boot(self, node: PlannedNode, store: Store) -> None:
        try:
            # NOTE: a lossy link failed one node's call after the driver's three attempts, with
            # most of the minute left
            await retry_bmc_step(self.control.reassert_disk_boot, node,
                                 REPORTED_BMC_STEP_WITHIN)
        except (RackerError, TimeoutError) as e:
            store.add(node.mac, EventKind.ERROR, stage="boot",
                      detail={"error": f"boot device disk not re-asserted: {e}"})

    def _choose(self, policy: OnFailure, can_exclude: bool) -> str:
        if policy is OnFailure.RETRY:
            return "retry"
        if policy is OnFailure.EXCLUDE:
            return "exclude"
        if policy is OnFailure.CANCEL:
            return "cancel"
        options = "[r]etry," + (" [e]xclude nodes from cluster," if can_exclude else "") + \
            " [c]ancel (default retry): "
        while True:
            try:
                answer = self.ask(options).strip().lower()
            except EOFError:
                return "cancel"
            if answer in ("", "r"):
                return "retry-once"
            if answer == "e" and can_exclude:
                return "exclude-once"
            if answer == "c":
                return "cancel"

    async def _exclude(self, plan: ClusterPlan, nodes: list[PlannedNode],
                       catalog: StaticCatalog) -> ClusterPlan:
        new_plan = exclude_nodes(self.paths, plan, [n.mac for n in nodes])
        catalog.replace(self._boot_nodes(new_plan))
        for n in nodes:
            self.say(f"  excluded {n.mac} ({n.name}); add it back later with "
                     f"'racker node include {n.mac}'")
        return new_plan

    # --- texts -------------------------------------------------------------------------------

    def hint(self) -> str:
        return ("Run 'ipmi <MAC|DOMAIN> diag' for a short overview of a node, connect to its "
                "serial console with 'ipmi <MAC|DOMAIN>', see its events with "
                "'racker node timeline <MAC>', or try to connect via SSH.")

    def _bmc_failure(self, run: RunState) -> None:
        failed = run.failed
        self.say(f"The following {len(failed)} BMCs could not be reached:")
        for s in failed:
            self.say(f"  {s.node.mac} (BMC {s.node.node.bmc_mac}): {s.error}")
        macs = " ".join(s.node.mac for s in failed)
        self.say("Please verify all servers are present and that the BMC DHCP assignment "
                 f"worked, or exclude their MAC addresses with -exclude=\"{macs}\".")

    def _cabling_warnings(self, run: RunState) -> None:
        """What the cabling check found that did not stop an install (each row named)."""
        if run.warnings:
            self.say(f"Cabling check: {len(run.warnings)} problems (see 'racker node show "
                     "<MAC>' for what each server reported):")
            for warning in run.warnings:
                self.say(f"  ! {warning}")

    def _failure(self, failed: list[NodeStatus]) -> None:
        self.say(f"Failed to provision the following {len(failed)} nodes:")
        self.say(" ".join(s.node.mac for s in failed))
        details = failure_details(failed)
        for line in details:
            self.say(line)
        self._keep_failures(failed, details)
        self.say(self.hint())

    def _keep_failures(self, failed: list[NodeStatus], details: list[str]) -> None:
        """The failures of this round in the run's log folder (`failures.txt`, one section
        per round of the failure policy), with every failed node's reason."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        lines = [f"# {stamp}: {len(failed)} nodes failed",
                 *(f"{s.node.name} ({s.node.mac}) at stage {s.stage.value}: {s.error}"
                   for s in failed), *details, ""]
        # a full disk must not hide the summary above
        with contextlib.suppress(OSError), (self._logs / "failures.txt").open("a") as f:
            f.write("\n".join(lines) + "\n")

    def _guidance(self) -> None:
        self.say("If individual nodes did not come up, you can retry later with:")
        self.say("  cd ~/flatcar-container-linux; racker apply")
        self.say("To change the nodes' configuration, edit the Container Linux Config files "
                 "flatcar-container-linux/cl/*.yaml and run 'racker apply'.")

    def _success(self, plan: ClusterPlan) -> None:
        self.say(f"All {len(plan.nodes)} nodes are provisioned with a minimal Ignition "
                 "configuration (see the Container Linux Config files in "
                 "flatcar-container-linux/cl/).")
        self.say("Running 'racker bootstrap' is not needed anymore to change something: edit "
                 "the files in flatcar-container-linux/cl/ and run:")
        self.say("  cd ~/flatcar-container-linux; racker apply")
        self.say("See the rack with 'racker status'. DHCP and the boot server stop with this "
                 "command: keep them running with 'racker serve' (installed as a service by "
                 "'racker install'), or BMC leases run out.")


def fetch_assets(paths: Paths, settings: Settings, out: TextIO) -> None:
    """The Flatcar PXE and install images into the state folder (signature checked), with a
    progress line on `out`."""
    s = settings
    source: Source = DirSource(s.assets_from) if s.assets_from else HttpSource(s.base_url)
    fingerprint = None if s.flatcar_key else "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A"
    out.write(f"➤ Flatcar Container Linux {s.flatcar_channel}/{s.flatcar_version} assets...")
    out.flush()
    try:
        got = install_flatcar(paths.state_dir / "assets", source, version=s.flatcar_version,
                              key_file=s.flatcar_key, fingerprint=fingerprint)
    except RackerError:
        out.write(" × failed\n")
        raise
    out.write(f" ✓ {got.version} {'verified and installed' if got.fetched else 'up to date'}\n")
    out.flush()


def _kind(plan: ClusterPlan) -> FolderKind:
    return FolderKind.FLATCAR if plan.options.provision is Provision.FLATCAR \
        else FolderKind.LOKOMOTIVE


def _folder(paths: Paths, plan: ClusterPlan) -> Path:
    return paths.lokomotive_dir if plan.options.provision is Provision.LOKOMOTIVE \
        else paths.flatcar_dir


def _quiet_run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """subprocess.run without output on the operator's terminal (ssh-keygen's randomart)."""
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def _ip(argv: list[str]) -> None:
    r = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise ServiceError(f"ip {' '.join(argv)} failed: {r.stderr.strip()}",
                           hint="racker configures the PXE interface itself; run it as root")


def run_started(store: Store, command: str) -> int:
    """Record that `racker COMMAND` started a run; the run's id (its event's id)."""
    return store.add("", EventKind.RUN, detail={"phase": "start", "command": command}).id


def run_finished(store: Store, run: int, command: str, exit_code: int) -> None:
    """Record the end of run `run` with its exit code (the dashboard's runs list reads both)
    and the CPU seconds this racker process used (`cpu_s`: its own threads, not dnsmasq)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    store.add("", EventKind.RUN, detail={"phase": "end", "run": run, "command": command,
                                         "exit_code": exit_code,
                                         "cpu_s": round(used.ru_utime + used.ru_stime, 3)})


def _write_log(path: Path, store: Store) -> None:
    with path.open("w") as f:
        for e in store.events():
            if e.kind is not EventKind.REQUEST:
                f.write(f"{time.strftime('%H:%M:%S', time.localtime(e.ts))} {e.mac or '-'} "
                        f"{e.kind.value} {e.stage or ''} {dict(e.detail)}\n")
