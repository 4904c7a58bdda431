from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import yaml

from racker.core.render.installer import (
    InstallerSettings,
    booted_report_clc,
    installer_clc,
    installer_script,
)

S = InstallerSettings("http://172.24.213.1:8080", "aa:bb:cc:00:00:02")


def test_installer_script_installs_from_racker_and_reports() -> None:
    lines = installer_script(S).splitlines()
    assert lines[0] == "#!/bin/bash"
    assert ("flatcar-install -s -C stable -V current -o '' "
            "-b http://172.24.213.1:8080/assets/flatcar") in lines
    grub = next(line for line in lines if "grub.cfg" in line)
    assert "ignition.config.url=http://172.24.213.1:8080/ignition?mac=aa-bb-cc-00-00-02" \
           "&os=installed" in grub
    assert "console=ttyS1,57600n8" in grub
    report = lines.index(next(line for line in lines if '"installed"' in line))
    assert lines.index("umount /tmp/oemfs") < report < lines.index("systemctl reboot")
    assert "racker/v1/nodes/aa-bb-cc-00-00-02/events" in lines[report]
    # the hardware inventory goes first, before anything touches the disks
    inventory = lines.index(next(line for line in lines if '"inventory"' in line))
    assert inventory < lines.index(next(line for line in lines if "flatcar-install" in line))
    assert "/opt/racker-inventory" in lines[inventory]
    assert "|| echo" in lines[inventory]  # a refused inventory does not stop the install
    # every step after the trap reports its failure (run for real in test_install_failed_report)
    trap = lines.index("trap report_failure EXIT")
    assert lines.index("set -euo pipefail") < trap < min(
        i for i, line in enumerate(lines) if line.startswith("flatcar-install"))


def test_installer_disk_and_pre_reboot_commands() -> None:
    s = InstallerSettings("http://m:8080", "aa:bb:cc:00:00:02", install_disk="/dev/sda",
                          channel="beta", version="3600.1.0", pre_reboot_commands=("echo hi",))
    lines = installer_script(s).splitlines()
    assert any(line.startswith("flatcar-install -d /dev/sda -C beta -V 3600.1.0")
               for line in lines)
    assert lines.index("echo hi") < lines.index("systemctl reboot")


def test_installer_clc_shape() -> None:
    clc = yaml.safe_load(installer_clc(S))
    names = [u["name"] for u in clc["systemd"]["units"]]
    assert names == ["installer.service", "sshd.socket"]
    f, collector = clc["storage"]["files"]
    assert f["path"] == "/opt/racker-installer" and f["mode"] == 0o500
    assert collector["path"] == "/opt/racker-inventory"
    assert collector["contents"]["inline"].startswith("#!/bin/bash\n")
    assert "passwd" not in clc
    with_keys = yaml.safe_load(installer_clc(InstallerSettings("http://m", "aa:bb:cc:00:00:02",
                                                                ssh_keys=("ssh-ed25519 AAAA",))))
    assert with_keys["passwd"]["users"][0]["ssh_authorized_keys"] == ["ssh-ed25519 AAAA"]


def test_booted_report() -> None:
    clc = yaml.safe_load(booted_report_clc("http://m:8080", "aa:bb:cc:00:00:02"))
    (unit,) = clc["systemd"]["units"]
    assert unit["enabled"] is True and "ExecStart=/opt/racker-report-booted" in unit["contents"]
    (script,) = clc["storage"]["files"]
    text = script["contents"]["inline"]
    assert text.startswith("#!/bin/sh\n")
    assert "ssh-keygen -A" in text  # the host keys exist before they are reported
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("exec curl ") and '\\"host_keys\\": [$keys]' in last
    assert text.rstrip().endswith(" http://m:8080/racker/v1/nodes/aa-bb-cc-00-00-02/events")


def test_installer_script_quotes_every_value(tmp_path: Path) -> None:
    # The settings refuse such values; the script must not depend on that alone.
    pwned = tmp_path / "pwned"
    s = InstallerSettings("http://m:8080", "aa:bb:cc:00:00:02", channel=f"stable; touch {pwned}",
                          version="$(touch x)", install_disk="/dev/sda b")
    line = next(x for x in installer_script(s).splitlines() if x.startswith("flatcar-install"))
    assert shlex.split(line)[:7] == ["flatcar-install", "-d", "/dev/sda b", "-C",
                                     f"stable; touch {pwned}", "-V", "$(touch x)"]
    # Run the line with flatcar-install replaced by a no-op: nothing else may run.
    subprocess.run(["bash", "-c", "flatcar-install() { :; }\n" + line], check=True,
                   cwd=tmp_path)
    assert not pwned.exists() and not (tmp_path / "x").exists()
