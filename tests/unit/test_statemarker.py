"""`racker uninstall -purge` removes only a folder that `racker install` marked as its state."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.adapters.fs.statemarker import MARKER_NAME, is_marked
from racker.app.install import Layout, install, uninstall
from racker.errors import InputError


def _layout(root: Path, state_dir: str = "/opt/racker-state") -> Layout:
    # root is a folder, not '/': systemctl is never called
    return Layout(venv=Path("/opt/racker/venv"), state_dir=Path(state_dir),
                  version_file=Path("/opt/racker/RACKER_VERSION"), bin_dir=Path("/opt/bin"),
                  root=root)


def test_install_marks_the_state_folder_and_purge_removes_it(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    out = install(layout, "1.0.0").lines
    state = tmp_path / "opt/racker-state"
    assert is_marked(state) and f"✓ Wrote /opt/racker-state/{MARKER_NAME}" in out
    assert install(layout, "1.0.0").lines[0] == "✓ Racker is installed; nothing changed"
    report = uninstall(layout, purge=True)
    assert not state.exists() and "✓ Removed racker's state /opt/racker-state" in report.lines


@pytest.mark.parametrize("state_dir", ["/var/lib", "/srv/data/racker"])
def test_purge_refuses_a_folder_without_the_marker(tmp_path: Path, state_dir: str) -> None:
    install(_layout(tmp_path), "1.0.0")  # a real installation, whose state is elsewhere
    victim = tmp_path / state_dir.lstrip("/")
    victim.mkdir(parents=True)
    (victim / "precious").write_text("keep me")
    layout = _layout(tmp_path, state_dir)
    with pytest.raises(InputError) as e:
        uninstall(layout, purge=True)
    text = str(e.value)
    assert f"refusing to remove {state_dir}: it is not a racker state folder" in text
    assert f"no {MARKER_NAME} file" in text and "hint: check RACKER_STATE_DIR" in text
    assert (victim / "precious").read_text() == "keep me"
    # refused before anything was removed: the unit, the links and the version file stay
    assert (tmp_path / "etc/systemd/system/racker-serve.service").exists()
    assert (tmp_path / "opt/bin/racker").is_symlink()
    assert (tmp_path / "opt/racker/RACKER_VERSION").exists()


def test_a_link_named_like_the_marker_does_not_count(tmp_path: Path) -> None:
    real = tmp_path / "real-marker"
    real.write_text("x")
    folder = tmp_path / "srv/data"
    folder.mkdir(parents=True)
    (folder / MARKER_NAME).symlink_to(real)
    assert not is_marked(folder)
