"""The missing-password hint is a command that works: run by bash, it writes the file with mode
0600 from what is typed, and racker then reads the password from it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from racker.adapters.fs.credentials import load_credentials
from racker.errors import InputError
from racker.paths import Paths
from tests.conftest import require_tool


def test_the_missing_password_hint_writes_a_0600_file(tmp_path: Path) -> None:
    bash = require_tool("bash")
    oem = tmp_path / "o'em dir"  # a quote and a space in the path must survive
    oem.mkdir()
    (oem / "ipmi_user").write_text("admin\n")
    paths = Paths.from_env({"RACKER_OEM_DIR": str(oem), "HOME": str(tmp_path)})
    with pytest.raises(InputError) as e:
        load_credentials(paths)
    hint = e.value.hint or ""
    assert "s3cret" not in hint and "echo VALUE" not in hint
    command = hint.split("history): ", 1)[1].removeprefix("sudo ")
    assert command.startswith("bash -c ")
    run = subprocess.run([bash, "-c", command],  # as the operator's shell reads it
                         input="s3cret pass\n", text=True, capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "s3cret" not in run.stdout + run.stderr  # typed, not echoed
    pw = oem / "ipmi_password"
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    assert load_credentials(paths).password == "s3cret pass"
