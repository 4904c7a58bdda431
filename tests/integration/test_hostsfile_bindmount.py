"""A bind-mounted hosts file (as in containers) cannot be renamed over: it is rewritten in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from racker.core.render.hosts import MARKER
from tests.conftest import require_root, require_tool

SCRIPT = """
import sys
from pathlib import Path
from racker.adapters.fs.hostsfile import update_hosts
from racker.core.render.hosts import HostsEntry
print(update_hosts(Path(sys.argv[1]), [HostsEntry("172.24.213.2", ("node-0",))]))
"""


@pytest.mark.root
def test_bind_mounted_hosts_file_rewritten_in_place(tmp_path: Path) -> None:
    require_root()
    unshare = require_tool("unshare")
    source = tmp_path / "outside-hosts"
    source.write_text("127.0.0.1 localhost\n")
    target = tmp_path / "etc-hosts"
    target.write_text("")
    # A private mount namespace: the bind mount vanishes with the process.
    shell = (f"mount --bind {source} {target} && "
             f"{sys.executable} -c '{SCRIPT}' {target}")
    r = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", shell],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    # written through the mount into the bind-mounted file itself
    assert source.read_text() == f"127.0.0.1 localhost\n172.24.213.2 node-0 # {MARKER}\n"
    assert target.read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc-hosts", "outside-hosts"]


@pytest.mark.root
def test_hosts_file_writable_in_a_read_only_etc(tmp_path: Path) -> None:
    # what racker-serve.service sees: ProtectSystem=strict makes /etc read-only, and
    # ReadWritePaths=/etc/hosts leaves the file itself writable (a bind mount of it)
    require_root()
    unshare = require_tool("unshare")
    etc = tmp_path / "etc"
    etc.mkdir()
    hosts = etc / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    shell = (f"mount --bind {etc} {etc} && mount -o remount,bind,ro {etc} && "
             f"mount --bind {hosts} {hosts} && mount -o remount,bind,rw {hosts} && "
             f"{sys.executable} -c '{SCRIPT}' {hosts}")
    r = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", shell],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    assert hosts.read_text() == f"127.0.0.1 localhost\n172.24.213.2 node-0 # {MARKER}\n"
    assert sorted(p.name for p in etc.iterdir()) == ["hosts"]  # no temporary file left
