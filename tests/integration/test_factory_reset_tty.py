"""`racker factory reset` on a real pseudo-terminal: the operator is asked before anything goes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from tests.rackfixtures import HEADER, write_rack


def _spawn(env: dict[str, str], *args: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "racker", "factory", "reset", *args],
                         env={**os.environ, **env}, encoding="utf-8", timeout=20)


@pytest.mark.parametrize(("answer", "reset"), [("y", True), ("n", False), ("", False)])
def test_reset_asks_on_the_terminal(tmp_path: Path, answer: str, reset: bool) -> None:
    env = write_rack(tmp_path, 2)
    version = Path(env["RACKER_VERSION_FILE"])
    version.parent.mkdir(parents=True)
    version.write_text("v0.3\n")
    child = _spawn(env, "-racker-version", "-nodes")
    child.expect_exact("This will reset the version information from racker (currently v0.3)")
    child.expect_exact(f"This will reset the nodes file ({env['RACKER_OEM_DIR']}/nodes.csv)")
    child.expect_exact("Are you sure? (y/N)")
    child.sendline(answer)
    if reset:
        child.expect_exact("✓ Racker version reset")
        child.expect_exact("✓ Nodes file reset")
    else:
        child.expect_exact("× Reset not confirmed; doing nothing.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    nodes = (Path(env["RACKER_OEM_DIR"]) / "nodes.csv").read_text()
    assert (nodes == HEADER + "\n") is reset
    assert version.exists() is not reset
    assert Path(env["RACKER_STATE_DIR"]).exists() is not reset
