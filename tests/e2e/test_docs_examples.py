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
