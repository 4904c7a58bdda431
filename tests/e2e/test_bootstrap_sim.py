"""`racker bootstrap` on a simulated rack: lite nodes, virtual BMCs, real dnsmasq, the boot
server, the engine, the failure policies and an interrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from racker.core.events import EventKind
from tests.e2e.simrack import SimRack, sim_rack

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

BOOTSTRAP = ("bootstrap", "-provision", "flatcar")


def booted_macs(rack: SimRack) -> set[str]:
    return {e.mac for e in rack.events() if e.kind is EventKind.BOOTED}


def installs(rack: SimRack, mac: str) -> int:
    return sum(1 for e in rack.events(mac) if e.kind is EventKind.INSTALLED)


def test_fresh_bootstrap_of_six_nodes(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 6) as rack:
        r = rack.racker(*BOOTSTRAP, "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "➤ Checking BMC connectivity (6/6)... ✓ done" in r.stdout
        assert "➤ OS installation via PXE (6/6)... ✓ done" in r.stdout
        macs = {s["primary_mac"] for s in rack.nodes()}
        assert booted_macs(rack) == macs
        assert rack.flag_files() == macs
        for mac in macs:
            name = (rack.folder / "assets" / mac).read_text().strip()
            assert name.startswith("node-")
            kinds = [e.kind for e in rack.events(mac)]
            # the stages in order: lease, iPXE, installed, booted, provisioned
            order = [EventKind.LEASE, EventKind.INSTALLED, EventKind.BOOTED,
                     EventKind.PROVISIONED]
            positions = [kinds.index(k) for k in order]
            assert positions == sorted(positions)
        for s in rack.nodes():  # the BMC was left booting from disk, persistently
            assert s["boot_device"] == "disk" and s["boot_persistent"] and s["installed"]
        assert "Traceback" not in r.stdout + r.stderr
        st = rack.racker("status", "--json")
        assert st.returncode == 0, st.stdout + st.stderr
        status = json.loads(st.stdout)
        assert status["provisioned"] == "Flatcar"
        assert status["provisioned_nodes"] == status["total_nodes"] == 6
        assert all(n["bmc_reached"] and n["power"] == "on" for n in status["nodes"])
        assert sorted(n["hostnames"][0] for n in status["nodes"]) == [f"node-{i}"
                                                                      for i in range(6)]
        timeline = rack.racker("node", "timeline", sorted(macs)[0])
        assert "node reported booted" in timeline.stdout, timeline.stdout + timeline.stderr


def test_serve_keeps_dhcp_and_the_boot_server_running(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        assert rack.racker(*BOOTSTRAP, "-onfailure", "cancel").returncode == 0
        serve = subprocess.Popen(rack.racker_argv("serve"), env=rack.env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert serve.stdout is not None
            # the management listener comes up first (it lives as long as serve), then the services
            dashboard, first = serve.stdout.readline(), serve.stdout.readline()
            assert dashboard.startswith("Dashboard: http://127.0.0.1:8081/"), dashboard
            assert first.startswith("Serving DHCP on"), first
            r = rack.racker("status", "--json")
            assert r.returncode == 0, r.stdout + r.stderr
            node = json.loads(r.stdout)["nodes"][0]
            assert node["bmc_reached"] and node["power"] == "on"
        finally:
            serve.send_signal(signal.SIGTERM)
            out, _ = serve.communicate(timeout=30)
        assert serve.returncode == 0 and "Stopped." in out


def test_onfailure_exclude_leaves_out_a_node_that_never_pxe_boots(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3) as rack:
        bad = rack.nodes()[1]
        rack.sim("fault", bad["node"], "no-pxe", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP, "-onfailure", "exclude")
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        assert "➤ OS installation via PXE (2/3)... × failed" in out
        assert f"Failed to provision the following 1 nodes:\n{bad['primary_mac']}" in out
        assert "removing 1 nodes from the configuration and retrying 1/3" in out
        assert "➤ OS installation via PXE (2/2)... ✓ done" in out
        good = {s["primary_mac"] for s in rack.nodes()} - {bad["primary_mac"]}
        assert rack.flag_files() == good
        tfvars = (rack.folder / "terraform.tfvars").read_text()
        assert bad["primary_mac"] not in tfvars
        assert bad["primary_mac"] in (rack.folder / "racker-options.yaml").read_text()
        hosts = (rack.root / "hosts").read_text()
        kept = rack.folder / ".racker-excluded" / bad["primary_mac"]
        assert kept.is_dir() and any(kept.iterdir())
        assert not list((rack.folder / "cl").glob(f"{kept.iterdir().__next__().stem}*"))
        assert hosts.count("managed by racker") == 2


def test_onfailure_retry_succeeds_once_the_fault_is_cleared(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        bad = rack.nodes()[0]
        rack.sim("fault", bad["node"], "no-pxe", "--name", rack.name)
        proc = subprocess.Popen(rack.racker_argv(*BOOTSTRAP, "-onfailure", "retry"),
                                env=rack.env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240  # bounded, with room for a busy machine
        while time.monotonic() < deadline:
            if any(e.kind is EventKind.ERROR for e in rack.events(bad["primary_mac"])):
                break
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.5)
        else:
            proc.kill()
            pytest.fail(f"no failure of the faulty node within 240 s: {proc.communicate()[0]}")
        rack.sim("fault", bad["node"], "no-pxe", "--clear", "--name", rack.name)
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, out
        assert "Something went wrong, retrying 1/3" in out
        assert rack.flag_files() == {s["primary_mac"] for s in rack.nodes()}
        assert installs(rack, rack.nodes()[1]["primary_mac"]) == 1  # the good node only once


def test_onfailure_cancel_stops_with_guidance(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        bad = rack.nodes()[1]
        rack.sim("fault", bad["node"], "no-pxe", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP, "-onfailure", "cancel")
        assert r.returncode != 0
        assert "Canceling" in r.stdout
        assert "If individual nodes did not come up, you can retry later with:" in r.stdout
        assert bad["primary_mac"] in r.stdout
        assert "Traceback" not in r.stdout + r.stderr


def test_a_bmc_that_is_down_is_named_at_the_bmc_stage(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 2) as rack:
        bad = rack.nodes()[0]
        rack.sim("fault", bad["node"], "bmc-down", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP, "-onfailure", "cancel", extra={"RETRY_SEC": "5"})
        assert r.returncode == 1
        assert "➤ Checking BMC connectivity (1/2)... × failed" in r.stdout
        assert "The following 1 BMCs could not be reached:" in r.stdout
        assert f"-exclude=\"{bad['primary_mac']}\"" in r.stdout
        assert not rack.flag_files()  # nothing was installed
        # the hint's command works: the resumed bootstrap takes the exclusion
        mac = bad["primary_mac"]
        again = rack.racker(*BOOTSTRAP, "-onfailure", "retry", f"-exclude={mac}")
        assert again.returncode == 2  # a flag that differs from the record is refused
        assert "-onfailure retry differs from the interrupted bootstrap's cancel" in again.stderr
        again = rack.racker(*BOOTSTRAP, "-onfailure", "cancel", f"-exclude={mac}",
                            extra={"RETRY_SEC": "5"})
        assert again.returncode == 0, again.stdout + again.stderr
        assert "➤ Continuing the interrupted bootstrap" in again.stdout
        assert f"Excluded {mac}" in again.stdout and "could not be reached" not in again.stdout
        assert rack.flag_files() == {rack.nodes()[1]["primary_mac"]}
        assert mac in (rack.folder / "racker-options.yaml").read_text()


def test_a_bmc_that_hangs_as_the_installer_reports_fails_the_install_saying_so(
        tmp_path: Path) -> None:
    """The installer reports `installed`; racker answers only once the BMC has the node set
    to boot from disk, and the BMC stops answering right then: the install stage fails, and
    its reason is the report's fate, not only a timeout."""
    with sim_rack(tmp_path, 1) as rack:
        (node,) = rack.nodes()
        rack.sim("fault", node["node"], "bmc-hangs-at-install", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP, "-onfailure", "cancel")
        assert r.returncode == 1, r.stdout + r.stderr
        failure = next(line for line in r.stdout.splitlines()
                       if "failed at stage install:" in line)
        assert "timed out waiting for the installer to finish (36 s): its 'installed' report " \
               "came " in failure
        # the BMC's calls give up within 20 s, well inside the stage's 36 s: the reason is theirs
        assert "but setting its boot device to disk over its BMC failed: BMC " in failure
        assert "no answer" in failure
        assert not rack.flag_files()
        # clearing the fault brings the BMC back: the rerun installs the node
        rack.sim("fault", node["node"], "bmc-hangs-at-install", "--clear", "--name", rack.name)
        again = rack.racker(*BOOTSTRAP, "-onfailure", "cancel")
        assert again.returncode == 0, again.stdout + again.stderr
        assert rack.flag_files() == {node["primary_mac"]}


def test_kill_9_mid_install_then_rerun_completes_without_reinstalling(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 3) as rack:
        slow = rack.nodes()[2]
        rack.sim("fault", slow["node"], "no-boot-report", "--name", rack.name)
        proc = subprocess.Popen(rack.racker_argv(*BOOTSTRAP, "-onfailure", "cancel"),
                                env=rack.env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        others = {s["primary_mac"] for s in rack.nodes()} - {slow["primary_mac"]}
        deadline = time.monotonic() + 240  # bounded, with room for a busy machine
        while time.monotonic() < deadline and rack.flag_files() != others:
            time.sleep(0.3)
        assert rack.flag_files() == others
        os.killpg(proc.pid, signal.SIGKILL)  # racker and everything it started
        proc.wait()
        before = {m: installs(rack, m) for m in others}
        rack.sim("fault", slow["node"], "no-boot-report", "--clear", "--name", rack.name)
        r = rack.racker(*BOOTSTRAP, "-onfailure", "cancel")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Continuing the interrupted bootstrap" in r.stdout
        assert rack.flag_files() == others | {slow["primary_mac"]}
        assert {m: installs(rack, m) for m in others} == before  # not reinstalled
        assert (rack.folder / "racker-options.yaml").is_file()



def test_lokomotive_without_lokoctl_says_what_to_install(tmp_path: Path) -> None:
    with sim_rack(tmp_path, 1) as rack:
        r = rack.racker("bootstrap", "-provision", "lokomotive", "-onfailure", "cancel")
        assert r.returncode == 1
        assert "lokoctl is not installed" in r.stderr and "-render-only" in r.stderr
        assert not (rack.home / "lokomotive").exists()  # checked before anything is written
        assert not rack.flag_files() and not rack.events()  # no BMC or node was touched
        assert "managed by racker" not in (rack.root / "hosts").read_text()
        r = rack.racker("bootstrap", "-provision", "lokomotive", "-render-only")
        assert r.returncode == 0, r.stdout + r.stderr  # the hint's command works
        assert (rack.home / "lokomotive" / "lokocfg.vars").is_file()
