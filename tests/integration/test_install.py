"""`racker install / uninstall -root DIR`: the tree, the modes, idempotence, and the unit checked
by the real `systemd-analyze verify`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from racker import __version__
from racker.app.install import UNIT_NAME, Layout, install, render_serve_unit
from racker.cli.main import main
from tests.conftest import require_tool

VENV = Path(sys.prefix)
UNIT = "etc/systemd/system/racker-serve.service"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RACKER_STATE_DIR", "RACKER_OEM_DIR", "RACKER_HOSTS_FILE",
                 "RACKER_VERSION_FILE", "RACKER_PACKAGE_INDEX", "RACKER_SSH_KEY"):
        monkeypatch.delenv(name, raising=False)


def _tree(root: Path) -> dict[str, str]:
    """Every path under root with its type and mode (and link target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = f"link {os.readlink(path)}"
        else:
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            out[rel] = f"{kind} {stat.S_IMODE(st.st_mode):04o} {st.st_uid}:{st.st_gid}"
    return out


def _racker(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_install_tree_verify_idempotent_uninstall(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    uid = os.geteuid()
    owner = "0:0" if uid == 0 else f"{uid}:{os.getegid()}"
    rc, out, err = _racker(capsys, "install", "-root", str(tmp_path))
    assert rc == 0, err
    tree = _tree(tmp_path)
    assert tree == {
        "etc": tree["etc"], "etc/systemd": tree["etc/systemd"],
        "etc/systemd/system": tree["etc/systemd/system"],
        UNIT: f"file 0644 {owner}",
        "opt": tree["opt"], "opt/bin": tree["opt/bin"],
        "opt/bin/ipmi": f"link {VENV}/bin/ipmi",
        "opt/bin/racker": f"link {VENV}/bin/racker",
        "opt/racker": tree["opt/racker"],
        "opt/racker/RACKER_VERSION": f"file 0644 {owner}",
        "opt/racker-state": f"dir 0750 {owner}",
        "opt/racker-state/.racker-state": f"file 0644 {owner}",
        "opt/racker-state/assets": f"dir 0755 {owner}",
        "opt/racker-state/dnsmasq": f"dir 0750 {owner}",
    }
    assert (tmp_path / "opt/racker/RACKER_VERSION").read_text() == f"{__version__}\n"
    unit = (tmp_path / UNIT).read_text()
    assert f'ExecStart="{VENV}/bin/racker" serve\n' in unit
    assert "Restart=always\n" in unit
    assert "After=network-online.target\n" in unit
    assert "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE" in unit
    assert "Environment=" not in unit.replace("EnvironmentFile=", "")
    assert "systemctl was not called" in out

    # the real systemd parser: errors fail, unknown keys or bad values are warnings we reject
    verify = subprocess.run([require_tool("systemd-analyze"), "verify", str(tmp_path / UNIT)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert "racker-serve.service" not in verify.stderr, verify.stderr

    # idempotent: nothing rewritten
    mtime = (tmp_path / UNIT).stat().st_mtime_ns
    rc, out, _ = _racker(capsys, "install", "--root", str(tmp_path))
    assert rc == 0
    assert out.splitlines()[0] == "✓ Racker is installed; nothing changed"
    assert _tree(tmp_path) == tree
    assert (tmp_path / UNIT).stat().st_mtime_ns == mtime

    # repairs unsafe modes and a changed unit
    os.chmod(tmp_path / "opt/racker-state", 0o777)
    (tmp_path / UNIT).write_text("[Service]\nExecStart=/bin/false\n")
    rc, out, _ = _racker(capsys, "install", "-root", str(tmp_path))
    assert "✓ Fixed /opt/racker-state: mode 0750" in out
    assert "✓ Wrote /etc/systemd/system/racker-serve.service" in out
    assert _tree(tmp_path) == tree

    # uninstall: unit and links gone, state kept
    (tmp_path / "opt/racker-state/racker.db").write_text("x")
    rc, out, _ = _racker(capsys, "uninstall", "-root", str(tmp_path))
    assert rc == 0
    assert not (tmp_path / UNIT).exists()
    assert not (tmp_path / "opt/bin/racker").is_symlink()
    assert not (tmp_path / "opt/bin/ipmi").is_symlink()
    assert (tmp_path / "opt/racker-state/racker.db").exists()
    assert "Kept racker's state in /opt/racker-state (remove it with -purge)" in out

    rc, out, _ = _racker(capsys, "uninstall", "-root", str(tmp_path), "-purge")
    assert rc == 0
    assert not (tmp_path / "opt/racker-state").exists()
    assert not (tmp_path / "opt/racker/RACKER_VERSION").exists()
    rc, out, _ = _racker(capsys, "uninstall", "-root", str(tmp_path))
    assert out.strip() == "✓ Racker is not installed; nothing to remove"


def test_path_overrides_go_into_the_unit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RACKER_STATE_DIR", "/srv/rack state")
    monkeypatch.setenv("RACKER_VERSION_FILE", "/srv/racker/VERSION")
    monkeypatch.setenv("RACKER_OEM_DIR", "/srv/oem-100%h")
    monkeypatch.setenv("RACKER_SSH_KEY", "/etc/racker/id_ed25519")
    rc, _, err = _racker(capsys, "install", "-root", str(tmp_path), "-bin-dir", "")
    assert rc == 0, err
    unit = (tmp_path / UNIT).read_text()
    assert "Environment=RACKER_SSH_KEY=/etc/racker/id_ed25519\n" in unit
    assert 'ReadWritePaths="/srv/rack state" "-/etc/hosts"\n' in unit
    assert 'Environment="RACKER_STATE_DIR=/srv/rack state"\n' in unit
    assert "Environment=RACKER_VERSION_FILE=/srv/racker/VERSION\n" in unit
    assert "Environment=RACKER_OEM_DIR=/srv/oem-100%%h\n" in unit
    assert (tmp_path / "srv/rack state/dnsmasq").is_dir()
    assert (tmp_path / "srv/racker/VERSION").read_text() == f"{__version__}\n"
    assert not (tmp_path / "opt/bin").exists()
    verify = subprocess.run([require_tool("systemd-analyze"), "verify", str(tmp_path / UNIT)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert "racker-serve.service" not in verify.stderr, verify.stderr



def test_paths_under_home_folders_pass_systemd(tmp_path: Path) -> None:
    """ProtectHome=tmpfs hides /root and /home: racker's paths there are bound in, and
    systemd's own parser accepts the binds (spaces, `%`, `:` quoted). The venv is this one
    (verify checks that ExecStart exists); tests/unit/test_install.py binds one under /root."""
    layout = Layout(venv=Path(sys.prefix), state_dir=Path("/home/ops/rack state:1"),
                    version_file=Path("/opt/racker/RACKER_VERSION"),
                    environment=(("RACKER_SSH_KEY", "/home/ops/.ssh/rack-100%h"),))
    unit = render_serve_unit(layout)
    assert "ProtectHome=tmpfs\n" in unit
    assert 'BindPaths="/home/ops/rack state:1" "-/root/flatcar-container-linux" ' in unit
    ro = next(line for line in unit.splitlines() if line.startswith("BindReadOnlyPaths="))
    assert ro.endswith(' "-/home/ops/.ssh/rack-100%%h.pub"') or \
        ro == 'BindReadOnlyPaths="-/home/ops/.ssh/rack-100%%h.pub"'  # (a venv under /root first)
    (tmp_path / UNIT_NAME).write_text(unit)
    verify = subprocess.run([require_tool("systemd-analyze"), "verify", str(tmp_path / UNIT_NAME)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert "racker-serve.service" not in verify.stderr, verify.stderr

def test_foreign_files_are_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "opt/bin").mkdir(parents=True)
    (tmp_path / "opt/bin/ipmi").write_text("#!/bin/sh\n")
    rc, out, _ = _racker(capsys, "install", "-root", str(tmp_path))
    assert rc == 0
    assert "⚠ Left /opt/bin/ipmi alone: it is not a link racker made" in out
    rc, out, _ = _racker(capsys, "uninstall", "-root", str(tmp_path))
    assert (tmp_path / "opt/bin/ipmi").read_text() == "#!/bin/sh\n"


def test_state_path_that_is_a_file_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "opt").mkdir()
    (tmp_path / "opt/racker-state").write_text("")
    rc, _, err = _racker(capsys, "install", "-root", str(tmp_path))
    assert rc == 2
    assert "exists and is not a folder" in err
    rc, _, err = _racker(capsys, "uninstall", "-root", str(tmp_path / "missing"))
    assert rc == 2 and "is not a folder" in err and "Traceback" not in err
    (tmp_path / "opt/racker-state").unlink()
    (tmp_path / "etc").write_text("")  # a file where /etc/systemd/system must go
    rc, _, err = _racker(capsys, "install", "-root", str(tmp_path))
    assert rc == 1
    assert "racker: error: " in err and "install failed: Not a directory" in err
    assert "hint: run 'sudo racker install'" in err


def test_systemctl_only_on_the_live_system(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    layout = Layout(venv=VENV, state_dir=Path("/opt/racker-state"),
                    version_file=Path("/opt/racker/RACKER_VERSION"), root=tmp_path)
    install(layout, "1.0.0", run=run)
    assert calls == []
    assert not layout.live
    assert Layout(venv=VENV, state_dir=Path("/x"), version_file=Path("/y")).live


def test_package_index_token_never_reaches_the_unit(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The unit is mode 0644: an index URL with its token must not be written into it (nor
    anywhere else `racker install` writes)."""
    monkeypatch.setenv("RACKER_PACKAGE_INDEX", "https://deploy:s3cr3t-t0ken@pypi.example/simple/")
    monkeypatch.setenv("RACKER_STATE_DIR", "/srv/state")
    rc, out, err = _racker(capsys, "install", "-root", str(tmp_path))
    assert rc == 0, err
    unit = tmp_path / UNIT
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    assert "RACKER_PACKAGE_INDEX" not in unit.read_text()
    assert "Environment=RACKER_STATE_DIR=/srv/state\n" in unit.read_text()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-t0ken" not in path.read_bytes(), path
    assert "s3cr3t-t0ken" not in out + err
    assert "RACKER_PACKAGE_INDEX was not written into racker-serve.service" in out
    assert "/srv/state/package-index (mode 0600)" in out


def test_newline_in_a_carried_setting_is_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A newline would have added `ExecStartPre=/bin/sh -c …` (run as root) to the unit."""
    monkeypatch.setenv("RACKER_OEM_DIR",
                       "/usr/share/oem\nExecStartPre=/bin/sh -c 'touch /tmp/racker-pwned'")
    rc, _, err = _racker(capsys, "install", "-root", str(tmp_path))
    assert rc == 2
    # refused where the paths are read, before anything is installed
    assert "RACKER_OEM_DIR holds a control character (U+000A)" in err
    assert not (tmp_path / "etc").exists() and not Path("/tmp/racker-pwned").exists()
    assert "Traceback" not in err
    assert not (tmp_path / UNIT).exists()


def test_install_creates_a_missing_root(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "image" / "rootfs"
    rc, _, err = _racker(capsys, "install", "-root", str(root), "-bin-dir", "")
    assert rc == 0, err
    assert (root / UNIT).is_file() and (root / "opt/racker-state").is_dir()


def test_uninstall_purge_finds_the_state_folder_the_install_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RACKER_STATE_DIR", "/srv/rack state")
    monkeypatch.setenv("RACKER_VERSION_FILE", "/srv/racker/VERSION")
    rc, _, err = _racker(capsys, "install", "-root", str(tmp_path), "-bin-dir", "")
    assert rc == 0, err
    assert (tmp_path / "srv/rack state").is_dir()
    monkeypatch.delenv("RACKER_STATE_DIR")  # not given again: the unit's record is used
    monkeypatch.delenv("RACKER_VERSION_FILE")
    rc, out, err = _racker(capsys, "uninstall", "-root", str(tmp_path), "-bin-dir", "",
                           "-purge")
    assert rc == 0, err
    assert "✓ Removed racker's state /srv/rack state" in out
    assert "✓ Removed /srv/racker/VERSION" in out
    assert not (tmp_path / "srv/rack state").exists()
    assert not (tmp_path / "srv/racker/VERSION").exists() and not (tmp_path / UNIT).exists()
