"""`make demo`'s program: a simulated rack provisioned and shown, then removed."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_demo_provisions_shows_status_and_destroys(tmp_path: Path) -> None:
    require_root()
    root = tmp_path / "demo"
    name = "d" + secrets.token_hex(3)  # never the operator's own demo rack
    r = subprocess.run([sys.executable, "-m", "devtools.demo", "--dir", str(root), "--nodes", "2",
                        "--name", name],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "➤ OS installation via PXE (2/2)... ✓ done" in r.stdout
    table = r.stdout[r.stdout.index("MAC address"):].splitlines()
    assert [line.split()[1:5] for line in table[1:3]] == [["✓", "IPMI", "on", "✓"]] * 2
    assert "make demo-destroy" in r.stdout
    flags = root / "sim" / name / "home" / "flatcar-container-linux" / "assets"
    assert len(list(flags.iterdir())) == 2
    d = subprocess.run([sys.executable, "-m", "devtools.demo", "--dir", str(root), "--destroy",
                        "--name", name],
                       capture_output=True, text=True, timeout=120, check=False)
    assert d.returncode == 0, d.stdout + d.stderr
    assert not (root / "sim").exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"rks-{name}-" not in netns
