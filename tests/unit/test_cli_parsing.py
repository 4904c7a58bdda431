"""Errors that guide: a "did you mean" for a mistyped flag, positional arguments named with what
they expect, a node name where a MAC is expected (through the real commands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.app import nodeops
from racker.cli import cmd_node
from racker.cli.main import main
from racker.core.suggest import closest
from racker.errors import InputError
from tests.nodeops_support import configured_rack
from tests.rackfixtures import primary_mac


@pytest.mark.parametrize(("word", "choices", "want"), [
    ("--jsn", ["-json", "--json", "-full", "--full"], "--json"),
    ("-jsn", ["-json", "--json"], "-json"),
    ("--yse", ["--yes", "--dry-run", "-C"], "--yes"),
    ("-provison", ["-provision", "--provision", "-exclude"], "-provision"),
    ("--include-controller", ["--include-controllers", "--yes"], "--include-controllers"),
    ("--zzz", ["--json", "--full"], None),
    ("--", ["--json"], None),
])
def test_closest(word: str, choices: list[str], want: str | None) -> None:
    assert closest(word, choices) == want


@pytest.mark.parametrize(("argv", "message", "hint"), [
    (["status", "--jsn"], "flag --jsn: not a flag of racker status",
     "did you mean --json? (see 'racker status -h')"),
    (["apply", "--yse"], "flag --yse: not a flag of racker apply", "did you mean --yes?"),
    (["node", "reprovision"], "missing the positional argument NODE",
     "NODE: any of the node's MAC addresses from nodes.csv (e.g. aa:bb:cc:dd:ee:ff), or its "
     "name"),
    (["node", "replace", "aa:bb:cc:dd:ee:ff"],
     "missing the positional arguments NEW_PRIMARY, NEW_BMC",
     "NEW_PRIMARY: the new server's primary MAC; NEW_BMC: the new server's BMC MAC"),
    (["node", "reprovision", "a", "b"], "unexpected positional argument 'b'",
     "usage: racker node reprovision [-h] [-C DIR] NODE"),
    (["pxe-boot", "--foo", "m", "d"], "not a flag of racker pxe-boot", "see 'racker pxe-boot -h'"),
])
def test_argument_errors_guide(argv: list[str], message: str, hint: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and hint in err, err
    assert "Traceback" not in err


def test_a_node_name_where_a_mac_is_expected_is_looked_up(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 3)
    out = nodeops.exclude(paths, paths.flatcar_dir, "node-1")
    assert out.lines[0].startswith(f"Excluded {primary_mac(2)} (node-1)")
    # the excluded node keeps its name in the layout: include finds it by name too
    out = nodeops.include(paths, paths.flatcar_dir, "NODE-1")
    assert primary_mac(2) in "\n".join(out.lines)
    with pytest.raises(InputError, match='"node-7" is neither a MAC address nor the name'):
        nodeops.exclude(paths, paths.flatcar_dir, "node-7")


def test_reprovision_takes_a_name(tmp_path: Path) -> None:
    from racker.app.apply import Action, ApplyPlan, Executor
    from racker.paths import Paths

    paths = configured_rack(tmp_path, 3)
    seen: list[ApplyPlan] = []

    class Recorder(Executor):
        async def run(self, ap: ApplyPlan) -> int:
            seen.append(ap)
            return 0

    def make(p: Paths, ap: ApplyPlan, out: object) -> Executor:
        return Recorder(p, None, None, None)  # type: ignore[arg-type]

    assert cmd_node.node_command("reprovision", ["-C", str(paths.flatcar_dir), "node-2"],
                                 paths=paths, make_executor=make) == 0
    assert [(a.node.mac, a.action) for a in seen[0].actions] == [
        (primary_mac(3), Action.REINSTALL)]


def test_bootstrap_suggests_the_flag_meant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "-provison", "flatcar"]) == 2
    err = capsys.readouterr().err
    assert "unknown flag -provison" in err and "did you mean -provision?" in err
