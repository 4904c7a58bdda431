"""Every node of a rendered configuration folder becomes Ignition that ignition-validate accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from racker.adapters.fs.node_ignition import find_config_folder, node_ignition
from racker.app.configuration.create import write_configuration
from racker.core.render import config_folder
from racker.model import Backup, Options, StorageProvider
from tests.conftest import require_tool
from tests.renderplans import STATIC, build_plan, flatcar, lokomotive, paths_under

BACKUP = Backup(aws_access_key="AK", aws_secret_key="SK", name="n", s3_bucket="b",
                aws_location="r")


@pytest.mark.parametrize(
    "options",
    [flatcar(), lokomotive(num_controllers=3, web_ui=True, backup=BACKUP,
                           storage_provider=StorageProvider.OPENEBS)],
    ids=["flatcar", "lokomotive"],
)
def test_every_rendered_node_validates(tmp_path: Path, options: Options) -> None:
    validate = require_tool("ignition-validate")
    paths = paths_under(tmp_path)
    (paths.home / ".ssh").mkdir(parents=True)
    paths.ssh_public_key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIT t@r\n")
    plan = build_plan(5, options, statics={2: STATIC})
    write_configuration(paths, plan, render_only=True)

    folder = find_config_folder(config_folder(paths, options.provision), paths)
    assert sorted(folder.snippets) == sorted(n.name for n in plan.nodes)
    for node in plan.nodes:
        result = node_ignition(folder, node.name, paths)
        out = tmp_path / f"{node.name}.ign"
        out.write_text(result.to_json())
        r = subprocess.run([validate, str(out)], capture_output=True, text=True, timeout=30,
                           check=False)
        assert r.returncode == 0, f"{node.name}: {r.stdout}{r.stderr}"
        config = json.loads(out.read_text())
        paths_written = [f["path"] for f in config["storage"]["files"]]
        assert "/etc/systemd/network/10-priv-stable.network" in paths_written
        assert ("/etc/systemd/network/10-public-stable.network" in paths_written) == (
            node.static is not None)
        units = [u["name"] for u in config["systemd"]["units"]]
        assert "boot-workaround-efi-disk-persist.service" in units
        if options.provision.value == "flatcar":
            # the ROOT wipe reaches Ignition (the reference's top-level one never did)
            assert config["storage"]["filesystems"] == [{
                "device": "/dev/disk/by-label/ROOT", "format": "ext4", "wipeFilesystem": True,
                "label": "ROOT"}]
        else:
            assert "/etc/hosts" in paths_written and "use-systemd-resolved.service" in units
