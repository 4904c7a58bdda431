"""racker apply: the plan of actions on a configured folder, and its executor with fakes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from racker.adapters.fs.applied import AppliedHashes
from racker.adapters.fs.store import Store
from racker.app.apply import REBOOT, Action, ApplyPlan, Executor, plan_apply
from racker.app.sshtrust import HostTrust
from racker.cli import cmd_apply
from racker.core.events import EventKind
from racker.core.hardware import Hardware, Nic
from racker.core.render import asset_dir, config_folder
from racker.engine.run import Engine, FlagFiles
from racker.model import ClusterPlan, Options, PlannedNode, Provision
from racker.paths import Paths
from tests.nodeops_support import configured_rack, tree_digest
from tests.unit.test_engine import FAST, FakeRack


def provisioned(paths: Paths, provision: Provision = Provision.FLATCAR) -> ClusterPlan:
    """Every node has its flag file, as after a successful bootstrap."""
    ap = plan_apply(paths, config_folder(paths, provision))
    flags = FlagFiles(asset_dir(paths, provision))
    for a in ap.actions:
        flags.mark(a.node)
    return ap.plan


@dataclass
class FakeSsh:
    """Records commands; a reboot makes the node report `booted` a moment later."""

    store: Store
    plan: ClusterPlan
    calls: list[tuple[str, str]] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)

    trusts: list[HostTrust] = field(default_factory=list)

    async def run(self, host: str, command: str, trust: HostTrust) -> tuple[int, str]:
        self.calls.append((host, command))
        self.trusts.append(trust)
        if host in self.unreachable:
            return 255, f"ssh: connect to host {host} port 22: No route to host"
        if command == REBOOT:
            mac = next(n.mac for n in self.plan.nodes if n.ip == host)

            async def boot() -> None:
                await asyncio.sleep(0.02)
                self.store.add(mac, EventKind.BOOTED)

            asyncio.get_running_loop().create_task(boot())
            return 255, f"Connection to {host} closed by remote host."
        return 0, ""


@dataclass
class FakeSession:
    store: Store
    engine: Engine
    exit_code: int = 0


@dataclass
class Harness:
    paths: Paths
    store: Store
    rack: FakeRack
    ssh: FakeSsh | None = None
    sessions: list[bool] = field(default_factory=list)
    out: io.StringIO = field(default_factory=io.StringIO)

    def executor(self, ap: ApplyPlan) -> Executor:
        self.ssh = self.ssh or FakeSsh(self.store, ap.plan)
        engine = Engine(self.rack, self.store, FlagFiles(asset_dir(
            self.paths, ap.plan.options.provision)), FAST, poll_interval=0.02)

        @contextlib.asynccontextmanager
        async def session(plan: ClusterPlan, assets: bool) -> AsyncIterator[FakeSession]:
            self.sessions.append(assets)
            yield FakeSession(self.store, engine)

        return Executor(self.paths, session, self.ssh, self.out, boot_timeout=2,
                        bmc_recheck_pause=0.01)

    def apply(self, provision: Provision = Provision.FLATCAR, include_controllers: bool = False
              ) -> tuple[ApplyPlan, int]:
        ap = plan_apply(self.paths, config_folder(self.paths, provision),
                        include_controllers=include_controllers)
        return ap, asyncio.run(self.executor(ap).run(ap))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    paths = configured_rack(tmp_path, 4)
    store = Store(tmp_path / "events.db")
    return Harness(paths, store, FakeRack(store))


def test_reinstall_prints_what_the_cabling_check_found(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    target = plan.nodes[1]
    FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(target.mac).unlink()
    # the server that PXE booted as this row has a BMC whose GUID is another machine's
    harness.rack.guids[target.mac] = uuid.UUID(int=7).bytes_le
    harness.rack.hardware[target.mac] = Hardware(
        str(uuid.UUID("4c4c4544-0042-3510-8052-b4c04f333132")),
        nics=(Nic("eno1", target.mac, link=True),))
    _, code = harness.apply()
    assert code == 0  # a warning: the node is installed
    out = harness.out.getvalue()
    assert "Cabling check: 1 problems" in out
    assert (f"  ! nodes.csv line {target.node.line} ({target.name}): the BMC "
            f"{target.node.bmc_mac} answers system GUID") in out


def test_fresh_provisioned_rack_is_up_to_date(harness: Harness) -> None:
    provisioned(harness.paths)
    ap, code = harness.apply()
    assert code == 0
    assert [a.action for a in ap.actions] == [Action.NONE] * 4
    # the first apply records the node layout, from then on names and addresses are pinned
    assert [f.path.as_posix() for f in ap.files] == ["racker-nodes.yaml"]
    assert not plan_apply(harness.paths, harness.paths.flatcar_dir).files
    assert harness.sessions == []  # no service started, no BMC touched
    hashes = AppliedHashes(harness.paths.state_dir)
    assert all(hashes.get(a.node.mac) == a.ignition for a in ap.actions)


def test_removed_flag_file_reinstalls_only_that_node(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    target = plan.nodes[2]
    FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(target.mac).unlink()
    ap = plan_apply(harness.paths, harness.paths.flatcar_dir)
    assert [(a.node.mac, a.action) for a in ap.actions if a.action is not Action.NONE] == \
        [(target.mac, Action.REINSTALL)]
    _, code = harness.apply()
    assert code == 0
    assert harness.rack.powered == [target.mac]
    assert harness.sessions == [True]  # assets fetched for the PXE install
    assert FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).done(target.mac)
    assert harness.ssh is not None and harness.ssh.calls == []
    again, _ = harness.apply()
    assert {a.action for a in again.actions} == {Action.NONE}


def test_edited_custom_config_reruns_ignition_on_only_that_node(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    harness.apply()  # records the baseline
    target = plan.nodes[1]
    custom = harness.paths.flatcar_dir / "cl" / f"{target.name}-custom.yaml"
    custom.write_text("storage:\n  files:\n    - path: /etc/motd\n      filesystem: root\n"
                      "      contents:\n        inline: hello\n")
    ap, code = harness.apply()
    assert code == 0
    assert [(a.node.mac, a.action) for a in ap.actions if a.action is not Action.NONE] == \
        [(target.mac, Action.RERUN)]
    assert harness.ssh is not None
    assert harness.ssh.calls == [(target.ip, "sudo touch /boot/flatcar/first_boot"),
                                 (target.ip, "sudo systemctl reboot")]
    assert harness.rack.powered == [] and harness.sessions == [False]
    assert AppliedHashes(harness.paths.state_dir).get(target.mac) == ap.actions[1].ignition
    again, _ = harness.apply()
    assert {a.action for a in again.actions} == {Action.NONE}
    # no host key recorded (the fake node reported none): pinned on first use
    assert all(t.accept_new for t in harness.ssh.trusts)


def test_rerun_checks_the_host_key_the_node_reported(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    harness.apply()
    target = plan.nodes[1]
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG0AAAAA"
    harness.store.add(target.mac, EventKind.INSTALLED)
    harness.store.add(target.mac, EventKind.BOOTED, detail={"host_keys": [key]})
    custom = harness.paths.flatcar_dir / "cl" / f"{target.name}-custom.yaml"
    custom.write_text(custom.read_text() + "passwd:\n  users:\n    - name: ops\n")
    _, code = harness.apply()
    assert code == 0 and harness.ssh is not None
    (trust,) = set(harness.ssh.trusts)
    assert not trust.accept_new
    assert trust.known_hosts.read_text() == f"{target.ip} {key}\n"


def test_edit_right_after_bootstrap_is_found_without_a_recorded_hash(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    template = harness.paths.flatcar_dir / "cl" / f"{plan.nodes[0].name}.yaml"
    template.write_text(template.read_text().replace("RequiredForOnline=no",
                                                     "RequiredForOnline=yes"))
    ap = plan_apply(harness.paths, harness.paths.flatcar_dir)
    assert [a.action for a in ap.actions] == [Action.RERUN] + [Action.NONE] * 3


def test_failed_ssh_keeps_the_node_pending(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    target = plan.nodes[3]
    custom = harness.paths.flatcar_dir / "cl" / f"{target.name}-custom.yaml"
    custom.write_text(custom.read_text() + "passwd:\n  users:\n    - name: ops\n")
    harness.ssh = FakeSsh(harness.store, plan, unreachable={target.ip})
    _, code = harness.apply()
    assert code == 1
    assert AppliedHashes(harness.paths.state_dir).get(target.mac) is None
    assert plan_apply(harness.paths, harness.paths.flatcar_dir).actions[3].action \
        is Action.RERUN


def test_controllers_rerun_only_when_forced(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 3, Options(provision=Provision.LOKOMOTIVE))
    plan = provisioned(paths, Provision.LOKOMOTIVE)
    for n in plan.nodes:
        custom = paths.lokomotive_dir / "cl" / f"{n.name}-custom.yaml"
        custom.write_text("passwd:\n  users:\n    - name: ops\n")
    ap = plan_apply(paths, paths.lokomotive_dir)
    by_role = {a.node.role.value: a.action for a in ap.actions}
    assert by_role == {"controller": Action.SKIP, "worker": Action.RERUN}
    forced = plan_apply(paths, paths.lokomotive_dir, include_controllers=True)
    assert {a.action for a in forced.actions} == {Action.RERUN}
    (paths.lokomotive_dir / "baremetal.lokocfg").write_text(
        (paths.lokomotive_dir / "baremetal.lokocfg").read_text().replace(
            "ignore_worker_changes     = false", "ignore_worker_changes     = true"))
    ap = plan_apply(paths, paths.lokomotive_dir)
    assert {a.action for a in ap.actions} == {Action.SKIP}


def test_dry_run_changes_nothing(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    plan = provisioned(harness.paths)
    FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(plan.nodes[0].mac).unlink()
    (harness.paths.flatcar_dir / "terraform.tfvars").unlink()  # racker would write it again
    custom = harness.paths.flatcar_dir / "cl" / f"{plan.nodes[1].name}-custom.yaml"
    custom.write_text("passwd:\n  users:\n    - name: ops\n")
    p = harness.paths
    roots = (p.home, p.state_dir, p.hosts_file, p.oem_dir)
    before = tree_digest(*roots)

    def no_executor(*_a: object) -> Executor:
        raise AssertionError("a dry run must not act")

    assert cmd_apply.main(["--dry-run", "-C", str(p.flatcar_dir)], paths=p,
                          make_executor=no_executor) == 0
    assert tree_digest(*roots) == before
    out = capsys.readouterr().out
    assert "terraform.tfvars" in out and "reinstall" in out and "re-run Ignition" in out
    assert "1 to reinstall, 1 to re-run Ignition, 0 skipped, 2 up to date" in out


def test_without_terminal_apply_needs_yes(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(plan.nodes[0].mac).unlink()
    from racker.errors import InputError

    with pytest.raises(InputError, match="--yes"):
        cmd_apply.main(["-C", str(harness.paths.flatcar_dir)], paths=harness.paths,
                       make_executor=lambda _p, ap, _o: harness.executor(ap))
    assert cmd_apply.main(["-C", str(harness.paths.flatcar_dir), "--yes"], paths=harness.paths,
                          make_executor=lambda _p, ap, _o: harness.executor(ap)) == 0
    assert harness.rack.powered == [plan.nodes[0].mac]


def test_replaced_server_is_installed_under_the_old_name_and_ip(harness: Harness) -> None:
    from racker.app import nodeops

    plan = provisioned(harness.paths)
    harness.apply()
    old = plan.nodes[1]
    new_mac = "0a:00:00:00:00:07"
    nodeops.replace(harness.paths, harness.paths.flatcar_dir, old.mac, new_mac,
                    "0a:00:00:00:01:07")
    ap = plan_apply(harness.paths, harness.paths.flatcar_dir)
    (todo,) = [a for a in ap.actions if a.action is not Action.NONE]
    assert todo.action is Action.REINSTALL
    assert (todo.node.mac, todo.node.name, todo.node.ip, todo.node.bmc_ip) == \
        (new_mac, old.name, old.ip, old.bmc_ip)
    _, code = harness.apply()
    assert code == 0 and harness.rack.powered == [new_mac]
    flag = FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(new_mac)
    assert flag.read_text() == f"{old.name}\n"


def test_lokomotive_folder_is_applied_by_lokoctl(tmp_path: Path) -> None:
    from racker.errors import RackerError

    paths = configured_rack(tmp_path, 2, Options(provision=Provision.LOKOMOTIVE))
    store = Store(tmp_path / "events.db")
    h = Harness(paths, store, FakeRack(store))
    with pytest.raises(RackerError, match="lokoctl cluster apply"):
        h.apply(Provision.LOKOMOTIVE)
    assert h.rack.powered == [] and h.sessions == []


def test_reprovision_keeps_the_flag_file_until_the_reinstall_can_start(
        harness: Harness) -> None:
    plan = provisioned(harness.paths)
    target = plan.nodes[0]
    flag = FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(target.mac)
    folder = config_folder(harness.paths, Provision.FLATCAR)
    ap = plan_apply(harness.paths, folder, only={target.mac}, reinstall={target.mac})
    assert [(a.node.mac, a.action, a.forced) for a in ap.actions] == [
        (target.mac, Action.REINSTALL, True)]
    harness.rack.bmc_down.add(target.mac)
    ex = harness.executor(ap)
    assert asyncio.run(ex.run(ap)) == 1
    assert flag.is_file() and harness.rack.powered == []  # unreachable: left as it was
    out = ex.out.getvalue()  # type: ignore[attr-defined]
    assert "× 0 of 1 node applied" in out and "✓ 0 of" not in out
    harness.rack.bmc_down.clear()
    assert asyncio.run(harness.executor(ap).run(ap)) == 0
    assert harness.rack.powered == [target.mac] and flag.is_file()  # reinstalled, flagged


def test_a_bmc_that_answers_late_is_checked_again(harness: Harness) -> None:
    plan = provisioned(harness.paths)
    target = plan.nodes[0]
    FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(target.mac).unlink()
    harness.rack.bmc_down.add(target.mac)
    calls = 0
    real = harness.rack.check_bmc

    async def flaky(node: PlannedNode) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            harness.rack.bmc_down.clear()  # moved to its planned address
        return await real(node)

    harness.rack.check_bmc = flaky  # type: ignore[method-assign]
    _, code = harness.apply()
    assert code == 0 and calls == 2 and harness.rack.powered == [target.mac]
    harness.rack.bmc_down.add(target.mac)
    FlagFiles(asset_dir(harness.paths, Provision.FLATCAR)).path(target.mac).unlink()
    harness.rack.check_bmc = real  # type: ignore[method-assign]
    _, code = harness.apply()
    assert code == 1  # still down after the re-checks: reported, nothing installed


def test_applied_hashes_recorded_many_at_once(tmp_path: Path) -> None:
    hashes = AppliedHashes(tmp_path / "state")
    hashes.record("02:00:00:00:00:01", "old")
    digests = {f"02:00:00:00:00:{i:02x}": f"{i:064x}" for i in range(1, 49)}
    hashes.record_many(digests)
    assert {mac: hashes.get(mac) for mac in digests} == digests  # the older record replaced
    assert sorted(p.name for p in hashes.dir.iterdir()) == sorted(f"{m}.sha256" for m in digests)
