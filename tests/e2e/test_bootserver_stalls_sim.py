"""A node of a simulated rack installs while 32 stalled clients hold racker's boot server:
16 downloads that never read (each from its own address) and 16 requests never sent whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import BIN, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

STALLER = Path(__file__).with_name("stall_clients.py")
BIG = 32 << 20  # far more than the socket buffers of a stalled download hold


def test_a_node_installs_while_32_clients_stall_the_boot_server(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        # a large file among the boot assets, for downloads that stall
        rack.state.joinpath("assets").mkdir(parents=True, exist_ok=True)
        with rack.state.joinpath("assets", "stall.bin").open("wb") as f:
            f.truncate(BIG)
        stop, samples = tmp_path / "stop", tmp_path / "samples"
        staller = subprocess.Popen(
            [str(BIN / "racker-sim"), "exec", rack.name, "--", sys.executable, str(STALLER),
             "172.24.213.1", "8080", "16", "16", "/assets/stall.bin", str(stop), str(samples)],
            env=rack.env)
        try:
            r = rack.racker("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
        finally:
            stop.touch()
            staller.wait(30)
        assert r.returncode == 0, r.stdout + r.stderr
        (server,) = rack.nodes()
        mac = server["primary_mac"]
        events = rack.events(mac)
        ipxe = next(e.ts for e in events if e.kind is EventKind.REQUEST
                    and e.detail.get("path") == "/ipxe")
        installed = next(e.ts for e in events if e.kind is EventKind.INSTALLED)
        booted = next(e.ts for e in events if e.kind is EventKind.BOOTED)
        assert ipxe < installed < booted
        # the staller held all 32 all the time the node installed
        during = [int(n) for ts, n in (line.split() for line in samples.read_text().splitlines())
                  if ipxe <= float(ts) <= installed]
        assert during and min(during) == 32, during
        assert rack.flag_files() == {mac}
