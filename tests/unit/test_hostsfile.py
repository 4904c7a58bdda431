from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from racker.adapters.fs.hostsfile import read_managed, update_hosts
from racker.core.render.hosts import MARKER, HostsEntry
from racker.errors import RackerError

M = f" # {MARKER}"
ENTRIES = (HostsEntry("172.24.213.2", ("node-0",)), HostsEntry("172.24.213.3", ("node-1",)))
BLOCK = f"172.24.213.2 node-0{M}\n172.24.213.3 node-1{M}\n"


def test_missing_file_is_created(tmp_path: Path) -> None:
    hosts = tmp_path / "etc" / "hosts"
    assert update_hosts(hosts, ENTRIES) is True
    assert hosts.read_text() == BLOCK
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o644


def test_other_lines_kept_byte_for_byte(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    # latin-1 bytes in a comment (not UTF-8) and a line without newline at the end
    original = b"127.0.0.1 localhost\n# caf\xe9 server\n10.0.0.9 printer"
    hosts.write_bytes(original)
    update_hosts(hosts, ENTRIES)
    assert hosts.read_bytes() == original + b"\n" + BLOCK.encode()


def test_stale_lines_of_earlier_subnet_and_cluster_replaced(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n"
        f"10.1.1.2 old.k8s.localdomain old-etcd0.k8s.localdomain{M}\n"
        f"10.1.1.2 old-controller-0.k8s.localdomain{M}\n"
        "192.168.1.5 nas\n"
    )
    update_hosts(hosts, ENTRIES)
    assert hosts.read_text() == "127.0.0.1 localhost\n" + BLOCK + "192.168.1.5 nas\n"
    assert read_managed(hosts) == tuple(BLOCK.splitlines())


def test_unchanged_file_not_rewritten(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + BLOCK)
    inode = hosts.stat().st_ino
    assert update_hosts(hosts, ENTRIES) is False
    assert hosts.stat().st_ino == inode


def test_mode_and_owner_kept(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    os.chmod(hosts, 0o640)
    if os.geteuid() == 0:
        os.chown(hosts, 1234, 5678)
    update_hosts(hosts, ENTRIES)
    st = hosts.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_symlink_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real-hosts"
    real.write_text("127.0.0.1 localhost\n")
    link = tmp_path / "hosts"
    link.symlink_to(real)
    update_hosts(link, ENTRIES)
    assert link.is_symlink()
    assert real.read_text() == "127.0.0.1 localhost\n" + BLOCK


def test_no_leftover_temporary_files(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    update_hosts(hosts, ENTRIES)
    update_hosts(hosts, ENTRIES[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts"]
    assert hosts.read_text() == f"172.24.213.2 node-0{M}\n"


def test_unreadable_path_is_a_racker_error(tmp_path: Path) -> None:
    # a directory where the hosts file should be
    with pytest.raises(RackerError) as e:
        update_hosts(tmp_path, ENTRIES)
    assert str(tmp_path) in str(e.value)


def test_read_managed_of_missing_file(tmp_path: Path) -> None:
    assert read_managed(tmp_path / "nope") == ()
