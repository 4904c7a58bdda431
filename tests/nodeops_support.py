"""A configured rack on disk for the apply and node command tests."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from racker.app.configuration.create import configure
from racker.model import Options, Provision
from racker.paths import Paths
from tests.rackfixtures import write_rack

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly racker@test"


def configured_rack(tmp_path: Path, n: int = 4, options: Options | None = None,
                    types: tuple[str, ...] = ()) -> Paths:
    """A rack of `n` nodes with its configuration folder written (render only)."""
    paths = Paths.from_env(write_rack(tmp_path, n, types))
    (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
    paths.ssh_public_key.write_text(SSH_KEY + "\n")
    configure(paths, options or Options(provision=Provision.FLATCAR), render_only=True)
    return paths


def paths_env(paths: Paths) -> dict[str, str]:
    """The environment that points racker at the rack's files (as `Paths.from_env` reads it)."""
    return {"RACKER_OEM_DIR": str(paths.oem_dir), "RACKER_STATE_DIR": str(paths.state_dir),
            "RACKER_HOSTS_FILE": str(paths.hosts_file),
            "RACKER_SYS_CLASS_NET": str(paths.sys_class_net), "HOME": str(paths.home)}


@contextmanager
def running_sshd(sshd: str, ns: str, cfg: Path) -> Iterator[subprocess.Popen[bytes]]:
    """sshd with `cfg` (from `sshd_config`) in namespace `ns`, up until the block ends; its
    log goes next to the configuration."""
    log = cfg.parent / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sshd, "-D", "-e", "-f", str(cfg)],
                                stderr=out)
    try:
        deadline = time.monotonic() + 10
        while not (cfg.parent / "sshd.pid").exists():
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "sshd did not start"
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def tree_digest(*roots: Path) -> dict[str, str]:
    """Path → SHA-256 of every file under the roots (the state of the disk)."""
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def sshd_config(tmp: Path, listen: str, forced: Path) -> Path:
    """An sshd configuration for a test node: key login only, every command forced."""
    cfg = tmp / "sshd_config"
    cfg.write_text(f"""Port 22
ListenAddress {listen}
HostKey {tmp / 'host'}
AuthorizedKeysFile {tmp / 'authorized_keys'}
PidFile {tmp / 'sshd.pid'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
ForceCommand {forced}
""")
    return cfg
