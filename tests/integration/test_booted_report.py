"""The installed node's `booted` report as racker renders it, run for real (sh, ssh-keygen,
curl) against the boot server over loopback: the node's host keys land in the store, and racker
apply's known_hosts holds exactly them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from racker.adapters.fs.store import Store
from racker.app.sshtrust import host_trust
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from racker.core.render.installer import booted_report_script
from tests.bootthread import boot_server_thread
from tests.conftest import require_tool
from tests.unit.test_engine import planned

NODE = BootNode("52:54:00:00:00:00", "127.0.0.1", "node-0", b"{}", b"{}")


def test_booted_report_carries_the_generated_host_keys(tmp_path: Path) -> None:
    require_tool("ssh-keygen")
    require_tool("curl")
    with boot_server_thread(tmp_path, tmp_path / "racker.db", [NODE]) as running:
        base = running.url
        root = tmp_path / "node"
        (root / "etc" / "ssh").mkdir(parents=True)  # no host keys yet: the first boot
        script = tmp_path / "report"
        script.write_text(booted_report_script(base, NODE.mac))
        r = subprocess.run(["sh", str(script)], env={**os.environ, "RACKER_ROOT": str(root)},
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    generated = sorted(" ".join(p.read_text().split()[:2])
                       for p in (root / "etc" / "ssh").glob("ssh_host_*_key.pub"))
    assert len(generated) >= 2 and any(k.startswith("ssh-ed25519 ") for k in generated)
    with Store(tmp_path / "racker.db") as store:
        (booted,) = [e for e in store.events(NODE.mac) if e.kind is EventKind.BOOTED]
        assert sorted(booted.detail["host_keys"]) == generated
        trust = host_trust(store, tmp_path / "state", planned(0))
    assert not trust.accept_new
    assert sorted(trust.known_hosts.read_text().splitlines()) == [
        f"{planned(0).ip} {k}" for k in generated]
