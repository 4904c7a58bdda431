"""Use case: `racker apply` in a configuration folder (plan, then act).

Re-render what racker owns, then per node: no flag file → full PXE reinstall through the
engine's install stages; Ignition changed since it was last applied → Ignition-only re-run over
SSH (`touch /boot/flatcar/first_boot`, reboot: Ignition runs again on the next boot and the
node reports `booted`); controllers only when forced, as in the reference (and Lokomotive
workers not when `ignore_worker_changes = true`). `plan_apply` reads only; `execute` acts.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TextIO

from racker.adapters.fs.applied import AppliedHashes, ignition_hash
from racker.adapters.fs.node_ignition import FolderKind, node_ignition, read_config_folder
from racker.adapters.fs.store import Store
from racker.app.configuration.loaded import (
    Configured,
    load_configured,
    updates,
    vars_name,
    write_updates,
)
from racker.app.sshtrust import HostTrust, host_trust
from racker.core.events import EventKind
from racker.core.layout import Layout
from racker.core.render import RenderedFile, asset_dir
from racker.core.render.folder import render_config
from racker.engine.progress import failure_details
from racker.engine.run import Engine, FlagFiles, NodeState
from racker.engine.watch import EventWatcher
from racker.errors import RackerError
from racker.model import ClusterPlan, PlannedNode, Provision, Role
from racker.paths import Paths


class Action(StrEnum):
    REINSTALL = "reinstall"
    RERUN = "re-run Ignition"
    SKIP = "skip"
    NONE = "up to date"


@dataclass(frozen=True)
class NodeAction:
    """What apply does to one node, and why."""

    node: PlannedNode
    action: Action
    reason: str
    ignition: str
    forced: bool = False
    """A reinstall asked for (node reprovision): its flag file goes once the reinstall can
    start."""
    """Hash of the node's Ignition after the re-render."""


@dataclass(frozen=True)
class ApplyPlan:
    """Everything apply would do; `execute` carries it out."""

    configured: Configured
    plan: ClusterPlan
    layout: Layout
    files: tuple[RenderedFile, ...]
    actions: tuple[NodeAction, ...]

    def of(self, action: Action) -> list[NodeAction]:
        """The node actions of one kind."""
        return [a for a in self.actions if a.action is action]


_IGNORE_WORKERS = re.compile(r"^\s*ignore_worker_changes\s*=\s*true\b", re.MULTILINE)


def _ignore_worker_changes(folder: Path) -> bool:
    try:
        return bool(_IGNORE_WORKERS.search((folder / "baremetal.lokocfg").read_text()))
    except OSError:
        return False


def _kind(provision: Provision) -> FolderKind:
    return FolderKind.FLATCAR if provision is Provision.FLATCAR else FolderKind.LOKOMOTIVE


def _hashes(folder: Path, kind: FolderKind, nodes: Sequence[PlannedNode], paths: Paths
            ) -> dict[str, str]:
    cf = read_config_folder(folder, kind)
    return {n.name: ignition_hash(node_ignition(cf, n.name, paths).to_json(pretty=False))
            for n in nodes}


def _stage(target: Path, files: Sequence[RenderedFile]) -> None:
    for f in files:
        (target / f.path).parent.mkdir(parents=True, exist_ok=True)
        (target / f.path).write_text(f.content)


def ignition_hashes(c: Configured, files: Sequence[RenderedFile]) -> tuple[dict[str, str],
                                                                           dict[str, str]]:
    """(node name → hash of its Ignition once `files` are written, → as racker rendered it).

    Both are computed in scratch copies, so that planning changes nothing in the folder.
    """
    kind = _kind(c.options.provision)
    with tempfile.TemporaryDirectory(prefix="racker-apply-") as tmp:
        now, pristine = Path(tmp) / "now", Path(tmp) / "pristine"
        now.mkdir()
        for rel in (vars_name(c.options.provision), "templates", "cl", "baremetal.lokocfg"):
            src = c.folder / rel
            if src.is_dir():
                shutil.copytree(src, now / rel)
            elif src.is_file():
                shutil.copy2(src, now / rel)
        _stage(now, files)
        pristine.mkdir()
        _stage(pristine, render_config(c.plan, c.paths))
        return (_hashes(now, kind, c.plan.nodes, c.paths),
                _hashes(pristine, kind, c.plan.nodes, c.paths))


def plan_apply(paths: Paths, folder: Path, *, include_controllers: bool = False,
               only: Collection[str] | None = None,
               reinstall: Collection[str] = ()) -> ApplyPlan:
    """Decide what apply does (reads the folder, the rack and the state; writes nothing).

    `only`: primary MACs to consider (the others are left as they are); `reinstall`: primary
    MACs to reinstall via PXE whatever their state (`racker node reprovision`).
    """
    c = load_configured(paths, folder)
    files = tuple(updates(c, c.plan, c.options, c.layout))
    current, pristine = ignition_hashes(c, files)
    flags = FlagFiles(asset_dir(paths, c.options.provision))
    applied = AppliedHashes(paths.state_dir)
    ignore_workers = (c.options.provision is Provision.LOKOMOTIVE
                      and _ignore_worker_changes(folder))
    actions = []
    for n in c.plan.nodes:
        digest = current[n.name]
        if only is not None and n.mac not in only:
            continue
        if n.mac in reinstall:
            actions.append(NodeAction(n, Action.REINSTALL, "reprovision requested", digest,
                                      forced=True))
            continue
        if not flags.done(n.mac):
            act, why = Action.REINSTALL, f"no flag file {flags.path(n.mac)}"
        elif digest == (applied.get(n.mac) or pristine[n.name]):
            act, why = Action.NONE, "Ignition unchanged"
        elif n.role is Role.CONTROLLER and not include_controllers:
            act, why = Action.SKIP, ("Ignition changed, but controllers are re-run only with "
                                     "--include-controllers")
        elif n.role is Role.WORKER and ignore_workers and not include_controllers:
            act, why = Action.SKIP, ("Ignition changed, but baremetal.lokocfg sets "
                                     "ignore_worker_changes = true")
        else:
            act, why = Action.RERUN, "Ignition changed"
        actions.append(NodeAction(n, act, why, digest))
    return ApplyPlan(c, c.plan, c.layout, files, tuple(actions))


def describe(ap: ApplyPlan) -> list[str]:
    """The plan as lines for the operator (what --dry-run prints)."""
    lines = [f"Configuration folder: {ap.configured.folder}"]
    if ap.files:
        lines.append("Files to write: " + ", ".join(f.path.as_posix() for f in ap.files))
    else:
        lines.append("Files to write: none (the folder is up to date)")
    for a in ap.actions:
        lines.append(f"  {a.node.mac}  {a.node.name:<30} {a.action.value:<16} {a.reason}")
    counts = {k: len(ap.of(k)) for k in Action}
    lines.append(f"{counts[Action.REINSTALL]} to reinstall, {counts[Action.RERUN]} to re-run "
                 f"Ignition, {counts[Action.SKIP]} skipped, {counts[Action.NONE]} up to date")
    return lines


# ---- acting ---------------------------------------------------------------------------------

def _nodes(n: int) -> str:
    return f"{n} node" if n == 1 else f"{n} nodes"


class SshRunner(Protocol):
    """Runs one command on a node as `core` with racker's key, checking the node's host key
    against `trust`; returns (exit code, stderr)."""

    async def run(self, host: str, command: str, trust: HostTrust) -> tuple[int, str]: ...


FIRST_BOOT = "sudo touch /boot/flatcar/first_boot"
REBOOT = "sudo systemctl reboot"
SSH_DROPPED = 255
"""ssh's exit code when the connection ends without the command's status (the reboot)."""


@dataclass
class OpenSsh:
    """The `ssh` client with racker's key, bounded in time, checking host keys."""

    key: Path
    user: str = "core"
    timeout: float = 60.0
    port: int = 22
    connect_timeout: int = 10
    wrap: tuple[str, ...] = ()
    """Command prefix, e.g. `ip netns exec NS` (tests)."""

    async def run(self, host: str, command: str, trust: HostTrust) -> tuple[int, str]:
        # NOTE: host keys change with every reinstall: racker keeps one known_hosts file per
        # node, from the keys the node reported at its first boot (app/sshtrust.py); the
        # user's own known_hosts is neither read nor written
        check = "accept-new" if trust.accept_new else "yes"
        argv = [*self.wrap, "ssh", "-i", str(self.key), "-p", str(self.port),
                "-o", "BatchMode=yes", "-o", f"StrictHostKeyChecking={check}",
                "-o", f"UserKnownHostsFile={trust.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"HostKeyAlias={host}",
                "-o", f"ConnectTimeout={self.connect_timeout}", "-o", "LogLevel=ERROR",
                f"{self.user}@{host}", command]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except FileNotFoundError:
            raise RackerError("the ssh client is not installed",
                              hint="install openssh-client") from None
        try:
            _, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return SSH_DROPPED, f"no answer within {self.timeout:.0f} s"
        return proc.returncode or 0, err.decode(errors="replace").strip()


async def rerun_ignition(ssh: SshRunner, node: PlannedNode, trust: HostTrust) -> None:
    """Mark the node's next boot as a first boot and reboot it (Ignition runs again)."""
    code, err = await ssh.run(node.ip, FIRST_BOOT, trust)
    if code != 0:
        hint = "check that the node is up and accepts racker's SSH key for core"
        if "Host key verification failed" in err or "HOST IDENTIFICATION HAS CHANGED" in err:
            hint = ("the node's SSH host key is not the one it reported at its first boot "
                    f"({trust.known_hosts}): another machine may answer on {node.ip}; if the "
                    f"node was reinstalled without racker, reinstall it with 'racker node "
                    f"reprovision {node.mac}'")
        raise RackerError(f"SSH to {node.name} ({node.ip}) failed: {err or f'exit {code}'}",
                          hint=hint)
    code, err = await ssh.run(node.ip, REBOOT, trust)
    if code not in (0, SSH_DROPPED):
        raise RackerError(f"rebooting {node.name} ({node.ip}) failed: {err or f'exit {code}'}")


class Session(Protocol):
    """Services running for a plan: the store the reports land in and the engine."""

    store: Store
    engine: Engine
    exit_code: int
    """Set by the executor: the run's outcome, recorded when the session ends."""


OpenSession = Callable[[ClusterPlan, bool], AbstractAsyncContextManager[Session]]
"""(plan, fetch assets) → a running session (racker.app.provision.Provisioner.session)."""


@dataclass
class Executor:
    """Carries out an ApplyPlan with the outside world passed in."""

    paths: Paths
    session: OpenSession
    ssh: SshRunner
    out: TextIO
    boot_timeout: float = 900.0
    bmc_rechecks: int = 3
    bmc_recheck_pause: float = 3.0

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def run(self, ap: ApplyPlan) -> int:
        """Write the files, then reinstall and re-run; returns the exit code."""
        # NOTE: a running `racker serve` lends apply its services (RackServices.run)
        write_updates(ap.configured, ap.plan, ap.files)
        if ap.files:
            self.say("✓ wrote " + ", ".join(f.path.as_posix() for f in ap.files))
        applied = AppliedHashes(self.paths.state_dir)
        for a in ap.of(Action.NONE):
            if applied.get(a.node.mac) is None:
                applied.record(a.node.mac, a.ignition)  # the baseline for the next apply
        for a in ap.of(Action.SKIP):
            self.say(f"  {a.node.name}: {a.reason}")
        reinstall, rerun = ap.of(Action.REINSTALL), ap.of(Action.RERUN)
        if not reinstall and not rerun:
            self.say("Nothing to reinstall or re-run: every node is up to date.")
            return 0
        if ap.plan.options.provision is Provision.LOKOMOTIVE:
            # NOTE: a Lokomotive node's Ignition is lokoctl's (racker's snippets merged into its
            # Kubernetes configuration); serving only the snippets would wipe the node's role
            raise RackerError(
                f"in {ap.configured.folder}, lokoctl installs and re-configures the nodes",
                hint="run 'lokoctl cluster apply' there; it calls 'racker pxe-boot' for the "
                     "nodes without a flag file")
        failed: list[tuple[PlannedNode, str]] = []
        async with self.session(ap.plan, bool(reinstall)) as s:
            outcome = await asyncio.gather(self._reinstall(s, reinstall, ap.plan.options.provision),
                                           self._rerun(s, rerun))
            for part in outcome:
                failed += part
            s.exit_code = 1 if failed else 0
        done = len(reinstall) + len(rerun) - len(failed)
        mark = "×" if failed else "✓"
        self.say(f"{mark} {done} of {_nodes(len(reinstall) + len(rerun))} applied")
        if failed:
            self.say(f"Failed on {_nodes(len(failed))}:")
            for n, why in failed:
                self.say(f"  {n.mac} ({n.name}): {why}")
            self.say("See a node's events with 'racker node timeline MAC'; run 'racker apply' "
                     "again to retry, or leave a node out with 'racker node exclude MAC'.")
            return 1
        return 0

    async def _reinstall(self, s: Session, actions: list[NodeAction], provision: Provision
                         ) -> list[tuple[PlannedNode, str]]:
        if not actions:
            return []
        nodes = [a.node for a in actions]
        self.say(f"➤ Reinstalling {_nodes(len(nodes))} via PXE: "
                 + ", ".join(n.name for n in nodes))
        checked = await s.engine.check_bmcs(nodes, watch=True)
        failed = [(st.node, st.error) for st in checked.failed]
        for _ in range(self.bmc_rechecks):
            if not failed:
                break
            # NOTE: a new server's BMC may still hold a pool address and move to its planned
            # one when it renews its lease (e.g. after 'racker node replace'): look again
            await asyncio.sleep(self.bmc_recheck_pause)
            again = await s.engine.check_bmcs([n for n, _ in failed], watch=True)
            failed = [(st.node, st.error) for st in again.failed]
        reachable = [n for n in nodes if n.mac not in {f.mac for f, _ in failed}]
        by_mac = {a.node.mac: a for a in actions}
        # a reinstall asked for (node reprovision) drops the node's provisioned state only
        # now: services up, BMC answering; a refusal or a missing BMC leaves it as it was
        flags = FlagFiles(asset_dir(self.paths, provision))
        for n in reachable:
            if by_mac[n.mac].forced:
                flags.path(n.mac).unlink(missing_ok=True)
                AppliedHashes(self.paths.state_dir).forget(n.mac)
        run = await s.engine.install(reachable) if reachable else None
        if run is not None and run.warnings:  # the cabling check's findings, rows named
            self.say(f"Cabling check: {len(run.warnings)} problems (see 'racker node show "
                     "<MAC>'):")
            for warning in run.warnings:
                self.say(f"  ! {warning}")
        # what a failed node said (the installer's journal) and showed (its console)
        for line in failure_details(run.failed if run else []):
            self.say(line)
        applied = AppliedHashes(self.paths.state_dir)
        for st in (run.nodes.values() if run else ()):
            if st.state is NodeState.DONE:
                applied.record(st.node.mac, by_mac[st.node.mac].ignition)
            else:
                failed.append((st.node, st.error or "not finished"))
        return failed

    async def _rerun(self, s: Session, actions: list[NodeAction]
                     ) -> list[tuple[PlannedNode, str]]:
        if not actions:
            return []
        self.say(f"➤ Re-running Ignition on {_nodes(len(actions))}: "
                 + ", ".join(a.node.name for a in actions))
        watcher = EventWatcher(s.store, 0.2)
        watcher.start()
        applied = AppliedHashes(self.paths.state_dir)

        async def one(a: NodeAction) -> tuple[PlannedNode, str] | None:
            trust = host_trust(s.store, self.paths.state_dir, a.node)
            if trust.accept_new:
                self.say(f"  {a.node.name}: no SSH host key recorded (installed by an older "
                         "racker): the key it shows now is pinned")
            booted = watcher.expect(a.node.mac, lambda e: e.kind is EventKind.BOOTED)
            try:
                await rerun_ignition(self.ssh, a.node, trust)
                await asyncio.wait_for(booted, self.boot_timeout)
            except RackerError as e:
                return a.node, e.message
            except TimeoutError:
                return a.node, (f"no 'booted' report within {self.boot_timeout:.0f} s after "
                                "the reboot")
            finally:
                booted.cancel()
            applied.record(a.node.mac, a.ignition)
            s.store.add(a.node.mac, EventKind.PROVISIONED, detail={"apply": "ignition re-run"})
            return None

        try:
            results = await asyncio.gather(*(one(a) for a in actions))
        finally:
            await watcher.stop()
        return [r for r in results if r is not None]
