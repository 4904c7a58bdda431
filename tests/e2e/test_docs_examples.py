"""The user guide's ```sh sim examples run inside a simulated, bootstrapped rack."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.docs_blocks import blocks
from tests.e2e.simrack import BIN, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]


def test_sim_examples_run(tmp_path: Path) -> None:
    examples = blocks("sh sim")
    assert len(examples) >= 3
    with sim_rack(tmp_path, 2) as rack:
        r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        for md, text in examples:  # in document order
            script = f"export PATH={BIN}:$PATH USE_TTY=0 USE_STDIN=0\nset -e\n{text}"
            argv = rack.racker_argv()[:-1]  # racker-sim exec NAME -- env SETTINGS
            run = subprocess.run([*argv, "sh", "-c", script], env=rack.env, text=True,
                                 capture_output=True, timeout=120, check=False)
            out = run.stdout + run.stderr
            assert run.returncode == 0, f"{md.name}:\n{text}\n{out}"
            assert "Traceback" not in out


def test_the_simulator_page_runs_as_written(tmp_path: Path) -> None:
    """docs/simulator.md's session, run on the host as written, with a rack name and folder of
    this test's own (rack names are global on a machine)."""
    import os
    import re
    import secrets

    from tests.conftest import require_root

    require_root()
    ((md, text),) = blocks("sh simhost")
    name = "d" + secrets.token_hex(3)
    script = re.sub(r"(?<=\s)lab\b", name, text).replace("/tmp/racks", str(tmp_path / "sim"))
    assert name in script and "lab" not in script
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}",
           "RACKER_SIM_CACHE": str(tmp_path / "sim-cache")}
    try:
        run = subprocess.run(["sh", "-c", f"set -e\n{script}"], env=env, text=True,
                             capture_output=True, timeout=900, check=False)
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"{md.name}:\n{script}\n{out}"
        assert "Traceback" not in out and "internal error" not in out
        assert f"created rack {name}: 6 nodes" in out
        assert "➤ OS installation via PXE (6/6)... ✓ done" in out
        assert "set no-pxe on node2" in out and f"destroyed rack {name}" in out
    finally:
        subprocess.run([str(BIN / "racker-sim"), "destroy", name], env={
            **env, "RACKER_SIM_DIR": str(tmp_path / "sim")}, capture_output=True, timeout=120,
            check=False)
