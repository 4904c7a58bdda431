"""`make demo`'s program: a simulated rack provisioned and shown, then removed."""

from __future__ import annotations

import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
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
    # another folder and name than make's: the hint is the command that removes this demo
    destroy = r.stdout.split("Remove everything:\n", 1)[1].splitlines()[0].strip()
    assert destroy.endswith(f"-m devtools.demo --destroy --dir {root} --name {name}"), destroy
    url = r.stdout.split("racker-sim forward):\n", 1)[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    page = reach(url)  # from the host, through the simulator's relay
    assert page.status_code == 200 and "node-0" in page.text, page.text[-2000:]
    api = httpx.get(url + "api/v1/nodes", timeout=30).json()
    assert api["provisioned_nodes"] == 2
    flags = root / "sim" / name / "home" / "flatcar-container-linux" / "assets"
    assert len(list(flags.iterdir())) == 2
    d = subprocess.run(shlex.split(destroy), capture_output=True, text=True, timeout=120,
                       check=False)
    assert d.returncode == 0, d.stdout + d.stderr
    assert not (root / "sim").exists()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"rks-{name}-" not in netns
    with pytest.raises(httpx.TransportError):  # the relay stopped with the rack
        httpx.get(url, timeout=5)


def reach(url: str) -> httpx.Response:
    """GET `url`, retried while the relay starts (bounded)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
