"""The Ignition re-run over a real OpenSSH connection: ssh client → sshd in network namespaces.

The sshd's ForceCommand records the command instead of running it (the host's /boot must not
be touched) and ends the connection on `systemctl reboot`, as a rebooting node does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from racker.app.apply import FIRST_BOOT, REBOOT, OpenSsh, rerun_ignition
from racker.app.sshtrust import HostTrust
from racker.core.hostkeys import known_hosts
from racker.errors import RackerError
from racker.model import PlannedNode
from tests.conftest import require_root, require_tool
from tests.netns import Link, ip, veth_pair
from tests.nodeops_support import running_sshd, sshd_config
from tests.unit.test_engine import planned

pytestmark = [pytest.mark.root]

NODE_IP = "10.77.0.2"

FORCED = """#!/bin/sh
echo "$SSH_ORIGINAL_COMMAND" >> {log}
case "$SSH_ORIGINAL_COMMAND" in
  *"systemctl reboot"*) kill -9 $PPID ;;
esac
exit 0
"""


@pytest.fixture
def node_sshd(tmp_path: Path) -> Iterator[tuple[Link, Path, Path]]:
    """An sshd on NODE_IP in one namespace; yields (link, client key, command log)."""
    require_root()
    sshd = require_tool("sshd")
    keygen = require_tool("ssh-keygen")
    require_tool("ssh")
    for name in ("host", "client", "stranger"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)],
                       check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "client.pub").read_text())
    os.chmod(tmp_path / "authorized_keys", 0o600)
    log = tmp_path / "commands.log"
    forced = tmp_path / "forced.sh"
    forced.write_text(FORCED.format(log=log))
    forced.chmod(0o755)
    cfg = sshd_config(tmp_path, NODE_IP, forced)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    with veth_pair("rkn") as link:
        ip("-n", link.left_ns, "addr", "add", "10.77.0.1/24", "dev", link.left_if)
        ip("-n", link.right_ns, "addr", "add", f"{NODE_IP}/24", "dev", link.right_if)
        with running_sshd(sshd, link.right_ns, cfg):
            yield link, tmp_path / "client", log


def node() -> PlannedNode:
    return dataclasses.replace(planned(0), ip=NODE_IP)


def pinned(tmp_path: Path, key_file: Path) -> HostTrust:
    """A known_hosts file holding `key_file`'s public key for the node, as racker writes it
    from the node's `booted` report."""
    path = tmp_path / "known" / "node"
    path.parent.mkdir(exist_ok=True)
    key_type, key_b64 = key_file.read_text().split()[:2]
    path.write_text(known_hosts(NODE_IP, [f"{key_type} {key_b64}"]))
    return HostTrust(path)


def test_rerun_touches_first_boot_then_reboots(node_sshd: tuple[Link, Path, Path],
                                               tmp_path: Path) -> None:
    link, key, log = node_sshd
    ssh = OpenSsh(key, user="root", timeout=20, connect_timeout=3,
                  wrap=("ip", "netns", "exec", link.left_ns))
    trust = pinned(tmp_path, key.with_name("host.pub"))
    asyncio.run(rerun_ignition(ssh, node(), trust))
    assert log.read_text().splitlines() == [FIRST_BOOT, REBOOT]
    # the reboot ends the connection: ssh reports 255, which the re-run accepts
    code, _ = asyncio.run(ssh.run(NODE_IP, REBOOT, trust))
    assert code == 255


def test_a_host_key_other_than_the_reported_one_is_refused(
        node_sshd: tuple[Link, Path, Path], tmp_path: Path) -> None:
    # the node reported another key at its first boot: whoever answers now is not that node
    link, key, log = node_sshd
    ssh = OpenSsh(key, user="root", timeout=20, connect_timeout=3,
                  wrap=("ip", "netns", "exec", link.left_ns))
    with pytest.raises(RackerError) as e:
        asyncio.run(rerun_ignition(ssh, node(), pinned(tmp_path, key.with_name("stranger.pub"))))
    assert "Host key verification failed" in e.value.message
    assert e.value.hint is not None and "not the one it reported" in e.value.hint
    assert not log.exists()  # no command ran


def test_no_recorded_key_pins_the_first_one_seen(node_sshd: tuple[Link, Path, Path],
                                                 tmp_path: Path) -> None:
    link, key, log = node_sshd
    ssh = OpenSsh(key, user="root", timeout=20, connect_timeout=3,
                  wrap=("ip", "netns", "exec", link.left_ns))
    path = tmp_path / "known-node"
    code, err = asyncio.run(ssh.run(NODE_IP, FIRST_BOOT, HostTrust(path, accept_new=True)))
    assert code == 0, err
    host_key = key.with_name("host.pub").read_text().split()[1]
    assert host_key in path.read_text()  # pinned: checked strictly from now on
    code, err = asyncio.run(ssh.run(NODE_IP, FIRST_BOOT, HostTrust(path)))
    assert code == 0, err
    assert log.read_text().splitlines() == [FIRST_BOOT, FIRST_BOOT]


def test_rejected_key_fails_with_the_node_named(node_sshd: tuple[Link, Path, Path],
                                               tmp_path: Path) -> None:
    link, key, log = node_sshd
    ssh = OpenSsh(key.with_name("stranger"), user="root", timeout=20, connect_timeout=3,
                  wrap=("ip", "netns", "exec", link.left_ns))
    with pytest.raises(RackerError) as e:
        asyncio.run(rerun_ignition(ssh, node(), pinned(tmp_path, key.with_name("host.pub"))))
    assert f"SSH to node-0 ({NODE_IP}) failed" in e.value.message
    assert "Permission denied" in e.value.message
    assert not log.exists()
