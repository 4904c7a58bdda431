"""racker node exclude|include|replace on a configured rack folder (files only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.adapters.fs.node_ignition import FolderKind, read_config_folder
from racker.app import nodeops
from racker.app.configuration.loaded import load_configured
from racker.cli import cmd_node
from racker.core.render import asset_dir
from racker.core.render.ignition_folder import parse_string_list
from racker.errors import InputError
from racker.model import ClusterPlan, Options, Provision
from racker.paths import Paths
from tests.nodeops_support import configured_rack, paths_env, tree_digest
from tests.rackfixtures import bmc_mac, primary_mac, secondary_mac


def tfvars(paths: Paths) -> str:
    return (paths.flatcar_dir / "terraform.tfvars").read_text()


def arrays(paths: Paths) -> tuple[list[str], list[str]]:
    text = tfvars(paths)
    return parse_string_list(text, "node_macs") or [], parse_string_list(text, "node_names") or []


def test_exclude_then_include_puts_the_node_last(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 4)
    folder = paths.flatcar_dir
    custom = folder / "cl" / "node-1-custom.yaml"
    custom.write_text(custom.read_text() + "# operator edit\n")
    macs0, _ = arrays(paths)
    hosts0 = paths.hosts_file.read_text()
    (asset_dir(paths, Provision.FLATCAR)).mkdir(parents=True, exist_ok=True)
    flag = asset_dir(paths, Provision.FLATCAR) / primary_mac(2)
    flag.write_text("node-1\n")

    out = nodeops.exclude(paths, folder, primary_mac(2))
    assert "node-1" in out.lines[0]
    macs, names = arrays(paths)
    assert primary_mac(2) not in macs and names == ["node-0", "node-2", "node-3"]
    assert not (folder / "cl" / "node-1.yaml").exists() and not custom.exists()
    assert not flag.exists()
    assert primary_mac(2) not in paths.dnsmasq_conf.read_text()
    assert bmc_mac(2) not in paths.dnsmasq_conf.read_text()
    assert " node-1 " not in paths.hosts_file.read_text()
    assert "node-2" in paths.hosts_file.read_text()  # the others keep their names

    nodeops.include(paths, folder, bmc_mac(2))  # any of its MACs names it
    macs, names = arrays(paths)
    assert macs == [m for m in macs0 if m != primary_mac(2)] + [primary_mac(2)]
    assert names == ["node-0", "node-2", "node-3", "node-1"]
    assert custom.read_text().endswith("# operator edit\n")
    assert primary_mac(2) in (folder / "cl" / "node-1.yaml").read_text()
    assert sorted(paths.hosts_file.read_text().splitlines()) == sorted(hosts0.splitlines())
    assert f"dhcp-host={primary_mac(2)}," in paths.dnsmasq_conf.read_text()
    assert not (folder / ".racker-excluded").exists() or not any(
        (folder / ".racker-excluded").iterdir())
    c = load_configured(paths, folder)
    assert c.options.exclude == ()
    assert read_config_folder(folder, FolderKind.FLATCAR).snippets["node-1"]


def test_exclude_is_rerunnable_and_include_of_an_active_node_is_harmless(tmp_path: Path
                                                                       ) -> None:
    paths = configured_rack(tmp_path, 3)
    folder = paths.flatcar_dir
    nodeops.exclude(paths, folder, primary_mac(1))
    state = tree_digest(folder, paths.hosts_file, paths.dnsmasq_conf)
    again = nodeops.exclude(paths, folder, primary_mac(1))
    assert "already excluded" in again.lines[0]
    assert tree_digest(folder, paths.hosts_file, paths.dnsmasq_conf) == state
    done = nodeops.include(paths, folder, primary_mac(2))
    assert "already included" in done.lines[0]


NEW_P, NEW_B, NEW_S = "0a:00:00:00:00:01", "0a:00:00:00:01:01", "0a:00:00:00:02:01"
STATIC = (f"[{secondary_mac(3)}]\nip_addr = 10.1.2.3/24\ngateway = 10.1.2.1\n"
          "dns = 10.1.2.1\n")


def check_replaced(paths: Paths, before: ClusterPlan, csv_before: list[str]) -> None:
    """Node 3's server replaced by NEW_*: same name and addresses, no old MAC anywhere."""
    folder = paths.flatcar_dir
    old = next(n for n in before.nodes if n.mac == primary_mac(3))
    after = load_configured(paths, folder).plan
    assert [(n.name, n.ip, n.bmc_ip) for n in after.nodes] == \
        [(n.name, n.ip, n.bmc_ip) for n in before.nodes]
    moved = next(n for n in after.nodes if n.name == old.name)
    assert moved.mac == NEW_P and moved.node.bmc_mac == NEW_B
    assert moved.static is not None and moved.static.secondary_mac == NEW_S
    csv = paths.nodes_csv.read_text().splitlines()
    assert csv[old.node.line - 1] == f"{NEW_P}, {NEW_B}, {NEW_S}, , node 3"
    assert [x for i, x in enumerate(csv) if i != old.node.line - 1] == \
        [x for i, x in enumerate(csv_before) if i != old.node.line - 1]
    for old_mac in (primary_mac(3), bmc_mac(3), secondary_mac(3)):
        for f in [*folder.rglob("*"), paths.dnsmasq_conf]:
            if f.is_file():
                assert old_mac not in f.read_text(), f
    assert f"MACAddress={NEW_P}" in (folder / "cl" / f"{old.name}.yaml").read_text()
    assert f"MACAddress={NEW_S}" in (folder / "cl" / f"{old.name}-custom.yaml").read_text()
    assert f"dhcp-host={NEW_P},{old.ip}," in paths.dnsmasq_conf.read_text()
    assert f"dhcp-host={NEW_B},{old.bmc_ip}," in paths.dnsmasq_conf.read_text()
    assert not (asset_dir(paths, Provision.FLATCAR) / old.mac).exists()
    assert f"{old.ip} {old.name} #" in paths.hosts_file.read_text()


def replace_rack(tmp_path: Path) -> tuple[Paths, ClusterPlan, list[str]]:
    paths = configured_rack(tmp_path, 4, Options(provision=Provision.FLATCAR, ip_addrs=STATIC))
    before = load_configured(paths, paths.flatcar_dir).plan
    asset_dir(paths, Provision.FLATCAR).mkdir(parents=True, exist_ok=True)
    (asset_dir(paths, Provision.FLATCAR) / primary_mac(3)).write_text("node-2\n")
    return paths, before, paths.nodes_csv.read_text().splitlines()


def test_replace_keeps_name_and_ip_and_renames_every_mac(tmp_path: Path) -> None:
    paths, before, csv_before = replace_rack(tmp_path)
    folder = paths.flatcar_dir
    old_lease = f"1700000000 {primary_mac(3)} 172.24.213.4 * 01:{primary_mac(3)}\n"
    other = f"1700000000 {primary_mac(1)} 172.24.213.2 * *\n"
    paths.dnsmasq_leases.write_text(old_lease + other + "duid 00:01\n")
    out = nodeops.replace(paths, folder, primary_mac(3), NEW_P, NEW_B, NEW_S)
    old = next(n for n in before.nodes if n.mac == primary_mac(3))
    assert f"as {old.name} ({old.ip}" in out.lines[0]
    check_replaced(paths, before, csv_before)
    # the old server's lease would keep dnsmasq from handing its address to the new one
    assert paths.dnsmasq_leases.read_text() == other + "duid 00:01\n"
    # a second run finds everything done and changes nothing
    state = tree_digest(folder, paths.nodes_csv, paths.dnsmasq_conf, paths.hosts_file)
    nodeops.replace(paths, folder, primary_mac(3), NEW_P, NEW_B, NEW_S)
    assert tree_digest(folder, paths.nodes_csv, paths.dnsmasq_conf, paths.hosts_file) == state


@pytest.mark.parametrize("crash_in", ["rewrite_row", "_commit", "_drop_node_state"])
def test_replace_finishes_after_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        crash_in: str) -> None:
    paths, before, csv_before = replace_rack(tmp_path)
    real = getattr(nodeops, crash_in)

    def crash(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(nodeops, crash_in, crash)
    with pytest.raises(KeyboardInterrupt):
        nodeops.replace(paths, paths.flatcar_dir, primary_mac(3), NEW_P, NEW_B, NEW_S)
    monkeypatch.setattr(nodeops, crash_in, real)
    nodeops.replace(paths, paths.flatcar_dir, primary_mac(3), NEW_P, NEW_B, NEW_S)
    check_replaced(paths, before, csv_before)


def test_include_of_a_node_excluded_at_bootstrap_names_it_next(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 4, Options(provision=Provision.FLATCAR,
                                                 exclude=(primary_mac(1),)))
    assert arrays(paths)[1] == ["node-0", "node-1", "node-2"]
    out = nodeops.include(paths, paths.flatcar_dir, primary_mac(1))
    assert "as node-3" in out.lines[0]
    macs, names = arrays(paths)
    assert macs[-1] == primary_mac(1) and names == ["node-0", "node-1", "node-2", "node-3"]
    assert (paths.flatcar_dir / "cl" / "node-3.yaml").is_file()


def test_replace_refuses_a_mac_of_another_node(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 3)
    state = tree_digest(paths.flatcar_dir, paths.nodes_csv)
    with pytest.raises(InputError, match="already belongs to the node of nodes"):
        nodeops.replace(paths, paths.flatcar_dir, primary_mac(1), primary_mac(2),
                        "0a:00:00:00:01:01")
    with pytest.raises(InputError, match="not a MAC address of any node"):
        nodeops.replace(paths, paths.flatcar_dir, "0b:00:00:00:00:01", "0a:00:00:00:00:01",
                        "0a:00:00:00:01:01")
    assert tree_digest(paths.flatcar_dir, paths.nodes_csv) == state


def test_lokomotive_exclude_include_keeps_worker_names(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 4, Options(provision=Provision.LOKOMOTIVE))
    folder = paths.lokomotive_dir
    plan = load_configured(paths, folder).plan
    w0 = plan.workers[0]
    nodeops.exclude(paths, folder, w0.mac)
    text = (folder / "lokocfg.vars").read_text()
    assert w0.mac not in text and w0.name not in text
    nodeops.include(paths, folder, w0.mac)
    names = parse_string_list((folder / "lokocfg.vars").read_text(), "worker_names")
    assert names == [w.name for w in plan.workers[1:]] + [w0.name]
    with pytest.raises(InputError, match="only controller"):
        nodeops.exclude(paths, folder, plan.controllers[0].mac)


def test_cli_errors_name_the_mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    paths = configured_rack(tmp_path, 2)
    for k, v in paths_env(paths).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(paths.flatcar_dir)
    from racker.cli.main import main

    assert main(["node", "exclude", "0b:00:00:00:00:09"]) == 2
    err = capsys.readouterr().err
    assert "0b:00:00:00:00:09" in err and "Traceback" not in err
    assert main(["node", "-h"]) == 0
    assert "reprovision" in capsys.readouterr().out
    assert cmd_node.run(["exclude", primary_mac(1)]) == 0
    assert "racker node include" in capsys.readouterr().out


def test_exclude_nodes_for_the_failure_policy_keeps_names(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 4)
    plan = load_configured(paths, paths.flatcar_dir).plan
    new = nodeops.exclude_nodes(paths, plan, [primary_mac(1), primary_mac(3)])
    assert [n.name for n in new.nodes] == ["node-1", "node-3"]
    assert arrays(paths)[1] == ["node-1", "node-3"]
    from racker.adapters.fs.store import Store
    from racker.core.events import EventKind

    with Store.in_state_dir(paths.state_dir) as store:
        assert [e.kind for e in store.events(primary_mac(1))] == [EventKind.EXCLUDED]


def test_running_dnsmasq_gets_a_restart_note(tmp_path: Path) -> None:
    import os

    paths = configured_rack(tmp_path, 3)
    pid_file = paths.state_dir / "dnsmasq" / "dnsmasq.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # a live process stands in for dnsmasq
    out = nodeops.exclude(paths, paths.flatcar_dir, primary_mac(1))
    assert nodeops.DNSMASQ_NOTE in out.lines
    pid_file.write_text("999999999\n")
    out = nodeops.include(paths, paths.flatcar_dir, primary_mac(1))
    assert nodeops.DNSMASQ_NOTE not in out.lines


def test_folder_after_a_bootstrap_exclusion_keeps_its_names(tmp_path: Path) -> None:
    from racker.app.apply import Action, plan_apply
    from racker.app.nodeops import exclude_nodes

    paths = configured_rack(tmp_path, 4)
    folder = paths.flatcar_dir
    plan = load_configured(paths, folder).plan
    exclude_nodes(paths, plan, [primary_mac(2)])  # what the failure policy does
    tfvars_before = tfvars(paths)
    ap = plan_apply(paths, folder)
    assert [a.node.name for a in ap.actions] == ["node-0", "node-2", "node-3"]
    assert [f.path.as_posix() for f in ap.files] == []  # the exclusion recorded the layout
    assert {a.action for a in ap.actions} == {Action.REINSTALL}  # no flag files here
    out = nodeops.include(paths, folder, primary_mac(2))
    assert "as node-1 " in out.lines[0]
    assert arrays(paths)[1] == ["node-0", "node-2", "node-3", "node-1"]
    assert tfvars(paths) != tfvars_before


@pytest.mark.parametrize(("row", "secondary", "expected"), [
    ("aa:00:00:00:00:01, aa:00:00:00:01:01, aa:00:00:00:02:01, big, rack 1, slot 2",
     "0a:00:00:00:02:01",
     "0a:00:00:00:00:01, 0a:00:00:00:01:01, 0a:00:00:00:02:01, big, rack 1, slot 2"),
    ('"aa:00:00:00:00:01","aa:00:00:00:01:01","aa:00:00:00:02:01",big,"c"\r', None,
     '"0a:00:00:00:00:01","0a:00:00:00:01:01","",big,"c"\r'),
    ("aa:00:00:00:00:01, aa:00:00:00:01:01, , , x", "0a:00:00:00:02:01",
     "0a:00:00:00:00:01, 0a:00:00:00:01:01, 0a:00:00:00:02:01, , x"),
    ("aa:00:00:00:00:01,aa:00:00:00:01:01", None,
     "0a:00:00:00:00:01,0a:00:00:00:01:01"),
    ("aa:00:00:00:00:01,aa:00:00:00:01:01", "0a:00:00:00:02:01",
     "0a:00:00:00:00:01,0a:00:00:00:01:01, 0a:00:00:00:02:01"),
])
def test_rewrite_row_keeps_everything_but_the_macs(row: str, secondary: str | None,
                                                  expected: str) -> None:
    text = f"Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, C\n{row}\n"
    out = nodeops.rewrite_row(text, 2, "0a:00:00:00:00:01", "0a:00:00:00:01:01", secondary,
                              "nodes.csv")
    assert out.split("\n")[1] == expected
    assert out.split("\n")[0] == text.split("\n")[0]


def test_rewrite_row_four_column_layout() -> None:
    text = "Primary MAC address, BMC MAC address, Node Type, Comments\n" \
           "aa:00:00:00:00:01, aa:00:00:00:01:01, t, c\n"
    out = nodeops.rewrite_row(text, 2, "0a:00:00:00:00:01", "0a:00:00:00:01:01", None, "f")
    assert out == text.replace("aa:", "0a:")
    with pytest.raises(InputError, match="no secondary MAC column"):
        nodeops.rewrite_row(text, 2, "0a:00:00:00:00:01", "0a:00:00:00:01:01",
                            "0a:00:00:00:02:01", "f")


def test_substitute_macs_any_form() -> None:
    text = "MACAddress=AA:00:00:00:00:01\nx aa-00-00-00-00-01 aa:00:00:00:00:011\n"
    assert nodeops.substitute_macs(text, [("aa:00:00:00:00:01", "0a:00:00:00:00:09")]) == \
        "MACAddress=0a:00:00:00:00:09\nx 0a:00:00:00:00:09 aa:00:00:00:00:011\n"


def test_reprovision_reinstalls_that_node_and_keeps_its_flag_until_then(tmp_path: Path) -> None:
    from racker.app.apply import Action, ApplyPlan, Executor
    from racker.engine.run import FlagFiles

    paths = configured_rack(tmp_path, 3)
    plan = load_configured(paths, paths.flatcar_dir).plan
    flags = FlagFiles(asset_dir(paths, Provision.FLATCAR))
    for n in plan.nodes:
        flags.mark(n)
    seen: list[ApplyPlan] = []

    class Recorder(Executor):
        async def run(self, ap: ApplyPlan) -> int:
            seen.append(ap)
            return 0

    def make(p: Paths, ap: ApplyPlan, out: object) -> Executor:
        return Recorder(p, None, None, None)  # type: ignore[arg-type]

    code = cmd_node.node_command("reprovision", ["-C", str(paths.flatcar_dir), bmc_mac(2)],
                                 paths=paths, make_executor=make)
    assert code == 0
    (ap,) = seen
    assert [(a.node.mac, a.action, a.forced) for a in ap.actions] == [
        (primary_mac(2), Action.REINSTALL, True)]
    # the flag file goes only once the reinstall starts (the executor's job, see test_apply)
    assert flags.done(primary_mac(2)) and flags.done(primary_mac(1))


def test_an_excluded_server_removed_from_nodes_csv_is_forgotten(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 3)
    nodeops.exclude(paths, paths.flatcar_dir, primary_mac(3))
    rows = paths.nodes_csv.read_text().splitlines(keepends=True)
    paths.nodes_csv.write_text("".join(r for r in rows if primary_mac(3) not in r))
    c = load_configured(paths, paths.flatcar_dir)
    assert c.options.exclude == () and [n.name for n in c.plan.nodes] == ["node-0", "node-1"]
