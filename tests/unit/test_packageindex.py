"""Where the package index comes from, and how pip is called (no pip run here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from racker.adapters.packageindex import PackageIndex, Target, configured_index, pip_command
from racker.cli.main import main
from racker.errors import InputError, RackerError

TOKEN_URL = "https://deploy:s3cr3t@pypi.example.internal/simple/"


@pytest.mark.parametrize("file_text", [None, "", "# a comment only\n\n"])
def test_no_index_configured_is_an_error_saying_how(tmp_path: Path,
                                                   file_text: str | None) -> None:
    if file_text is not None:
        (tmp_path / "package-index").write_text(file_text)
    # pip's own settings do not count as racker's index
    env = {"PIP_INDEX_URL": "https://pypi.org/simple/", "PIP_EXTRA_INDEX_URL": "https://x/"}
    with pytest.raises(RackerError) as exc:
        configured_index(tmp_path, env=env)
    text = str(exc.value)
    assert "no package index is configured for racker's releases" in text
    for way in ("-index URL|DIR", "RACKER_PACKAGE_INDEX", str(tmp_path / "package-index")):
        assert way in text


def test_cli_update_without_index_exits_with_the_hint(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RACKER_PACKAGE_INDEX", raising=False)
    monkeypatch.setenv("RACKER_STATE_DIR", str(tmp_path))
    for command in (["update"], ["upgrade", "-y"], ["get", "0.4.0"]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "no package index is configured" in err and "RACKER_PACKAGE_INDEX" in err
        assert "Traceback" not in err


def test_pip_runs_isolated_with_the_token_only_in_its_environment() -> None:
    caller = {"PATH": "/usr/bin", "HOME": "/root", "PIP_EXTRA_INDEX_URL": "https://evil/simple/",
              "PIP_FIND_LINKS": "/opt/wheels", "PIP_CONFIG_FILE": "/root/pip.conf",
              "PIP_NO_BINARY": ":all:", "PIP_INDEX_URL": "https://other/simple/"}
    target = Target(Path("/opt/racker/venv/bin/python"))
    wheel = Path("/tmp/racker-update-x/racker_baremetal-1.0.1-py3-none-any.whl")
    argv, env = pip_command(target, wheel, PackageIndex(TOKEN_URL, False, "test"), caller)
    assert argv == ["/opt/racker/venv/bin/python", "-I", "-m", "pip", "install",
                    "--disable-pip-version-check", "--no-input", "-q", "--only-binary=:all:",
                    str(wheel)]
    assert {k: v for k, v in env.items() if k.startswith("PIP_")} == {
        "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": TOKEN_URL}
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/root"
    assert not any("s3cr3t" in a for a in argv)


def test_pip_from_a_folder_uses_no_index() -> None:
    target = Target(Path(sys.executable))
    wheel = Path("/tmp/w/racker_baremetal-1.0.1-py3-none-any.whl")
    argv, env = pip_command(target, wheel, PackageIndex("/srv/wheels", True, "test"),
                            {"PIP_INDEX_URL": "https://evil/simple/"})
    assert argv[-4:] == ["--no-index", "--find-links", "/srv/wheels", str(wheel)]
    assert env == {"PIP_CONFIG_FILE": os.devnull}


@pytest.mark.parametrize("url", [
    "http://deploy:s3cr3t@pypi.example.internal/simple/",
    "http://deploy:s3/cr@t@pypi.example.internal/simple/",  # unencoded '/' and '@'
    "http://s3cr3t@pypi.example.internal/simple/",
    "http://pypi.example.internal/simple/?token=s3cr3t",
])
def test_credentials_over_plain_http_are_refused_redacted(tmp_path: Path, url: str) -> None:
    for env, where in (({"RACKER_PACKAGE_INDEX": url}, "RACKER_PACKAGE_INDEX"),
                       ({}, str(tmp_path / "package-index"))):
        (tmp_path / "package-index").write_text(url + "\n")
        with pytest.raises(InputError) as exc:
            configured_index(tmp_path, env=env)
        text = str(exc.value)
        assert "would send its credentials over plain HTTP" in text and "https://" in text
        assert "s3cr3t" not in text and "cr@t" not in text and where in text
    with pytest.raises(InputError):
        configured_index(tmp_path, flag=url, env={})


@pytest.mark.parametrize("url", ["http://pypi.example.internal/simple/", TOKEN_URL])
def test_plain_http_without_credentials_and_https_with_them_are_taken(tmp_path: Path,
                                                                      url: str) -> None:
    assert configured_index(tmp_path, flag=url, env={}).location == url
