"""BMC credential files: values, and errors that name the file and say what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from racker.adapters.fs.credentials import load_credentials
from racker.errors import InputError
from racker.paths import Paths
from tests.rackfixtures import IPMI_PASSWORD, IPMI_USER, write_rack


def _paths(tmp_path: Path) -> Paths:
    return Paths.from_env(write_rack(tmp_path, 1))


def test_fixture_credentials(tmp_path: Path) -> None:
    c = load_credentials(_paths(tmp_path))
    assert (c.user, c.password) == (IPMI_USER, IPMI_PASSWORD)
    assert IPMI_PASSWORD not in repr(c)


def test_password_keeps_inner_and_edge_spaces_but_not_newline(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    p.ipmi_password_file.write_text(" pass word \r\n")
    assert load_credentials(p).password == " pass word "


@pytest.mark.parametrize(
    ("file", "action", "words", "hint"),
    [
        ("ipmi_user", "delete", "IPMI user file is missing", "tee"),
        ("ipmi_password", "delete", "IPMI password file is missing", "umask 077"),
        ("ipmi_user", "empty", "IPMI user file is empty", "tee"),
        ("ipmi_password", "empty", "IPMI password file is empty", "umask 077"),
        ("ipmi_password", "blank", "IPMI password file is empty", "umask 077"),
        ("ipmi_password", "0644", "accessible by group or others (mode 0644)", "chmod 600"),
        ("ipmi_password", "0640", "accessible by group or others (mode 0640)", "chmod 600"),
        ("ipmi_password", "0604", "accessible by group or others", "chmod 600"),
        ("ipmi_password", "twolines", "more than one line", "first line"),
        ("ipmi_user", "dir", "is a directory", "remove"),
    ],
)
def test_bad_credential_files(tmp_path: Path, file: str, action: str, words: str,
                              hint: str) -> None:
    p = _paths(tmp_path)
    f = p.oem_dir / file
    if action == "delete":
        f.unlink()
    elif action == "empty":
        f.write_text("")
    elif action == "blank":
        f.write_text("  \n")
    elif action == "twolines":
        f.write_text("a\nb\n")
    elif action == "dir":
        f.unlink()
        f.mkdir()
    else:
        os.chmod(f, int(action, 8))
    with pytest.raises(InputError) as e:
        load_credentials(p)
    assert words in e.value.message
    assert e.value.where is not None and e.value.where.file == str(f)
    assert e.value.hint is not None and hint in e.value.hint
    assert str(f) in str(e.value)
    assert IPMI_PASSWORD not in str(e.value)
