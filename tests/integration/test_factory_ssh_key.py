"""`racker factory gen-ssh-key` with the real ssh-keygen: a passwordless RSA key, printed once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from racker.cli.main import main
from tests.conftest import require_tool
from tests.rackfixtures import write_rack


def test_gen_ssh_key_creates_passwordless_rsa_key_and_prints_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    keygen = require_tool("ssh-keygen")
    env = write_rack(tmp_path, 1)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["factory", "gen-ssh-key"]) == 0
    out = capsys.readouterr().out
    key = Path(env["HOME"]) / ".ssh" / "id_rsa"
    private = key.read_text()
    assert out.endswith("\nPrivate key:\n\n" + private)
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert key.stat().st_mode & 0o077 == 0
    assert (key.parent.stat().st_mode & 0o777) == 0o700
    # no passphrase: deriving the public key with an empty passphrase works and matches .pub
    derived = subprocess.run([keygen, "-y", "-P", "", "-f", str(key)], capture_output=True,
                             text=True, check=True).stdout.split()[:2]
    public = (key.parent / "id_rsa.pub").read_text().split()[:2]
    assert derived == public and public[0] == "ssh-rsa"

    # a second run never overwrites the key
    assert main(["factory", "gen-ssh-key"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert key.read_text() == private
