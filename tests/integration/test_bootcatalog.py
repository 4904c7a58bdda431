"""The boot server's catalog from a rendered folder: every config passes ignition-validate."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from racker.adapters.fs.node_ignition import FolderKind, read_config_folder
from racker.app.bootcatalog import boot_nodes
from racker.app.configuration.create import configure
from racker.model import Options, Provision
from racker.paths import Paths
from racker.settings import Settings
from tests.integration.test_ignition_validate import validate
from tests.rackfixtures import write_rack


def file_text(config: dict[str, Any], path: str) -> str:
    (f,) = [f for f in config["storage"]["files"] if f["path"] == path]
    source: str = f["contents"]["source"]
    return urllib.parse.unquote(source.removeprefix("data:,"))


def test_catalog_configs_are_valid_and_point_at_racker(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 3)
    paths = Paths.from_env(env)
    (paths.home / ".ssh").mkdir(parents=True)
    paths.ssh_public_key.write_text("ssh-ed25519 AAAATEST racker@test\n")
    result = configure(paths, Options(provision=Provision.FLATCAR), render_only=True)
    folder = read_config_folder(result.folder, FolderKind.FLATCAR)
    nodes = boot_nodes(result.plan, folder, paths, Settings())
    assert [n.mac for n in nodes] == [p.mac for p in result.plan.nodes]
    base = f"http://{result.plan.management_ip}:8080"
    for n in nodes:
        installer = json.loads(n.install_ignition)
        own = json.loads(n.node_ignition)
        validate(tmp_path, installer, f"{n.name}-installer.ign")
        validate(tmp_path, own, f"{n.name}.ign")
        script = file_text(installer, "/opt/racker-installer")
        assert f"-b {base}/assets/flatcar" in script
        hyphen = n.mac.replace(":", "-")
        assert f"ignition?mac={hyphen}&os=installed" in script
        assert f"{base}/racker/v1/nodes/{hyphen}/events" in script
        report = file_text(own, "/opt/racker-report-booted")
        assert '\\"event\\": \\"booted\\", \\"host_keys\\"' in report and "ssh-keygen -A" in report
        assert own["passwd"]["users"][0]["sshAuthorizedKeys"] == [
            "ssh-ed25519 AAAATEST racker@test"]
        units = {u["name"] for u in own["systemd"]["units"]}
        assert "racker-report-booted.service" in units
