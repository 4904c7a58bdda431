"""What the simulated Flatcar installer finds in an installer Ignition."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from racker.sim.nodes import install_config as ic

M = "http://172.24.213.1:8080"
SCRIPT = f"""#!/bin/bash
set -e
flatcar-install -s -C stable -V current -b {M}/assets/flatcar -i /tmp/i
echo 'set linux_append="ignition.config.url={M}/ignition?mac=aa-bb&os=installed"' >> grub.cfg
curl -X POST {M}/racker/v1/nodes/aa:bb:cc:dd:ee:ff/events -d '{{"event":"installed"}}'
"""


def _ign(files: list[dict[str, object]], units: list[dict[str, object]]) -> str:
    return json.dumps({"ignition": {"version": "3.3.0"}, "storage": {"files": files},
                       "systemd": {"units": units}})


@pytest.mark.parametrize(
    "ign",
    [
        _ign([{"path": "/opt/installer", "contents": {"source": "data:," + quote(SCRIPT)}}], []),
        _ign([{"path": "/opt/installer", "contents": {
            "source": "data:;base64," + base64.b64encode(SCRIPT.encode()).decode()}}], []),
        _ign([], [{"name": "installer.service", "contents": SCRIPT}]),
        _ign([], [{"name": "x.service", "dropins": [{"name": "a.conf", "contents": SCRIPT}]}]),
    ],
)
def test_finds_everything_wherever_it_sits(ign: str) -> None:
    texts = ic.config_texts(ign)
    plan = ic.find_install_plan(texts)
    assert plan == ic.InstallPlan("http://172.24.213.1:8080/assets/flatcar", "current", "stable")
    assert plan.version_txt_url == "http://172.24.213.1:8080/assets/flatcar/current/version.txt"
    assert plan.image_url("3510.2.6") == (
        "http://172.24.213.1:8080/assets/flatcar/3510.2.6/flatcar_production_image.bin.bz2")
    assert ic.find_event_url(texts) == (
        "http://172.24.213.1:8080/racker/v1/nodes/aa:bb:cc:dd:ee:ff/events")
    assert ic.find_installed_ignition_url(texts) == (
        "http://172.24.213.1:8080/ignition?mac=aa-bb&os=installed")


def test_nothing_found() -> None:
    texts = ic.config_texts(_ign([], [{"name": "a.service", "contents": "flatcar-install -s"}]))
    assert ic.find_install_plan(texts) is None
    assert ic.find_event_url(texts) is None
    assert ic.find_installed_ignition_url(["not json"]) is None


@pytest.mark.parametrize(
    ("text", "version"),
    [("FLATCAR_BUILD=1\nFLATCAR_VERSION=3510.2.6\n", "3510.2.6"),
     ('FLATCAR_VERSION="1.2.3"', "1.2.3"), ("", None)],
)
def test_version_txt(text: str, version: str | None) -> None:
    assert ic.parse_version_txt(text) == version
