"""`racker factory gen-ssh-key` with the real ssh-keygen: a passwordless ed25519 key; its path,
public key and fingerprint on stdout, the private key only on request and only to a terminal;
an existing RSA key of an older racker stays racker's key everywhere."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from racker.app.configuration.create import configure
from racker.cli.cmd_factory import cmd_gen_ssh_key
from racker.cli.main import main
from racker.core.render.flatcar import flatcar_tf
from racker.model import Options, Provision
from racker.paths import Paths
from tests.conftest import require_tool
from tests.rackfixtures import write_rack


def _rack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = write_rack(tmp_path, 1)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return Path(env["HOME"]) / ".ssh" / "id_ed25519"


def test_gen_ssh_key_creates_passwordless_ed25519_key_and_shows_only_the_public_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    keygen = require_tool("ssh-keygen")
    key = _rack(tmp_path, monkeypatch)
    assert main(["factory", "gen-ssh-key"]) == 0
    out = capsys.readouterr().out
    private = key.read_text()
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "PRIVATE KEY" not in out and private.splitlines()[1] not in out
    public = (key.parent / "id_ed25519.pub").read_text().strip()
    assert f"✓ Created the SSH key {key} (no passphrase)" in out
    assert f"Public key:\n{public}\n" in out
    listed = subprocess.run([keygen, "-l", "-f", str(key.parent / "id_ed25519.pub")],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert f"Fingerprint: {listed}\n" in out and listed.startswith("SHA256:")
    assert key.stat().st_mode & 0o077 == 0
    assert (key.parent.stat().st_mode & 0o777) == 0o700
    # no passphrase: deriving the public key with an empty passphrase works and matches .pub
    derived = subprocess.run([keygen, "-y", "-P", "", "-f", str(key)], capture_output=True,
                             text=True, check=True).stdout.split()[:2]
    assert derived == public.split()[:2] and derived[0] == "ssh-ed25519"

    # a second run never overwrites the key
    assert main(["factory", "gen-ssh-key"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert key.read_text() == private


def test_private_key_is_refused_when_stdout_is_no_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = _rack(tmp_path, monkeypatch)
    assert main(["factory", "gen-ssh-key", "-print-private-key"]) == 2  # capsys: no terminal
    captured = capsys.readouterr()
    assert ("flag -print-private-key: refusing to print the private key: stdout is not a "
            "terminal") in captured.err
    assert captured.out == "" and not key.exists()  # refused before the key was made


def test_private_key_is_printed_to_a_terminal_on_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("ssh-keygen")
    key = _rack(tmp_path, monkeypatch)
    assert cmd_gen_ssh_key(["--print-private-key"], stdout_is_tty=True) == 0
    out = capsys.readouterr().out
    assert out.endswith("\nPrivate key:\n\n" + key.read_text())
    assert "Fingerprint: SHA256:" in out


def test_an_existing_rsa_key_stays_rackers_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    keygen = require_tool("ssh-keygen")
    ed25519 = _rack(tmp_path, monkeypatch)
    rsa = ed25519.with_name("id_rsa")
    rsa.parent.mkdir(mode=0o700)
    subprocess.run([keygen, "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)],
                   check=True)
    assert main(["factory", "gen-ssh-key"]) == 2  # racker's key exists: the RSA one
    assert f"{rsa}" in capsys.readouterr().err and not ed25519.exists()
    paths = Paths.from_env()
    assert (paths.ssh_key, paths.ssh_public_key) == (rsa, rsa.with_name("id_rsa.pub"))
    # the rendered Terraform configuration and racker apply's ssh client use it
    configure(paths, Options(provision=Provision.FLATCAR), render_only=True)
    assert 'file(pathexpand("~/.ssh/id_rsa.pub"))' in (
        paths.flatcar_dir / "flatcar.tf").read_text()
    # RACKER_SSH_KEY names another key for everything
    other = tmp_path / "keys" / "rack"
    monkeypatch.setenv("RACKER_SSH_KEY", str(other))
    assert main(["factory", "gen-ssh-key"]) == 0
    assert (other.parent / "rack.pub").read_text().startswith("ssh-ed25519 ")
    assert Paths.from_env().ssh_public_key == other.parent / "rack.pub"
    assert f'file(pathexpand("{other}.pub"))' in flatcar_tf(Paths.from_env())
