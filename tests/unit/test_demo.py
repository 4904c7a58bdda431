from __future__ import annotations

from pathlib import Path

import pytest

from racker.demo import MARKER, main


def test_demo_renders_both_kinds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    assert main(["--dir", str(root), "--nodes", "5"]) == 0
    out = capsys.readouterr().out
    assert "simulated rack comes with the simulator" in out
    assert (root / "lokomotive/home/lokomotive/lokocfg.vars").is_file()
    assert (root / "lokomotive/home/lokomotive/rook.lokocfg").is_file()
    assert (root / "flatcar/home/flatcar-container-linux/terraform.tfvars").is_file()
    assert "10-public-stable.network" in out
    # nothing outside the demo folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    # a second run starts afresh
    assert main(["--dir", str(root), "--nodes", "4"]) == 0
    assert len(list((root / "flatcar/home/flatcar-container-linux/cl").iterdir())) == 8


def test_demo_never_empties_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "precious").write_text("x")
    with pytest.raises(SystemExit, match="not a racker demo folder"):
        main(["--dir", str(tmp_path / "demo")])
    assert (tmp_path / "demo" / "precious").exists()
    assert not (tmp_path / "demo" / MARKER).exists()
