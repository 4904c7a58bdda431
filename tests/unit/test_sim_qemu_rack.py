"""The QEMU settings a rack keeps between `racker-sim create` and its daemon."""

from __future__ import annotations

from pathlib import Path

from racker.sim.qemu_rack import CONFIG_FILE, QemuRack, forget, load, remove_disks


def test_settings_round_trip_and_disk_names(tmp_path: Path) -> None:
    cfg = QemuRack("r1", Path("/c/testos-ab"), tmp_path / "disks", "tcg")
    assert load(tmp_path) is None  # a lite rack
    (tmp_path / CONFIG_FILE).write_text(cfg.to_json())
    assert load(tmp_path) == cfg
    assert cfg.disk("node2") == tmp_path / "disks" / "r1-node2.raw"
    forget(tmp_path)
    assert load(tmp_path) is None


def test_remove_disks_only_touches_this_racks_disks(tmp_path: Path) -> None:
    disks = tmp_path / "disks"
    disks.mkdir()
    for name in ("r1-node1.raw", "r1-node2.raw", "r2-node1.raw", "notes.txt"):
        (disks / name).write_bytes(b"x")
    (tmp_path / CONFIG_FILE).write_text(QemuRack("r1", Path("/c"), disks, "kvm").to_json())
    remove_disks(tmp_path)
    assert sorted(p.name for p in disks.iterdir()) == ["notes.txt", "r2-node1.raw"]
