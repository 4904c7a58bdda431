"""The chosen wheel is copied or downloaded into a private folder and its sha256 checked before
pip sees it (httpx MockTransport stands in for the index)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from packaging.version import Version

from racker.adapters.packageindex import PackageIndex
from racker.adapters.wheelfetch import fetch_wheel
from racker.core.releases import DistFile
from racker.errors import RackerError

NAME = "racker_baremetal-1.0.1-py3-none-any.whl"
BODY = b"PK\x03\x04 stand-in wheel bytes"
SHA = hashlib.sha256(BODY).hexdigest()
URL = "https://deploy:tok@pypi.example/files/" + NAME


def _client(body: bytes = BODY, status: int = 200) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")  # token from the URL
        return httpx.Response(status, content=body)
    return httpx.Client(transport=httpx.MockTransport(handler))


def _file(sha: str | None = SHA, url: str = URL, name: str = NAME) -> DistFile:
    return DistFile(name, url, Version("1.0.1"), sha256=sha)


INDEX = PackageIndex("https://deploy:tok@pypi.example/simple/", False, "test")


def test_download_with_matching_hash(tmp_path: Path) -> None:
    got = fetch_wheel(INDEX, _file(), tmp_path, client=_client())
    assert got.path == tmp_path / NAME and got.path.read_bytes() == BODY
    assert got.sha256 == SHA
    assert got.note == f"✓ {NAME}: sha256 {SHA} matches the index"


def test_download_with_wrong_hash_is_removed_and_refused(tmp_path: Path) -> None:
    with pytest.raises(RackerError) as exc:
        fetch_wheel(INDEX, _file(), tmp_path, client=_client(b"tampered"))
    text = str(exc.value)
    assert f"{NAME} does not match the sha256 that https://***@pypi.example/simple/" in text
    assert "deploy:tok" not in text
    assert "nothing was installed" in text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("file", "text"), [
    (_file(sha=None), "publishes no sha256"),
    (_file(url="file:///srv/" + NAME), "links racker_baremetal-1.0.1-py3-none-any.whl to a file"),
    (_file(name="../../etc/x.whl"), "is not a wheel file name"),
])
def test_refusals(tmp_path: Path, file: DistFile, text: str) -> None:
    with pytest.raises(RackerError, match=text):
        fetch_wheel(INDEX, file, tmp_path, client=_client())
    assert list(tmp_path.iterdir()) == []


def test_http_error_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RackerError, match="answered HTTP 404"):
        fetch_wheel(INDEX, _file(), tmp_path, client=_client(status=404))
    assert list(tmp_path.iterdir()) == []


def test_file_index(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / NAME).write_bytes(BODY)
    index = PackageIndex((tmp_path / "simple").as_uri() + "/", False, "test")
    out = tmp_path / "private"
    out.mkdir()
    got = fetch_wheel(index, _file(url=(tmp_path / "files" / NAME).as_uri()), out)
    assert got.path.read_bytes() == BODY
    other = tmp_path / "private2"
    other.mkdir()
    with pytest.raises(RackerError, match="does not match"):
        fetch_wheel(index, _file(sha="1" * 64, url=(tmp_path / "files" / NAME).as_uri()), other)
    assert list(other.iterdir()) == []


@pytest.mark.parametrize(("sums", "result"), [
    (None, f"🛈 {NAME}: sha256 {SHA} (computed; "),
    (f"{SHA}  {NAME}\n", f"✓ {NAME}: sha256 {SHA} matches "),
    (f"{SHA.upper()} *{NAME}\n", f"✓ {NAME}: sha256 {SHA} matches "),
    (f"{'2' * 64}  {NAME}\n", "does not match its sha256 in"),
    (f"{SHA}  other.whl\n", f"lists no sha256 for {NAME}"),
])
def test_find_links_folder(tmp_path: Path, sums: str | None, result: str) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / NAME).write_bytes(BODY)
    if sums is not None:
        (folder / "SHA256SUMS").write_text(sums)
    out = tmp_path / "private"
    out.mkdir()
    index = PackageIndex(str(folder), True, "test")
    if result.startswith(("✓", "🛈")):
        got = fetch_wheel(index, _file(sha=None, url=str(folder / NAME)), out)
        assert got.note.startswith(result)
        assert got.path.read_bytes() == BODY
    else:
        with pytest.raises(RackerError, match=result):
            fetch_wheel(index, _file(sha=None, url=str(folder / NAME)), out)
        assert list(out.iterdir()) == []
