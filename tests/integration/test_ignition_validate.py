"""Every Ignition config racker renders passes Debian's `ignition-validate` (the real peer).

Also `racker ignition NODE_NAME` on fixture folders laid out like the reference's
`~/flatcar-container-linux` and `~/lokomotive`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from racker.adapters.fs.node_ignition import (
    FolderKind,
    installer_ignition,
    node_ignition,
    read_config_folder,
)
from racker.cli.cmd_ignition import run
from racker.cli.main import main
from racker.core.render import config_folder
from racker.core.render.folder import render_config
from racker.core.render.ignition import to_json, transpile
from racker.core.render.installer import (
    InstallerSettings,
    booted_report_clc,
    discovery_clc,
    installer_clc,
)
from racker.model import Provision
from racker.paths import Paths
from tests.conftest import require_tool
from tests.renderplans import STATIC, build_plan, flatcar, lokomotive, paths_under
from tests.unit.test_ignition import BASE, CASES, MERGES

# A realistic node: what racker's renderer writes for a Flatcar node, plus an operator snippet.
BASE_TEMPLATE = """\
---
storage:
  filesystems:
    - name: root
      mount:
        device: /dev/disk/by-label/ROOT
        format: ext4
        wipe_filesystem: true
        label: ROOT
  files:
    - path: /ignition_ran
      filesystem: root
      mode: 0644
      contents:
        inline: |
          Ignition has run on this node; racker removes this file once it has seen it.
passwd:
  users:
    - name: core
      ssh_authorized_keys: ${ssh_keys}
"""

NODE = """\
networkd:
  units:
    - name: 10-priv-stable.network
      contents: |
        [Match]
        MACAddress=52:54:00:aa:bb:01
        [Link]
        RequiredForOnline=no
        [Address]
        Address=172.24.213.2/24
        Scope=link
        [Network]
        DHCP=no
        LinkLocalAddressing=no
systemd:
  units:
    - name: racker-boot-disk-persist.service
      enabled: true
      contents: |
        [Unit]
        Description=Keep booting from disk (IPMI boot flags persistent, 60 s timer off)
        Requires=network-online.target
        After=network-online.target
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        Restart=on-failure
        RestartSec=5s
        ExecStart=/usr/bin/ipmitool raw 0x00 0x08 0x03 0x1f
        ExecStart=/usr/bin/ipmitool raw 0x00 0x08 0x05 0xe0 0x08 0x00 0x00 0x00
        [Install]
        WantedBy=multi-user.target
storage:
  files:
    - path: /etc/hostname
      mode: 0644
      contents:
        inline: node-0
    - path: /opt/bin/report-booted
      mode: 0755
      contents:
        inline: |
          #!/bin/sh
          exec curl -fsS -X POST "http://172.24.213.1:8080/racker/v1/nodes/$1/events?stage=booted"
"""

CUSTOM = """\
networkd:
  units:
    - name: 10-public-stable.network
      contents: |
        [Match]
        MACAddress=52:54:00:cc:dd:01
        [Address]
        Address=203.0.113.10/24
        [Network]
        DHCP=no
        LinkLocalAddressing=no
        DNS=203.0.113.1
        [Route]
        Destination=0.0.0.0/0
        Gateway=203.0.113.1
"""

SSH_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 core@management\n"


def validate(tmp_path: Path, config: dict[str, Any] | str, name: str = "c.ign") -> None:
    """Run ignition-validate on the config; it must exit 0 and print nothing (no warnings)."""
    tool = require_tool("ignition-validate")
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else to_json(config))
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and not proc.stdout + proc.stderr, (
        f"ignition-validate {name}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}")


@pytest.mark.parametrize("text", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_table_cases_pass_ignition_validate(tmp_path: Path, text: str) -> None:
    validate(tmp_path, transpile([("case.yaml", text)]).config)


@pytest.mark.parametrize("child", [m[1] for m in MERGES], ids=[m[0] for m in MERGES])
def test_merged_cases_pass_ignition_validate(tmp_path: Path, child: str) -> None:
    validate(tmp_path, transpile([("base.yaml", BASE), ("child.yaml", child)]).config)


def test_ignition_validate_is_a_real_check(tmp_path: Path) -> None:
    tool = require_tool("ignition-validate")
    bad = tmp_path / "bad.ign"
    bad.write_text('{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"etc/x"}]}}')
    proc = subprocess.run([tool, str(bad)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode != 0 and "path not absolute" in proc.stdout + proc.stderr


# --- racker ignition on configuration folders ----------------------------------------------


def flatcar_folder(home: Path, with_vars: bool = True) -> Path:
    folder = home / "flatcar-container-linux"
    (folder / "templates").mkdir(parents=True)
    (folder / "cl").mkdir()
    (folder / "templates" / "base.yaml.tmpl").write_text(BASE_TEMPLATE)
    (folder / "cl" / "node-0.yaml").write_text(NODE)
    (folder / "cl" / "node-0-custom.yaml").write_text(CUSTOM)
    (folder / "cl" / "node-1.yaml").write_text(NODE.replace("aa:bb:01", "aa:bb:02")
                                               .replace(".2/24", ".3/24")
                                               .replace("inline: node-0", "inline: node-1"))
    (folder / "cl" / "node-1-custom.yaml").write_text("\n")
    if with_vars:
        (folder / "terraform.tfvars").write_text(
            'asset_dir = "/opt/racker-state/flatcar"\n'
            'node_macs = ["52:54:00:aa:bb:01", "52:54:00:aa:bb:02"]\n'
            'node_names = ["node-0", "node-1"]\n'
            'matchbox_addr = "172.24.213.1"\n'
            'clc_snippets = {\n'
            '"node-0" = ["cl/node-0.yaml", "cl/node-0-custom.yaml"]\n'
            '"node-1" = ["cl/node-1.yaml", "cl/node-1-custom.yaml"]\n'
            '}\n'
            'installer_clc_snippets = {\n"node-0" = ["cl/node-0-custom.yaml"]\n}\n')
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "id_rsa.pub").write_text(SSH_KEY)
    return folder


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def test_racker_ignition_prints_the_final_config(home: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = flatcar_folder(home)
    monkeypatch.chdir(folder)
    assert run(["node-0"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    validate(tmp_path, out)
    config = json.loads(out)
    assert config["ignition"] == {"version": "3.3.0"}
    assert config["storage"]["filesystems"] == [{
        "device": "/dev/disk/by-label/ROOT", "format": "ext4", "wipeFilesystem": True,
        "label": "ROOT"}]
    paths = [f["path"] for f in config["storage"]["files"]]
    assert paths == ["/ignition_ran", "/etc/hostname", "/opt/bin/report-booted",
                     "/etc/systemd/network/10-priv-stable.network",
                     "/etc/systemd/network/10-public-stable.network"]
    assert config["storage"]["files"][2]["mode"] == 0o755
    priv = config["storage"]["files"][3]["contents"]["source"]
    assert "MACAddress=52:54:00:aa:bb:01" in priv and "Scope=link" in priv
    assert config["passwd"]["users"] == [{"name": "core",
                                          "sshAuthorizedKeys": [SSH_KEY.strip()]}]
    assert [u["name"] for u in config["systemd"]["units"]] == [
        "racker-boot-disk-persist.service"]


def test_racker_ignition_with_dash_c_compact_and_through_the_dispatcher(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = flatcar_folder(home, with_vars=False)
    assert main(["ignition", "-C", str(folder), "--compact", "node-1"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    validate(tmp_path, out)
    files = [f["path"] for f in json.loads(out)["storage"]["files"]]
    assert "/etc/systemd/network/10-public-stable.network" not in files


def test_racker_ignition_finds_the_folder_in_home(home: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    flatcar_folder(home)
    monkeypatch.chdir(tmp_path)
    assert run(["node-1"]) == 0
    assert json.loads(capsys.readouterr().out)["ignition"]["version"] == "3.3.0"


def test_unknown_node_lists_the_known_ones(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = flatcar_folder(home)
    assert main(["ignition", "-C", str(folder), "node-7"]) == 2
    err = capsys.readouterr().err
    assert "unknown node 'node-7'" in err and "known nodes: node-0, node-1" in err
    assert "Traceback" not in err


def test_bad_snippet_names_file_and_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = flatcar_folder(home)
    (folder / "cl" / "node-1-custom.yaml").write_text("storage:\n  files:\n    - pth: /a\n")
    assert main(["ignition", "-C", str(folder), "node-1"]) == 2
    err = capsys.readouterr().err
    assert f"{folder}/cl/node-1-custom.yaml:3:7: unknown key storage.files[0].pth" in err
    assert "did you mean 'path'?" in err


def test_reference_template_with_top_level_filesystems_warns(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = flatcar_folder(home)
    legacy = BASE_TEMPLATE.replace("storage:\n  filesystems:", "filesystems:", 1).replace(
        "\n  files:", "\nstorage:\n  files:", 1)
    legacy = "\n".join(ln[2:] if ln.startswith("    ") and i < 10 else ln
                       for i, ln in enumerate(legacy.splitlines()))
    (folder / "templates" / "base.yaml.tmpl").write_text(legacy + "\n")
    assert main(["ignition", "-C", str(folder), "node-0"]) == 0
    out, err = capsys.readouterr()
    assert "base.yaml.tmpl:2:1: warning: filesystems belongs under storage" in err
    assert json.loads(out)["storage"]["filesystems"][0]["wipeFilesystem"] is True


def test_missing_listed_snippet_and_missing_ssh_key(home: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = flatcar_folder(home)
    (folder / "cl" / "node-0-custom.yaml").unlink()
    assert main(["ignition", "-C", str(folder), "node-0"]) == 2
    assert "node-0-custom.yaml of node node-0 does not exist" in capsys.readouterr().err
    (home / ".ssh" / "id_rsa.pub").unlink()
    assert main(["ignition", "-C", str(folder), "node-1"]) == 2
    assert "racker factory gen-ssh-key" in capsys.readouterr().err


def test_not_a_configuration_folder(home: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ignition", "-C", str(tmp_path), "node-0"]) == 2
    assert "is not a racker configuration folder" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ignition", "-h"]) == 0
    out = capsys.readouterr().out
    assert "NODE_NAME" in out and "-C DIR" in out


def test_lokomotive_folder_short_name(home: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = home / "lokomotive"
    (folder / "cl").mkdir(parents=True)
    full = "lk-worker-0.k8s.localdomain"
    (folder / "cl" / f"{full}.yaml").write_text(NODE)
    (folder / "cl" / f"{full}-custom.yaml").write_text("\n")
    (folder / "lokocfg.vars").write_text(
        f'cluster_name = "lk"\nclc_snippets = {{\n"{full}" = ["cl/{full}.yaml", '
        f'"cl/{full}-custom.yaml"]\n}}\n')
    (folder / "lokocfg.vars").write_text(
        (folder / "lokocfg.vars").read_text()
        + f'worker_macs = ["52:54:00:aa:bb:01"]\nworker_names = ["{full}"]\n')
    assert main(["ignition", "-C", str(folder), "52-54-00-AA-BB-01"]) == 0
    assert "lokoctl adds its own" in capsys.readouterr().err
    assert main(["ignition", "-C", str(folder), "lk-worker-0"]) == 0
    out, err = capsys.readouterr()
    assert "lokoctl adds its own" in err
    validate(tmp_path, out)
    assert "passwd" not in json.loads(out)


@pytest.mark.parametrize("provision", [Provision.FLATCAR, Provision.LOKOMOTIVE])
def test_every_node_of_racker_rendered_folders_passes(
        provision: Provision, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The folders racker's renderer writes (static address on node 1, HA for Lokomotive)."""
    paths = paths_under(tmp_path)
    monkeypatch.setenv("HOME", str(paths.home))
    (paths.home / ".ssh").mkdir(parents=True)
    paths.ssh_public_key.write_text(SSH_KEY)
    options = flatcar() if provision is Provision.FLATCAR else lokomotive(num_controllers=3)
    plan = build_plan(5, options, statics={1: STATIC})
    folder = config_folder(paths, provision)
    for f in render_config(plan, paths):
        (folder / f.path).parent.mkdir(parents=True, exist_ok=True)
        (folder / f.path).write_text(f.content)
    for node in plan.nodes:
        assert main(["ignition", "-C", str(folder), node.name]) == 0
        out = capsys.readouterr().out
        validate(tmp_path, out, f"{node.name}.ign")
        config = json.loads(out)
        files = {f["path"]: f for f in config["storage"]["files"]}
        priv = files["/etc/systemd/network/10-priv-stable.network"]["contents"]["source"]
        assert f"MACAddress={node.mac}" in priv and f"Address={node.ip}/24" in priv
        has_public = "/etc/systemd/network/10-public-stable.network" in files
        assert has_public == (node.static is not None)
        if provision is Provision.FLATCAR:
            assert config["storage"]["filesystems"][0]["device"] == "/dev/disk/by-label/ROOT"
            assert config["passwd"]["users"][0]["sshAuthorizedKeys"] == [SSH_KEY.strip()]


def test_installer_and_booted_report_configs_pass(tmp_path: Path) -> None:
    """racker's installer CLC and the installed node's report snippet, translated here."""
    s = InstallerSettings(base_url="http://172.24.213.1:8080", mac="02:00:00:00:00:01",
                          install_disk="/dev/sda", pre_reboot_commands=("true",),
                          ssh_keys=(SSH_KEY.strip(),))
    for name, text in (("installer", installer_clc(s)),
                       ("booted", booted_report_clc(s.base_url, s.mac))):
        result = transpile([(name, text)])
        assert result.warnings == ()
        validate(tmp_path, result.config, f"{name}.ign")
        if name == "installer":  # the inventory collector ships in the validated config
            files = {f["path"]: f for f in result.config["storage"]["files"]}
            assert files["/opt/racker-inventory"]["mode"] == 0o555
    discovery = transpile([("discovery", discovery_clc(s.base_url, s.mac))])
    assert discovery.warnings == ()
    validate(tmp_path, discovery.config, "discovery.ign")
    merged = transpile([("node", NODE), ("booted", booted_report_clc(s.base_url, s.mac))])
    validate(tmp_path, merged.config, "node-and-booted.ign")


def test_installer_and_node_ignition_from_a_rendered_folder(tmp_path: Path) -> None:
    """What the boot server serves: installer + installer_clc_snippets, node + booted report."""
    paths = paths_under(tmp_path)
    (paths.home / ".ssh").mkdir(parents=True)
    paths.ssh_public_key.write_text(SSH_KEY)
    plan = build_plan(2, flatcar(), statics={1: STATIC})
    folder_path = config_folder(paths, Provision.FLATCAR)
    for f in render_config(plan, paths):
        (folder_path / f.path).parent.mkdir(parents=True, exist_ok=True)
        (folder_path / f.path).write_text(f.content)
    folder = read_config_folder(folder_path, FolderKind.FLATCAR)
    for node in plan.nodes:
        s = InstallerSettings(base_url="http://172.24.213.1:8080", mac=node.mac)
        inst = installer_ignition(folder, node.mac, ("installer", installer_clc(s)))
        validate(tmp_path, inst.config, f"{node.name}-installer.ign")
        public = "/etc/systemd/network/10-public-stable.network"
        assert (public in {f["path"] for f in inst.config["storage"]["files"]}) == (
            node.static is not None)
        full = node_ignition(folder, node.name, Paths.from_env({"HOME": str(paths.home)}),
                             extra=[("booted", booted_report_clc(s.base_url, node.mac))])
        validate(tmp_path, full.config, f"{node.name}-installed.ign")
        plain = node_ignition(folder, node.name, paths)
        assert len(full.config["systemd"]["units"]) > len(plain.config["systemd"]["units"])
