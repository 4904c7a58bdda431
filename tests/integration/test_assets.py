"""Flatcar asset download and verification against a signed mirror served over loopback."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from racker.adapters.assets import (
    FLATCAR_KEY_FINGERPRINT,
    IMAGE_FILES,
    AssetError,
    DirSource,
    HttpSource,
    Verifier,
    bundled_key,
    install_flatcar,
    release_number,
    stop_gpg_agent,
)
from racker.sim.mirror.build import SigningKey, build_release, sim_signing_key
from tests.conftest import require_tool

CONTENTS = {name: f"{name} payload ".encode() * 1000 for name in IMAGE_FILES}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    require_tool("gpg")
    return sim_signing_key(tmp_path_factory.mktemp("simkey"))


@pytest.fixture
def mirror(tmp_path: Path, key: SigningKey) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "mirror"
    build_release(root, key, channel="stable", version="3510.2.6", contents=CONTENTS)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/stable/amd64-usr"
    finally:
        server.shutdown()
        server.server_close()


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_bundled_key_is_the_flatcar_key_and_the_verifier_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("gpg")
    # NOTE: a temporary folder of this test's own: another racker on the machine (a second
    # suite) makes and removes its own verifiers' folders in /tmp meanwhile
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with Verifier(bundled_key()) as v:
        assert v.fingerprint == FLATCAR_KEY_FINGERPRINT
        home = str(v._home)
    assert Path(home).parent == temp and not Path(home).exists()
    assert _processes_mentioning(home) == []  # its gpg-agent is stopped too
    garbage = tmp_path / "garbage.asc"
    garbage.write_text("not a key\n")
    with pytest.raises(AssetError):
        Verifier(garbage)
    assert list(temp.iterdir()) == []


def test_bundled_key_carries_the_signing_subkey_of_2025_with_a_good_binding(
        tmp_path: Path) -> None:
    """Flatcar signs releases since 2025-03-07 with subkey 1EF52974 (until 2027-03-08): a
    key without it fails every current release with 'No public key'."""
    require_tool("gpg")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)

    def gpg(*args: str) -> str:
        return subprocess.run(["gpg", "--homedir", str(home), "--batch", *args],
                              capture_output=True, text=True, check=True).stdout

    try:
        gpg("--import", str(bundled_key()))
        subkeys = {f[4]: f for f in (line.split(":") for line in
                                     gpg("--list-keys", "--with-colons").splitlines())
                   if f[0] == "sub"}
        checked = gpg("--check-sigs", "--list-options", "show-unusable-subkeys",
                      FLATCAR_KEY_FINGERPRINT)
    finally:
        stop_gpg_agent(home)
    active = subkeys["32DA80F91EF52974"]
    assert (active[5], active[6], active[11]) == ("1741370042", "1804528442", "s")
    assert "sig-" not in checked and checked.count("sig!") >= len(subkeys)


def test_download_verify_install_and_skip_when_up_to_date(
    tmp_path: Path, key: SigningKey, mirror: tuple[Path, str]
) -> None:
    _, url = mirror
    assets = tmp_path / "assets"
    first = install_flatcar(assets, HttpSource(url), key_file=key.public_key,
                            fingerprint=key.fingerprint)
    assert first.version == "3510.2.6" and first.fetched
    current = assets / "flatcar" / "current"
    assert os.readlink(current) == "3510.2.6"
    for name in IMAGE_FILES:
        assert (current / name).read_bytes() == CONTENTS[name]
        assert (current / f"{name}.sig").exists()
    assert "FLATCAR_VERSION=3510.2.6" in (current / "version.txt").read_text()
    again = install_flatcar(assets, HttpSource(url), key_file=key.public_key,
                            fingerprint=key.fingerprint)
    assert not again.fetched
    assert not [p for p in (assets / "flatcar").iterdir() if p.name.startswith(".")]


def test_tampered_file_is_refused_and_nothing_installed(
    tmp_path: Path, key: SigningKey, mirror: tuple[Path, str]
) -> None:
    root, url = mirror
    target = root / "stable" / "amd64-usr" / "3510.2.6" / "flatcar_production_pxe_image.cpio.gz"
    target.write_bytes(target.read_bytes() + b"evil")
    assets = tmp_path / "assets"
    with pytest.raises(AssetError, match="bad or missing signature"):
        install_flatcar(assets, HttpSource(url), key_file=key.public_key,
                        fingerprint=key.fingerprint)
    assert list((assets / "flatcar").iterdir()) == []


def test_signature_by_another_key_is_refused(
    tmp_path: Path, key: SigningKey, mirror: tuple[Path, str]
) -> None:
    _, url = mirror
    with pytest.raises(AssetError, match="bad or missing signature"):
        install_flatcar(tmp_path / "assets", HttpSource(url))  # bundled Flatcar key


def test_wrong_fingerprint_for_key_file(tmp_path: Path, key: SigningKey) -> None:
    with pytest.raises(AssetError, match="the key is not"):
        Verifier(key.public_key, FLATCAR_KEY_FINGERPRINT)


def test_unknown_version_names_the_url(tmp_path: Path, key: SigningKey,
                                       mirror: tuple[Path, str]) -> None:
    _, url = mirror
    with pytest.raises(AssetError, match=r"9999\.0\.0/version\.txt does not exist"):
        install_flatcar(tmp_path / "assets", HttpSource(url), version="9999.0.0",
                        key_file=key.public_key, fingerprint=key.fingerprint)


def test_offline_install_from_a_folder(tmp_path: Path, key: SigningKey,
                                       mirror: tuple[Path, str]) -> None:
    root, _ = mirror
    got = install_flatcar(tmp_path / "assets", DirSource(root / "stable" / "amd64-usr"),
                          key_file=key.public_key, fingerprint=key.fingerprint)
    assert got.version == "3510.2.6" and got.fetched


def test_an_older_current_release_is_refused_unless_pinned(
    tmp_path: Path, key: SigningKey, mirror: tuple[Path, str]
) -> None:
    root, url = mirror
    assets = tmp_path / "assets"
    install_flatcar(assets, HttpSource(url), key_file=key.public_key, fingerprint=key.fingerprint)
    # the mirror now says `current` is an older (validly signed) release
    build_release(root, key, channel="stable", version="3374.2.0", contents=CONTENTS)
    with pytest.raises(AssetError) as e:
        install_flatcar(assets, HttpSource(url), key_file=key.public_key,
                        fingerprint=key.fingerprint)
    assert "3374.2.0, older than 3510.2.6" in e.value.message
    assert e.value.hint is not None and "RACKER_FLATCAR_VERSION=3374.2.0" in e.value.hint
    assert os.readlink(assets / "flatcar" / "current") == "3510.2.6"  # nothing changed
    assert not (assets / "flatcar" / "3374.2.0").exists()
    # pinned: the operator goes back on purpose
    back = install_flatcar(assets, HttpSource(url), version="3374.2.0",
                           key_file=key.public_key, fingerprint=key.fingerprint)
    assert back.version == "3374.2.0" and os.readlink(assets / "flatcar" / "current") == "3374.2.0"
    # and a newer release is taken as before
    build_release(root, key, channel="stable", version="3602.1.0", contents=CONTENTS)
    newer = install_flatcar(assets, HttpSource(url), key_file=key.public_key,
                            fingerprint=key.fingerprint)
    assert newer.version == "3602.1.0" and newer.fetched


@pytest.mark.parametrize(("text", "number"), [
    ("3510.2.6", (3510, 2, 6)), ("9999.0.0", (9999, 0, 0)), ("1", (1,)),
    ("3510.2.6-rc", None), ("", None), ("3510..2", None)])
def test_release_number(text: str, number: tuple[int, ...] | None) -> None:
    assert release_number(text) == number


def test_the_downloads_of_a_release_share_one_connection(tmp_path: Path, key: SigningKey) -> None:
    """Every file of a release over one kept-alive connection (one client for the process:
    a client per download built a TLS context each time)."""
    root = tmp_path / "mirror"
    build_release(root, key, channel="stable", version="3510.2.6", contents=CONTENTS)
    connections: list[int] = []

    class KeepAlive(QuietHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            connections.append(self.client_address[1])
            super().setup()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(KeepAlive, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/stable/amd64-usr"
        done = install_flatcar(tmp_path / "assets", HttpSource(url), key_file=key.public_key,
                               fingerprint=key.fingerprint)
    finally:
        server.shutdown()
        server.server_close()
    assert done.fetched
    assert len(connections) == 1, connections
