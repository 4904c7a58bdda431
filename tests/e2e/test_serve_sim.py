"""`racker serve` that cooperates, on a simulated rack: commands run while serve runs borrow
its DHCP and boot server through the management socket, and serve takes them back."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar", "-onfailure", "cancel")


class Lines:
    """A process's output lines, read in a thread so that waits are bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout

        def pump() -> None:
            for line in stdout:
                self._q.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """The next line containing `text` (AssertionError with all output after `timeout`)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self._q.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed by racker serve:\n{''.join(self.seen)}")


@contextmanager
def serving(rack: SimRack) -> Iterator[Lines]:
    """`racker serve` in the rack's management namespace, up (its first line printed)."""
    proc = subprocess.Popen(rack.racker_argv("serve"), env=rack.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = Lines(proc)
    try:
        lines.wait_for("Serving DHCP on")
        yield lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    lines.wait_for("Stopped.", timeout=5)


def installs(rack: SimRack, mac: str) -> int:
    return sum(1 for e in rack.events(mac) if e.kind is EventKind.INSTALLED)


def test_reprovision_apply_and_pxe_boot_while_serve_runs(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        (server,) = rack.nodes()
        mac = server["primary_mac"]
        name = (rack.folder / "assets" / mac).read_text()
        with serving(rack) as serve:
            r = rack.racker("node", "reprovision", mac, "-C", str(rack.folder))
            assert r.returncode == 0, r.stdout + r.stderr
            assert "'racker serve' runs: it hands DHCP and the boot server over" in r.stdout
            assert installs(rack, mac) == 2
            assert (rack.folder / "assets" / mac).read_text() == name
            serve.wait_for("Handed DHCP and the boot server to another racker command")
            serve.wait_for("Taking DHCP and the boot server back.")
            serve.wait_for("Serving DHCP on")  # with the configuration read again
            # apply with a node to reinstall borrows them in the same way
            (rack.folder / "assets" / mac).unlink()
            r = rack.racker("apply", "--yes", "-C", str(rack.folder))
            assert r.returncode == 0, r.stdout + r.stderr
            assert "1 to reinstall" in r.stdout and installs(rack, mac) == 3
            serve.wait_for("Taking DHCP and the boot server back.")
            serve.wait_for("Serving DHCP on")
        assert "Traceback" not in r.stdout + r.stderr + "".join(serve.seen)


def test_a_borrower_killed_mid_run_gives_the_services_back(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        r = rack.racker(*BOOTSTRAP)
        assert r.returncode == 0, r.stdout + r.stderr
        first, second = rack.nodes()
        mac = first["primary_mac"]
        with serving(rack) as serve:
            # a node that never PXE boots: the reinstall waits at stage dhcp until killed
            rack.sim("fault", first["node"], "no-pxe", "--name", rack.name)
            proc = subprocess.Popen(rack.racker_argv("node", "reprovision", mac),
                                    env=rack.env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            try:
                serve.wait_for("Handed DHCP and the boot server to another racker command")
            finally:
                proc.kill()
                proc.wait(timeout=30)
            serve.wait_for("Taking DHCP and the boot server back.")
            serve.wait_for("Serving DHCP on")
            # a changed dnsmasq.conf is served at once: exclude asks serve to reload
            r = rack.racker("node", "exclude", second["primary_mac"], "-C", str(rack.folder))
            assert r.returncode == 0, r.stdout + r.stderr
            assert "racker serve reloaded" in r.stdout
            serve.wait_for("Reloading the configuration.")
            line = serve.wait_for("Serving DHCP on")
            assert "for 1 nodes" in line


def test_an_interrupted_bootstrap_continues_while_serve_runs(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        good, bad = rack.nodes()
        rack.sim("fault", bad["node"], "no-pxe", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP)  # cancel: the bootstrap stops, to be continued
        assert r.returncode != 0 and rack.flag_files() == {good["primary_mac"]}
        rack.sim("fault", bad["node"], "no-pxe", "--clear", "--name", rack.name)
        with serving(rack) as serve:  # the service came up in between
            r = rack.racker(*BOOTSTRAP)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "➤ Continuing the interrupted bootstrap" in r.stdout
            assert "'racker serve' runs: it hands DHCP and the boot server over" in r.stdout
            assert rack.flag_files() == {good["primary_mac"], bad["primary_mac"]}
            assert installs(rack, good["primary_mac"]) == 1  # not reinstalled
            serve.wait_for("Taking DHCP and the boot server back.")
            serve.wait_for("Serving DHCP on")
