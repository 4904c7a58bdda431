"""`racker pxe-boot` on a simulated rack (lite nodes, virtual BMCs carrying their consoles over
SOL): while `racker serve` runs, serve records the console of the boot pxe-boot started, from
power-on until the node reports booted (and a grace), and `racker node console-log` shows it;
without serve, pxe-boot says in one line that nothing records it and how to watch it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import SimRack, sim_rack
from tests.e2e.test_serve_sim import serving

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")
ENDED = "[racker] serial console no longer recorded: the PXE boot it followed is over"


def console(rack: SimRack, mac: str) -> list[str]:
    r = rack.racker("node", "console-log", mac)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def wait_for_console_line(rack: SimRack, mac: str, text: str, after: int,
                          timeout: float = 180) -> list[str]:
    """The node's console lines past the first `after` once one of them contains `text`."""
    end = time.monotonic() + timeout
    new: list[str] = []
    while time.monotonic() < end:
        new = console(rack, mac)[after:]
        if any(text in line for line in new):
            return new
        time.sleep(1)
    raise AssertionError(f"{text!r} not recorded within {timeout} s:\n" + "\n".join(new))


def test_serve_records_the_console_of_the_boot_pxe_boot_started(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        (server,) = rack.nodes()
        mac = server["primary_mac"]
        name = (rack.folder / "assets" / mac).read_text().strip()
        before = len(console(rack, mac))  # the bootstrap's own recording
        with serving(rack) as serve:
            r = rack.racker("pxe-boot", mac, name)
            assert r.returncode == 0, r.stdout + r.stderr
            assert f"{mac}: racker serve (pid " in r.stdout, r.stdout
            assert (f"records the serial console of this boot until the node reports booted; "
                    f"follow it with 'racker node console-log {mac} -f'") in r.stdout
            assert f"({mac}) is booting from the network" in r.stdout
            new = wait_for_console_line(rack, mac, ENDED, before)
            serve_out = "".join(serve.seen)
        # the boot pxe-boot started, recorded from power-on to the first boot from disk
        order = ["[racker] serial console captured (Serial over LAN)",
                 "iPXE 1.21.1+ -- Open Source Network Boot Firmware",
                 "Linux version 6.6.60-flatcar", "racker-installer[812]: Downloading",
                 "reboot: Restarting system", "Booting `Flatcar default'", ENDED]
        at = [next((i for i, line in enumerate(new) if text in line), -1) for text in order]
        assert -1 not in at and at == sorted(at), ("\n".join(new), at)
        events = rack.events(mac)
        pxe = max(e.id for e in events if e.kind is EventKind.STAGE
                  and e.detail.get("by") == "racker pxe-boot")
        booted = [e for e in events if e.kind is EventKind.BOOTED and e.id > pxe]
        capturing = [e for e in events if e.kind is EventKind.CONSOLE and e.id > pxe]
        assert booted and "capturing" in [e.detail["state"] for e in capturing], events
        # serve's SOL session ended with the recording: the console is free for `ipmi NODE`
        assert not list((rack.state / "console").glob("*.held"))
        assert "Traceback" not in serve_out + r.stderr

        # without serve (or a bootstrap or apply) nothing records the boot, and pxe-boot says so
        r = rack.racker("pxe-boot", mac, name)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (f"{mac}: nothing records the serial console of this boot (no racker serve, "
                f"bootstrap or apply records consoles now); watch it with 'ipmi {mac}', or "
                f"with 'racker node console-log {mac} -f' while 'racker serve' runs\n"
                ) in r.stdout, r.stdout
