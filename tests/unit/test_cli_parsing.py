"""Errors that guide: a "did you mean" for a mistyped flag, positional arguments named with what
they expect, a node name where a MAC is expected (through the real commands)."""

from __future__ import annotations

import re
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


def _undocumented(text: str) -> list[str]:
    """Entries of an argparse help text without a description."""
    lines = text.splitlines()
    missing, section = [], False
    for i, line in enumerate(lines):
        if line.endswith(":") and not line.startswith(" "):
            section = line in ("positional arguments:", "options:", "optional arguments:")
            continue
        if not section or not line.startswith("  ") or line.startswith("   "):
            continue
        follow = lines[i + 1] if i + 1 < len(lines) else ""
        if not re.search(r"\S {2,}\S", line[2:]) and not (
                follow.startswith("   ") and follow.strip()):
            missing.append(line.strip())
    return missing


HELP_COMMANDS = [
    ["racker", "status"], ["racker", "apply"], ["racker", "serve"], ["racker", "pxe-boot"],
    ["racker", "ignition"], ["racker", "node", "exclude"], ["racker", "node", "include"],
    ["racker", "node", "reprovision"], ["racker", "node", "replace"],
    ["racker", "node", "timeline"], ["racker", "bmc", "rotate-credentials"],
    ["racker-sim", "create"], ["racker-sim", "destroy"], ["racker-sim", "status"],
    ["racker-sim", "fault"], ["racker-sim", "console"], ["racker-sim", "bmc", "serve"],
    ["racker", "api", "token"], ["racker-sim", "forward"],
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_every_option_of_a_help_is_described(command: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from racker.cli.sim import main as sim_main

    entry = main if command[0] == "racker" else sim_main
    try:
        code = entry([*command[1:], "-h"])
    except SystemExit as e:  # argparse's own -h exits; the console script exits with it
        code = int(e.code or 0)
    assert code == 0
    text = capsys.readouterr().out
    assert "usage:" in text.lower()
    assert _undocumented(text) == []


def test_version_help_and_rotate_credentials_single_dash_flags(
        capsys: pytest.CaptureFixture[str]) -> None:
    from racker.cli.cmd_bmc import _parser

    assert main(["version", "-h"]) == 0
    assert capsys.readouterr().out.startswith("Usage: racker version")
    args = _parser().parse_args(["rotate-credentials", "newadmin", "-password-file", "/pw",
                                 "-disable-old", "-dry-run", "-bmc-address", "m=1.2.3.4"])
    assert (args.new_user, str(args.password_file), args.disable_old, args.dry_run,
            args.bmc_address) == ("newadmin", "/pw", True, True, ["m=1.2.3.4"])


def test_ignition_takes_any_of_a_nodes_macs_or_its_name(tmp_path: Path) -> None:
    from racker.app.ignition import node_config
    from tests.rackfixtures import bmc_mac, secondary_mac

    paths = configured_rack(tmp_path, 3)
    key = paths.home / ".ssh" / "id_rsa.pub"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyForTheTest test\n")
    by = {ref: node_config(paths, paths.flatcar_dir, ref, pretty=False).json
          for ref in ("node-1", primary_mac(2), bmc_mac(2), secondary_mac(2))}
    assert len(set(by.values())) == 1, by.keys()
