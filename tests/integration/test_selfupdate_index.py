"""`racker update / upgrade / get` against a real local package index and a real throwaway venv.

Three wheels of a stand-in distribution named `racker-baremetal` (1.0.0, 1.0.1, 1.1.0, each with
a console script printing its version, each needing the stand-in dependency `racker-standin-dep`)
are built with `pip wheel`, served as a PEP 503 simple index (with `#sha256=` links) by
`http.server` on 127.0.0.1 and as a `--find-links` folder, and installed with pip into a venv in
a temporary folder. racker's own .venv is never touched.

The index also holds what must never be installed: PyPI's foreign `racker` 0.4.0 (somebody
else's project of that name) and a release 1.0.2 published only as a source archive whose
setup.py leaves a marker file when it runs. A second, hostile index offers `racker-standin-dep`
9.0.0: the caller's pip settings (PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, pip.conf) point at it.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from racker.adapters.packageindex import (
    PackageIndex,
    Runner,
    Target,
    configured_index,
    list_releases,
    probe,
)
from racker.app.lifecycle import ChangeRequest, change_version
from racker.core.releases import Mode
from racker.errors import InputError, RackerError

pytestmark = pytest.mark.slow  # builds six wheels and a venv: about 30 s

VERSIONS = ("1.0.0", "1.0.1", "1.1.0")
SDIST_ONLY = "1.0.2"

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
requires-python = ">=3.8"
dependencies = [{deps}]
{scripts}
"""

SCRIPTS = """\
[project.scripts]
racker = "{module}:main"
"""

MODULE = """\
def main():
    print("{label}")
"""

# The setup.py of the source-only release: running it (pip building the sdist, as root) is the
# failure this marker file records.
SETUP_PY = """\
import pathlib
pathlib.Path({marker!r}).write_text("setup.py ran")
from setuptools import setup
setup(name="racker-baremetal", version="{version}")
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
    hostile_env: dict[str, str]
    """The caller's pip set-up points at the hostile index (racker must ignore all of it)."""
    marker: Path
    """Written when the source-only release's setup.py runs."""

    @property
    def venv(self) -> Path:
        return self.target.prefix


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(tmp: Path, env: dict[str, str], out: Path, name: str, version: str,
           deps: str = "", script: str | None = None) -> None:
    """One stand-in wheel, built offline by setuptools into `out`."""
    project = tmp / "src" / f"{name}-{version}"
    project.mkdir(parents=True)
    module = name.replace("-", "_") + "_standin"
    scripts = SCRIPTS.format(module=module) if script else ""
    (project / "pyproject.toml").write_text(PYPROJECT.format(
        name=name, version=version, deps=deps, scripts=scripts))
    (project / f"{module}.py").write_text(MODULE.format(label=script or ""))
    # one by one: pip refuses two versions of one name per call
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(project)],
                   check=True, env=env, timeout=120)


def _sdist(out: Path, version: str, marker: Path) -> Path:
    """A source-only release: a tar.gz whose setup.py leaves `marker` when it is run."""
    path = out / f"racker_baremetal-{version}.tar.gz"
    base = f"racker_baremetal-{version}"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in ((f"{base}/setup.py", SETUP_PY.format(marker=str(marker),
                                                                version=version)),
                           (f"{base}/PKG-INFO", "Metadata-Version: 2.1\nName: racker-baremetal\n"
                                                f"Version: {version}\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _page(page: Path, files: list[Path], hashes: bool = True) -> None:
    """A PEP 503 project page linking `files` (in `<root>/files/`), with their sha256."""
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("<!DOCTYPE html><html><body>\n" + "".join(
        f'<a href="../../files/{f.name}' + (f"#sha256={_sha256(f)}" if hashes else "")
        + f'" data-requires-python="&gt;=3.8">{f.name}</a><br/>\n'
        for f in files) + "</body></html>\n")


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rack]:
    tmp = tmp_path_factory.mktemp("selfupdate")
    env = _pip_env(tmp)
    wheels = tmp / "www" / "files"
    dep = '"racker-standin-dep"'
    for version in VERSIONS:
        _build(tmp, env, wheels, "racker-baremetal", version, deps=dep, script=version)
    _build(tmp, env, wheels, "racker-standin-dep", "1.0.0")
    _build(tmp, env, wheels, "racker", "0.4.0", script="foreign racker 0.4.0")
    marker = tmp / "setup-py-ran"
    _sdist(wheels, SDIST_ONLY, marker)
    ours = sorted(wheels.glob("racker_baremetal-*"))
    assert [p.name for p in ours] == [f"racker_baremetal-{v}-py3-none-any.whl"
                                      for v in ("1.0.0", "1.0.1")] + [
        f"racker_baremetal-{SDIST_ONLY}.tar.gz", "racker_baremetal-1.1.0-py3-none-any.whl"]
    _page(tmp / "www" / "simple" / "racker-baremetal" / "index.html", ours)
    _page(tmp / "www" / "simple" / "racker-standin-dep" / "index.html",
          sorted(wheels.glob("racker_standin_dep-*")))
    _page(tmp / "www" / "simple" / "racker" / "index.html", sorted(wheels.glob("racker-*")))

    # the hostile side: a newer dependency on an index and in a folder of its own
    evil = tmp / "evil" / "files"
    _build(tmp, env, evil, "racker-standin-dep", "9.0.0")
    _page(tmp / "evil" / "simple" / "racker-standin-dep" / "index.html", list(evil.iterdir()))
    evil_index = (tmp / "evil" / "simple").as_uri() + "/"
    conf = tmp / "evil" / "pip.conf"
    conf.write_text(f"[global]\nextra-index-url = {evil_index}\nfind-links = {evil}\n")
    home = tmp / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(conf.read_text())
    hostile = dict(env, PIP_EXTRA_INDEX_URL=evil_index, PIP_FIND_LINKS=str(evil),
                   PIP_CONFIG_FILE=str(conf), HOME=str(home), PIP_PRE="1")

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
        yield Rack(tmp, env, wheels, index_url, Target(venv / "bin" / "python"), version_file,
                   hostile, marker)
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


def test_index_lists_our_releases_only(rack: Rack) -> None:
    """The foreign `racker` 0.4.0 sits on the same index and in the same folder: never listed."""
    expected = [("1.0.0", True), ("1.0.1", True), (SDIST_ONLY, False), ("1.1.0", True)]
    got = list_releases(PackageIndex(rack.index_url, False, "test"))
    assert [(str(r.version), r.wheel) for r in got] == expected
    assert all(r.requires_python == ">=3.8" for r in got)
    folder = list_releases(PackageIndex(str(rack.wheels), True, "test"))
    assert [(str(r.version), r.wheel) for r in folder] == expected


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
    assert "available versions: 1.1.0, 1.0.2, 1.0.1, 1.0.0" in text
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
    assert [str(r.version) for r in list_releases(on_disk)] == ["1.0.0", "1.0.1", SDIST_ONLY,
                                                                "1.1.0"]

    state = tmp_path / "state"
    state.mkdir()
    with pytest.raises(RackerError, match="no package index is configured") as exc:
        configured_index(state, env={})
    assert str(state / "package-index") in str(exc.value)
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


def _pip_version(rack: Rack, dist: str) -> str:
    out = subprocess.run([str(rack.target.python), "-c",
                          f"import importlib.metadata as m; print(m.version({dist!r}))"],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def _other(rack: Rack) -> str:
    """A release of ours that is not the installed one (tests below do not depend on order)."""
    return "1.0.0" if _script_version(rack) != "1.0.0" else "1.0.1"


def test_foreign_racker_is_never_chosen(rack: Rack) -> None:
    """PyPI's `racker` 0.4.0 is on the index (and in the folder): `get 0.4.0` does not find it,
    and an update with no recorded version takes our newest release, not the foreign one."""
    for index in (PackageIndex(rack.index_url, False, "test"),
                  PackageIndex(str(rack.wheels), True, "test")):
        with pytest.raises(InputError, match=r"racker version 0\.4\.0 was not found"):
            _change(rack, ChangeRequest(Mode.GET, "0.4.0"), index=index)
    assert "foreign" not in _script_version(rack)
    rack.version_file.unlink(missing_ok=True)
    _change(rack, ChangeRequest(Mode.GET, _other(rack)))
    rack.version_file.unlink()
    rc, lines, _ = _change(rack, ChangeRequest(Mode.UPDATE))
    assert rc == 0
    assert lines[1] == "Install racker 1.1.0 (the newest release)"
    assert _script_version(rack) == "1.1.0"
    assert _pip_version(rack, "racker-baremetal") == "1.1.0"
    listed = subprocess.run([str(rack.target.python), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True, timeout=60,
                            env=rack.env).stdout
    assert "racker==" not in listed.splitlines()


@pytest.mark.parametrize("find_links", [False, True])
def test_callers_pip_settings_have_no_effect(rack: Rack, find_links: bool) -> None:
    """PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_CONFIG_FILE and the user's pip.conf all offer
    racker-standin-dep 9.0.0; the dependency pip must fetch comes from racker's index alone."""
    subprocess.run([str(rack.target.python), "-m", "pip", "uninstall", "-q", "-y",
                    "racker-standin-dep"], check=True, env=rack.env, timeout=120)
    want = _other(rack)
    index = (PackageIndex(str(rack.wheels), True, "test") if find_links
             else PackageIndex(rack.index_url, False, "test"))
    lines: list[str] = []
    rc = change_version(ChangeRequest(Mode.GET, want), rack.target, index, rack.version_file,
                        lambda q: True, lines.append, env=rack.hostile_env)
    assert rc == 0, lines
    assert _script_version(rack) == want
    assert _pip_version(rack, "racker-standin-dep") == "1.0.0"
    if find_links:  # a folder publishes no hashes: racker says what it could and could not check
        assert any("sha256" in ln and "computed" in ln and "SHA256SUMS" in ln for ln in lines)
    else:
        assert any("matches the index" in ln for ln in lines)


def _bad_index(rack: Rack, tmp: Path, sha: str | None) -> PackageIndex:
    """A file:// copy of the index whose page gives `sha` (None: no hash) for every wheel."""
    page = tmp / "simple" / "racker-baremetal" / "index.html"
    page.parent.mkdir(parents=True)
    frag = f"#sha256={sha}" if sha else ""
    page.write_text("".join(f'<a href="{f.as_uri()}{frag}">{f.name}</a>\n'
                            for f in sorted(rack.wheels.glob("racker_baremetal-*.whl"))))
    return PackageIndex((tmp / "simple").as_uri() + "/", False, "test")


def _recording(calls: list[list[str]]) -> Runner:
    def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        proc: subprocess.CompletedProcess[str] = subprocess.run(argv, **kw)
        return proc
    return run


@pytest.mark.parametrize(("sha", "text"), [
    ("0" * 64, "does not match the sha256 that file://"),
    (None, "the index publishes no sha256 for racker_baremetal-"),
])
def test_wrong_or_missing_sha256_is_refused_before_installing(
        rack: Rack, tmp_path: Path, sha: str | None, text: str) -> None:
    before = _script_version(rack)
    want = _other(rack)
    calls: list[list[str]] = []
    with pytest.raises(RackerError, match=text):
        change_version(ChangeRequest(Mode.GET, want), rack.target, _bad_index(rack, tmp_path, sha),
                       rack.version_file, lambda q: True, lambda s: None, env=rack.env,
                       run=_recording(calls))
    assert _script_version(rack) == before
    assert not any("pip" in argv for argv in calls), calls  # pip never ran


def test_source_only_release_is_never_built(rack: Rack) -> None:
    _change(rack, ChangeRequest(Mode.GET, "1.0.1"))
    rc, lines, _ = _change(rack, ChangeRequest(Mode.UPDATE))
    assert rc == 0
    assert lines == ["racker 1.0.1 is already the newest release of series 1.0; nothing to do"]
    for index in (PackageIndex(rack.index_url, False, "test"),
                  PackageIndex(str(rack.wheels), True, "test")):
        with pytest.raises(RackerError, match=f"racker {SDIST_ONLY} is on .* only as a source "
                                              "archive") as exc:
            _change(rack, ChangeRequest(Mode.GET, SDIST_ONLY), index=index)
        assert "setup.py as root" in str(exc.value)
    assert _script_version(rack) == "1.0.1"
    assert not rack.marker.exists()
