"""The layer contracts of pyproject.toml, run by import-linter on the real tree and on a copy
with one wrong import: the rule it breaks is named."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, check=False)


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    r = lint(copy_tree(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_core_module_importing_an_adapter_breaks_the_layers(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    macs = tree / "src/racker/core/macs.py"
    macs.write_text(macs.read_text() + "\nfrom racker.adapters.fs.store import Store  # noqa\n")
    r = lint(tree)
    assert r.returncode != 0
    assert "Layers: front ends > composition root" in r.stdout
    assert "racker.core.macs -> racker.adapters.fs.store" in r.stdout


def test_a_command_building_an_adapter_breaks_the_front_end_rule(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    cmd = tree / "src/racker/cli/cmd_status.py"
    cmd.write_text(cmd.read_text() + "\nfrom racker.adapters.bmc.locate import Locator  # noqa\n")
    r = lint(tree)
    assert r.returncode != 0
    assert "racker.cli is not allowed to import racker.adapters" in r.stdout


def test_a_type_only_cycle_is_found(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    plan = tree / "src/racker/core/plan.py"
    plan.write_text(plan.read_text() + "\nfrom typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from racker.core.bootstrap.options import fields\n")
    r = lint(tree)
    assert r.returncode != 0
    assert "No cycles are allowed in racker.core" in r.stdout
