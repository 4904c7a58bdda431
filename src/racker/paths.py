"""Where racker reads and writes, each overridable by an environment variable (DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from racker.errors import InputError, Where


def _path(env: Mapping[str, str], name: str, default: str) -> Path:
    """The path in `env[name]` (or `default`), refused when it holds a control character.

    NOTE: these paths are written into line-based files (dnsmasq.conf, the dnsmasq hook, systemd
    units, the configuration folder): a newline in one would add lines of its own there.
    """
    raw = env.get(name, default)
    bad = next((c for c in raw if not c.isprintable()), None)
    if bad is not None:
        raise InputError(f"{name} holds a control character (U+{ord(bad):04X}); it must be a "
                         "path on one line of printable characters", where=Where(variable=name),
                         hint=f"check how {name} is set (e.g. a stray newline from $(...))")
    return Path(raw)


def _ssh_key(env: Mapping[str, str]) -> Path:
    """`RACKER_SSH_KEY`, else `~/.ssh/id_rsa` where that key exists (racks set up before
    ed25519 became the default keep theirs), else `~/.ssh/id_ed25519`."""
    if env.get("RACKER_SSH_KEY"):
        return _path(env, "RACKER_SSH_KEY", "")
    ssh = _path(env, "HOME", str(Path.home())) / ".ssh"
    return ssh / "id_rsa" if (ssh / "id_rsa.pub").exists() else ssh / "id_ed25519"


@dataclass(frozen=True)
class Paths:
    """All the places racker touches outside its own package."""

    oem_dir: Path
    state_dir: Path
    hosts_file: Path
    sys_class_net: Path
    home: Path
    ssh_key_file: Path | None = None
    """The management SSH key as `from_env` found it (None: `~/.ssh/id_ed25519`)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        """Read the overrides from `env` (default: the process environment)."""
        e = os.environ if env is None else env
        return cls(
            oem_dir=_path(e, "RACKER_OEM_DIR", "/usr/share/oem"),
            state_dir=_path(e, "RACKER_STATE_DIR", "/opt/racker-state"),
            hosts_file=_path(e, "RACKER_HOSTS_FILE", "/etc/hosts"),
            sys_class_net=_path(e, "RACKER_SYS_CLASS_NET", "/sys/class/net"),
            home=_path(e, "HOME", str(Path.home())),
            ssh_key_file=_ssh_key(e),
        )

    @property
    def ssh_key(self) -> Path:
        """The management SSH key (its private half; the public one is `ssh_public_key`) that
        the nodes' configurations carry and `racker apply` logs in with (see `_ssh_key`)."""
        return self.ssh_key_file or self.home / ".ssh" / "id_ed25519"

    @property
    def ssh_public_key(self) -> Path:
        """The public half of `ssh_key` (`<key>.pub`)."""
        return Path(f"{self.ssh_key}.pub")

    @property
    def nodes_csv(self) -> Path:
        return self.oem_dir / "nodes.csv"

    @property
    def pxe_interface_file(self) -> Path:
        """The older layout's name of the management node's internal NIC (4-column nodes.csv)."""
        return self.oem_dir / "pxe_interface"

    @property
    def ipmi_user_file(self) -> Path:
        return self.oem_dir / "ipmi_user"

    @property
    def ipmi_password_file(self) -> Path:
        return self.oem_dir / "ipmi_password"

    @property
    def dnsmasq_dir(self) -> Path:
        return self.state_dir / "dnsmasq"

    @property
    def console_dir(self) -> Path:
        """`<state>/console/`: each node's serial console as racker captured it."""
        return self.state_dir / "console"

    @property
    def dnsmasq_conf(self) -> Path:
        """The rendered dnsmasq configuration (its `dhcp-host=` lines are the planned addresses)."""
        return self.dnsmasq_dir / "dnsmasq.conf"

    @property
    def dnsmasq_leases(self) -> Path:
        """The lease database dnsmasq keeps (`--dhcp-leasefile`)."""
        return self.dnsmasq_dir / "dnsmasq.leases"

    @property
    def lokomotive_dir(self) -> Path:
        return self.home / "lokomotive"

    @property
    def flatcar_dir(self) -> Path:
        return self.home / "flatcar-container-linux"
