"""The test OS's shell helpers under the host's busybox, fed racker's real Ignition configs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from racker.core.render.ignition import transpile
from racker.core.render.installer import InstallerSettings, booted_report_clc, installer_clc
from racker.sim.nodes import testos_script as ts
from tests.conftest import require_tool

BASE = "http://10.213.77.1:8080"
MAC = "52:54:00:7a:00:01"


def sh(tmp: Path, script: str) -> str:
    busybox = require_tool("busybox")
    lib = tmp / "lib.sh"
    lib.write_text(ts.LIB)
    r = subprocess.run([busybox, "sh", "-c", f". {lib}\n{script}"], capture_output=True,
                       text=True, timeout=30, check=False, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def installer(tmp_path: Path) -> Path:
    ign = transpile([("installer", installer_clc(InstallerSettings(BASE, MAC)))])
    path = tmp_path / "installer.json"
    path.write_text(ign.to_json())
    sh(tmp_path, f"ign_texts {path} > {tmp_path / 'texts'}")
    return tmp_path / "texts"


def test_installer_ignition_is_decoded(installer: Path) -> None:
    text = installer.read_text()
    assert "flatcar-install -s -C stable -V current -o '' -b " in text
    assert "#!/bin/bash\nset -euo pipefail\n" in text


def test_urls_from_the_installer_ignition(tmp_path: Path, installer: Path) -> None:
    out = sh(tmp_path, f"install_base {installer}; install_version {installer}; "
                       f"events_url {installer}; installed_url {installer}").splitlines()
    assert out == [f"{BASE}/assets/flatcar", "current",
                   f"{BASE}/racker/v1/nodes/52-54-00-7a-00-01/events",
                   f"{BASE}/ignition?mac=52-54-00-7a-00-01&os=installed"]


def test_events_url_from_the_installed_ignition(tmp_path: Path) -> None:
    ign = transpile([("booted", booted_report_clc(BASE, MAC))])
    path = tmp_path / "installed.json"
    path.write_text(ign.to_json(pretty=False))
    out = sh(tmp_path, f"ign_texts {path} > t; events_url t")
    assert out == f"{BASE}/racker/v1/nodes/52-54-00-7a-00-01/events\n"


def test_base64_data_url(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(
        '{"storage": {"files": [{"contents": {"source": "data:;base64,'
        'ZmxhdGNhci1pbnN0YWxsIC1WIDM1MTAuMi42IC1iIGh0dHA6Ly94L2Y="}}]}}')
    out = sh(tmp_path, "ign_texts c.json > t; install_base t; install_version t")
    assert out == "http://x/f\n3510.2.6\n"


@pytest.mark.parametrize(("cmdline", "name", "value"), [
    ("BOOT_IMAGE=/k console=ttyS1 ignition.config.url=http://a/ignition?mac=x&os=installer q",
     "ignition.config.url", "http://a/ignition?mac=x&os=installer"),
    ("a=1 a=2", "a", "1"),
    ("racker.mac=52:54:00:7a:00:01 console=ttyS1,57600n8", "racker.mac", "52:54:00:7a:00:01"),
    ("x.a=1 a=2", "a", "2"),
])
def test_cmdline_arg(tmp_path: Path, cmdline: str, name: str, value: str) -> None:
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    assert sh(tmp_path, f"cmdline_arg {name} cmdline") == value + "\n"


def test_cmdline_arg_missing(tmp_path: Path) -> None:
    (tmp_path / "cmdline").write_text("console=ttyS1\n")
    assert sh(tmp_path, "cmdline_arg ignition.config.url cmdline || echo missing") == "missing\n"


def test_small_helpers(tmp_path: Path) -> None:
    (tmp_path / "version.txt").write_text('FLATCAR_BUILD=1\nFLATCAR_VERSION="3510.2.6"\n')
    out = sh(tmp_path, "version_of version.txt; "
                       "base_of 'http://10.0.0.1:8080/ignition?mac=a-b&os=installer'; "
                       "mac_of_url 'http://10.0.0.1:8080/ignition?mac=a-b&os=installer'")
    assert out.splitlines() == ["3510.2.6", "http://10.0.0.1:8080", "a-b"]


@pytest.mark.parametrize(("encoded", "decoded"), [
    ("a%20b%0Ac", "a b\nc"),
    ("1+2%2B3", "1+2+3"),
    ("back\\slash%5Cn", "back\\slash\\n"),
    ("100%25%20sure%27%22", "100% sure'\""),
])
def test_urldecode(tmp_path: Path, encoded: str, decoded: str) -> None:
    assert sh(tmp_path, f"urldecode '{encoded}'") == decoded


@pytest.mark.parametrize(("faults", "kind", "expected"), [
    ("installer-fails:no-boot-report", "no-boot-report", "yes"),
    ("installer-fails", "installer-fails", "yes"),
    ("installer-fails", "installer", "no"),
    ("", "no-pxe", "no"),
])
def test_has_fault(tmp_path: Path, faults: str, kind: str, expected: str) -> None:
    out = sh(tmp_path, f"RACKER_FAULTS='{faults}'; has_fault {kind} && echo yes || echo no")
    assert out == expected + "\n"


def test_unit_contents_in_the_raw_config(tmp_path: Path) -> None:
    # a script kept in a unit's contents is one JSON string with \n escapes
    (tmp_path / "c.json").write_text(
        '{"systemd": {"units": [{"contents": "flatcar-install -s -V current -b http://h:8080/'
        'assets/flatcar\\necho done\\ncurl -X POST http://h:8080/racker/v1/nodes/a-b/events\\n"}]}}')
    out = sh(tmp_path, "ign_texts c.json > t; install_base t; events_url t")
    assert out == "http://h:8080/assets/flatcar\nhttp://h:8080/racker/v1/nodes/a-b/events\n"
