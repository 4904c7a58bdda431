"""Where racker reads and writes, each overridable by an environment variable (DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """All the places racker touches outside its own package."""

    oem_dir: Path
    state_dir: Path
    hosts_file: Path
    sys_class_net: Path
    home: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        """Read the overrides from `env` (default: the process environment)."""
        e = os.environ if env is None else env
        return cls(
            oem_dir=Path(e.get("RACKER_OEM_DIR", "/usr/share/oem")),
            state_dir=Path(e.get("RACKER_STATE_DIR", "/opt/racker-state")),
            hosts_file=Path(e.get("RACKER_HOSTS_FILE", "/etc/hosts")),
            sys_class_net=Path(e.get("RACKER_SYS_CLASS_NET", "/sys/class/net")),
            home=Path(e.get("HOME", str(Path.home()))),
        )

    @property
    def nodes_csv(self) -> Path:
        return self.oem_dir / "nodes.csv"

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
