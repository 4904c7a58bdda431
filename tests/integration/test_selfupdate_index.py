"""`racker update / upgrade / get` against a real local package index and a real throwaway venv.

Three wheels of a stand-in distribution named `racker-baremetal` (1.0.0, 1.0.1, 1.1.0, each with
a console script printing its version) are built with `pip wheel`, served as a PEP 503 simple
index by `http.server` on 127.0.0.1 and as a `--find-links` folder, and installed with pip into a
venv in a temporary folder. racker's own .venv is never touched.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from racker.errors import InputError, RackerError
from racker.lifecycle import ChangeRequest, change_version
from racker.selfupdate import Mode
from racker.services.packageindex import (
    PackageIndex,
    Target,
    configured_index,
    list_releases,
    probe,
)

pytestmark = pytest.mark.slow  # builds three wheels and a venv: about 25 s

VERSIONS = ("1.0.0", "1.0.1", "1.1.0")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "racker-baremetal"
version = "{version}"
requires-python = ">=3.8"

[project.scripts]
racker = "racker_standin:main"
"""

MODULE = """\
def main():
    print("{version}")
"""


def _pip_env(tmp: Path) -> dict[str, str]:
    """pip settings of this machine (mirrors, find-links) left out: only the test index counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Rack:
    tmp: Path
    env: dict[str, str]
    wheels: Path
    index_url: str
    target: Target
    version_file: Path

    @property
    def venv(self) -> Path:
        return self.target.prefix


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rack]:
    tmp = tmp_path_factory.mktemp("selfupdate")
    env = _pip_env(tmp)
    projects = []
    for version in VERSIONS:
        project = tmp / "src" / version
        project.mkdir(parents=True)
        (project / "pyproject.toml").write_text(PYPROJECT.format(version=version))
        (project / "racker_standin.py").write_text(MODULE.format(version=version))
        projects.append(str(project))
    wheels = tmp / "www" / "files"
    for src in projects:  # one by one: pip refuses two versions of one name per call
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(wheels), src],
                       check=True, env=env, timeout=120)
    names = sorted(p.name for p in wheels.iterdir())
    assert names == [f"racker_baremetal-{v}-py3-none-any.whl" for v in VERSIONS]
    page = tmp / "www" / "simple" / "racker-baremetal" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<!DOCTYPE html><html><body>\n" + "".join(
        f'<a href="../../files/{n}" data-requires-python="&gt;=3.8">{n}</a><br/>\n'
        for n in names) + "</body></html>\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_Quiet, directory=str(tmp / "www")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        index_url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--index-url", index_url, "racker-baremetal==1.0.0"],
                       check=True, env=env, timeout=120)
        version_file = tmp / "opt-racker" / "RACKER_VERSION"
        version_file.parent.mkdir()
        version_file.write_text("1.0.0\n")
        yield Rack(tmp, env, wheels, index_url, Target(venv / "bin" / "python"), version_file)
    finally:
        server.shutdown()
        server.server_close()


def _script_version(rack: Rack) -> str:
    """What the installed console script says: the real proof of what pip installed."""
    out = subprocess.run([str(rack.venv / "bin" / "racker")], capture_output=True, text=True,
                         check=True, timeout=30)
    return out.stdout.strip()


def _change(rack: Rack, req: ChangeRequest, index: PackageIndex | None = None,
            answer: bool = True) -> tuple[int, list[str], list[str]]:
    """Run the use case; `asked` gets the questions, and "restart" when the service would be
    restarted (only after a release was really installed)."""
    lines: list[str] = []
    asked: list[str] = []

    def ask(q: str) -> bool:
        asked.append(q)
        return answer

    def restart() -> str:
        asked.append("restart")
        return "✓ restarted"

    rc = change_version(req, rack.target, index or PackageIndex(rack.index_url, False, "test"),
                        rack.version_file, ask, lines.append, env=rack.env, restart=restart)
    return rc, lines, asked


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_index_lists_the_three_versions(rack: Rack) -> None:
    got = list_releases(PackageIndex(rack.index_url, False, "test"))
    assert [str(r.version) for r in got] == list(VERSIONS)
    assert all(r.requires_python == ">=3.8" for r in got)
    folder = list_releases(PackageIndex(str(rack.wheels), True, "test"))
    assert [str(r.version) for r in folder] == list(VERSIONS)


def test_update_upgrade_get_move_between_versions(rack: Rack) -> None:
    assert _script_version(rack) == "1.0.0"

    # update: newest of the running series 1.0
    rc, lines, asked = _change(rack, ChangeRequest(Mode.UPDATE))
    assert rc == 0 and asked == ["restart"]
    assert _script_version(rack) == "1.0.1"
    assert probe(rack.target).version is not None
    assert str(probe(rack.target).version) == "1.0.1"
    assert rack.version_file.read_text() == "1.0.1\n"
    assert lines[0] == "Update racker 1.0.0 → 1.0.1"
    assert lines[1].startswith("Installing racker 1.0.1 into ")
    assert lines[-2].startswith("✓ racker 1.0.1 installed in ")
    assert lines[-1] == "✓ restarted"

    # update again: nothing newer in 1.0, pip not run
    rc, lines, asked = _change(rack, ChangeRequest(Mode.UPDATE))
    assert rc == 0 and not asked
    assert lines == ["racker 1.0.1 is already the newest release of series 1.0; nothing to do"]

    # upgrade, declined: warning shown, nothing changed
    rc, lines, asked = _change(rack, ChangeRequest(Mode.UPGRADE), answer=False)
    assert rc == 1
    assert asked == ["Upgrade racker from series 1.0 to 1.1?"]  # and no restart
    assert any("may have to be changed by hand" in ln for ln in lines)
    assert _script_version(rack) == "1.0.1"

    # upgrade, confirmed: newest of all
    rc, lines, asked = _change(rack, ChangeRequest(Mode.UPGRADE))
    assert rc == 0 and asked == ["Upgrade racker from series 1.0 to 1.1?", "restart"]
    assert _script_version(rack) == "1.1.0"
    assert rack.version_file.read_text() == "1.1.0\n"

    rc, lines, _ = _change(rack, ChangeRequest(Mode.UPGRADE))
    assert lines == ["racker 1.1.0 is already the newest release; nothing to do"]

    # get: exactly that version, a downgrade, from a --find-links folder this time
    rc, lines, asked = _change(rack, ChangeRequest(Mode.GET, "1.0.0"),
                               index=PackageIndex(str(rack.wheels), True, "test"))
    assert rc == 0 and asked == ["restart"]
    assert lines[0] == "Downgrade racker 1.1.0 → 1.0.0"
    assert _script_version(rack) == "1.0.0"
    assert rack.version_file.read_text() == "1.0.0\n"

    # after 'racker factory reset -racker-version' the first update takes the newest release
    rack.version_file.unlink()
    rc, lines, _ = _change(rack, ChangeRequest(Mode.UPDATE))
    assert rc == 0
    assert "No racker version is recorded" in lines[0]
    assert lines[1] == "Install racker 1.1.0 (the newest release)"
    assert _script_version(rack) == "1.1.0"
    assert rack.version_file.read_text() == "1.1.0\n"


def test_get_missing_version_lists_what_exists(rack: Rack) -> None:
    before = _script_version(rack)
    with pytest.raises(InputError) as exc:
        _change(rack, ChangeRequest(Mode.GET, "1.2.0"))
    text = str(exc.value)
    assert "racker version 1.2.0 was not found on http://127.0.0.1:" in text
    assert "available versions: 1.1.0, 1.0.1, 1.0.0" in text
    assert _script_version(rack) == before


def test_unreachable_index_names_the_url(rack: Rack) -> None:
    url = f"http://127.0.0.1:{_free_port()}/simple/"
    with pytest.raises(RackerError) as exc:
        _change(rack, ChangeRequest(Mode.UPDATE), index=PackageIndex(url, False, "test"))
    assert f"the package index {url}racker-baremetal/ is unreachable" in str(exc.value)
    assert "RACKER_PACKAGE_INDEX" in str(exc.value)


def test_cli_upgrade_needs_confirmation_without_a_terminal(rack: Rack) -> None:
    """The real `racker` command on the throwaway venv: no tty and no -y is a refusal."""
    racker = Path(sys.executable).parent / "racker"
    env = dict(rack.env, RACKER_VERSION_FILE=str(rack.version_file),
               RACKER_STATE_DIR=str(rack.tmp / "state"))
    subprocess.run([str(racker), "get", "1.0.1", "-venv", str(rack.venv), "-index",
                    rack.index_url], check=True, env=env, timeout=120, capture_output=True)
    assert _script_version(rack) == "1.0.1"
    refused = subprocess.run([str(racker), "upgrade", "-venv", str(rack.venv)],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             env=dict(env, RACKER_PACKAGE_INDEX=rack.index_url), timeout=120)
    assert refused.returncode == 2
    assert "may have to be changed by hand" in refused.stdout
    assert "there is no terminal to ask" in refused.stderr
    assert "racker upgrade -y" in refused.stderr
    assert _script_version(rack) == "1.0.1"
    done = subprocess.run([str(racker), "upgrade", "-y", "--venv", str(rack.venv)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=dict(env, RACKER_PACKAGE_INDEX=rack.index_url), timeout=120)
    assert done.returncode == 0, done.stderr
    assert _script_version(rack) == "1.1.0"
    missing = subprocess.run([str(racker), "get", "7.0", "-venv", str(rack.venv)],
                             capture_output=True, text=True, timeout=120,
                             env=dict(env, RACKER_PACKAGE_INDEX=rack.index_url))
    assert missing.returncode == 2
    assert "racker series 7.0 was not found" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_file_url_index_and_index_settings(rack: Rack, tmp_path: Path) -> None:
    """A PEP 503 index on disk (`file://`), and which setting names the index."""
    on_disk = PackageIndex(f"file://{rack.tmp / 'www' / 'simple'}/", False, "test")
    assert [str(r.version) for r in list_releases(on_disk)] == list(VERSIONS)

    state = tmp_path / "state"
    state.mkdir()
    assert configured_index(state, env={}).location == "https://pypi.org/simple/"
    (state / "package-index").write_text(f"# our mirror\n\n{rack.index_url}\n")
    got = configured_index(state, env={})
    assert (got.location, got.find_links) == (rack.index_url, False)
    assert got.source == str(state / "package-index")
    got = configured_index(state, env={"RACKER_PACKAGE_INDEX": str(rack.wheels)})
    assert (got.location, got.find_links, got.source) == (str(rack.wheels), True,
                                                          "RACKER_PACKAGE_INDEX")
    got = configured_index(state, "https://u:tok@mirror/simple/",
                           env={"RACKER_PACKAGE_INDEX": str(rack.wheels)})
    assert got.source == "-index" and str(got) == "https://***@mirror/simple/"
    with pytest.raises(InputError, match="does not exist"):
        configured_index(state, str(tmp_path / "missing"))
    with pytest.raises(InputError, match="unsupported package index URL scheme 'ftp'"):
        configured_index(state, "ftp://mirror/simple/")
    with pytest.raises(InputError, match="not a Python virtual environment"):
        Target.of_venv(tmp_path)
