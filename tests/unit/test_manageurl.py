from __future__ import annotations

from pathlib import Path

from racker.adapters.fs.manageurl import read_url, remove_url, url_path, write_url


def test_the_listener_url_is_recorded_read_and_forgotten(tmp_path: Path) -> None:
    assert read_url(tmp_path) is None
    write_url(tmp_path, "http://127.0.0.1:8081")
    assert read_url(tmp_path) == "http://127.0.0.1:8081"
    assert url_path(tmp_path).stat().st_mode & 0o777 == 0o600
    remove_url(tmp_path, "http://127.0.0.1:9999")  # another listener's: kept
    assert read_url(tmp_path) == "http://127.0.0.1:8081"
    remove_url(tmp_path, "http://127.0.0.1:8081")
    assert not url_path(tmp_path).exists()


def test_anything_but_a_plain_url_is_not_echoed(tmp_path: Path) -> None:
    for text in ("file:///etc/shadow", "http://x\x1b[2J", "http://" + "a" * 300):
        url_path(tmp_path).write_text(text)
        assert read_url(tmp_path) is None, text
