"""`racker bmc rotate-credentials` against several ipmi_sim BMCs on loopback."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from racker.cli import cmd_bmc
from racker.errors import InputError
from tests.conftest import require_tool
from tests.integration.ipmisim import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    IpmiSim,
    SimUser,
    random_loopback,
    start_ipmi_sim,
)
from tests.rackfixtures import IPMI_PASSWORD, IPMI_USER, bmc_mac, secondary_mac, write_rack

pytestmark = [pytest.mark.ipmi_sim]

NEW_USER = "racker2"
NEW_PASSWORD = "Str0ng-and-16-ch"  # ipmi_sim keeps 16 bytes of a password


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[list[IpmiSim]]:
    require_tool("ipmi_sim")
    require_tool("ipmitool")
    started: list[IpmiSim] = []
    try:
        for _ in range(3):
            started.append(start_ipmi_sim(tmp_path))
        yield started
    finally:
        for s in started:
            s.stop()


@pytest.fixture
def oem(tmp_path: Path) -> Path:
    d = tmp_path / "oem"
    d.mkdir()
    (d / "ipmi_user").write_text(ADMIN_USER + "\n")
    (d / "ipmi_password").write_text(ADMIN_PASSWORD + "\n")
    (d / "ipmi_password").chmod(0o600)
    return d


def _password_file(tmp_path: Path, password: str) -> Path:
    f = tmp_path / "newpass"
    f.write_text(password + "\n")
    f.chmod(0o600)
    return f


def _addresses(sims: list[IpmiSim]) -> list[str]:
    out = []
    for i, s in enumerate(sims):
        out += ["--bmc-address", f"02:00:00:00:00:{i:02x}={s.address}:{s.port}"]
    return out


def _names_in_slot(sim: IpmiSim, uid: int) -> tuple[str, str]:
    """(name, privilege column) of slot `uid` per `ipmitool user list 1` as admin."""
    out = sim.ipmitool("user", "list", "1")
    for line in out.stdout.splitlines():
        cols = line.split()
        if cols and cols[0] == str(uid):
            return (cols[1] if cols[1] not in ("true", "false") else "", cols[-1])
    raise AssertionError(out.stdout + out.stderr)


def test_rotation_switches_every_bmc_then_the_files(
        sims: list[IpmiSim], oem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["rotate-credentials", NEW_USER, "--password-file",
            str(_password_file(tmp_path, NEW_PASSWORD)), "--disable-old", *_addresses(sims)]
    rc = cmd_bmc.run(argv, env={"RACKER_OEM_DIR": str(oem)})
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (oem / "ipmi_user").read_text() == NEW_USER + "\n"
    assert (oem / "ipmi_password").read_text() == NEW_PASSWORD + "\n"
    for f in ("ipmi_user", "ipmi_password"):
        assert (oem / f).stat().st_mode & 0o777 == 0o600
    for i, s in enumerate(sims):
        assert f"BMC {s.address}:{s.port} (node 02:00:00:00:00:{i:02x}): {NEW_USER} in slot 3, " \
               "session proven; old slot 2 disabled" in out
        # the new user works from another client, with administrator rights
        ok = s.ipmitool("chassis", "power", "status", user=NEW_USER, password=NEW_PASSWORD)
        assert ok.returncode == 0, ok.stderr
        assert s.ipmitool("user", "list", "1", user=NEW_USER, password=NEW_PASSWORD
                          ).stdout.split("\n")[3].split()[:2] == ["3", NEW_USER]
        # the old one is disabled
        assert s.ipmitool("chassis", "power", "status").returncode != 0
    assert NEW_PASSWORD not in out and ADMIN_PASSWORD not in out


def test_unreachable_bmc_leaves_files_and_other_bmcs_unchanged(
        sims: list[IpmiSim], oem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {f: ((oem / f).read_text(), (oem / f).stat().st_ino) for f in os.listdir(oem)}
    dead = random_loopback()
    argv = ["rotate-credentials", NEW_USER, "--password-file",
            str(_password_file(tmp_path, NEW_PASSWORD)), *_addresses(sims),
            "--bmc-address", f"02:00:00:00:00:ff={dead}:9"]
    rc = cmd_bmc.run(argv, env={"RACKER_OEM_DIR": str(oem)})
    out = capsys.readouterr().out
    assert rc == 1
    assert f"BMC {dead}:9 (node 02:00:00:00:00:ff): FAILED at plan: unreachable" in out
    assert "Credential files NOT changed: 1 of 4 BMCs failed" in out
    assert {f: ((oem / f).read_text(), (oem / f).stat().st_ino) for f in os.listdir(oem)} == before
    for s in sims:  # planning failed somewhere: no BMC was touched
        assert _names_in_slot(s, 3)[0] == ""


def test_bmc_that_does_not_keep_the_password_fails_the_proof(
        sims: list[IpmiSim], oem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ipmi_sim accepts a 20-character password but keeps 16 bytes of it: the session as the
    new user fails, and racker must not switch."""
    before = (oem / "ipmi_password").read_text()
    argv = ["rotate-credentials", NEW_USER, "--password-file",
            str(_password_file(tmp_path, "twenty-characters-xy")), *_addresses(sims[:1])]
    rc = cmd_bmc.run(argv, env={"RACKER_OEM_DIR": str(oem)})
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAILED at prove: authentication failed" in out
    assert (oem / "ipmi_password").read_text() == before
    assert (oem / "ipmi_user").read_text() == ADMIN_USER + "\n"
    # the old user still works (it was kept as the fallback)
    assert sims[0].ipmitool("chassis", "power", "status").returncode == 0


def test_dry_run_changes_nothing_and_rerun_reuses_the_slot(
        sims: list[IpmiSim], oem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = str(_password_file(tmp_path, NEW_PASSWORD))
    # an earlier, interrupted run left the new user's name in slot 5 of the first BMC
    assert sims[0].ipmitool("user", "set", "name", "5", NEW_USER).returncode == 0
    rc = cmd_bmc.run(["rotate-credentials", NEW_USER, "--password-file", pw, "--dry-run",
                      *_addresses(sims)], env={"RACKER_OEM_DIR": str(oem)})
    out = capsys.readouterr().out
    assert rc == 0
    assert f"would reuse slot 5 for {NEW_USER} (current user in slot 2)" in out
    assert out.count(f"would create in free slot 3 for {NEW_USER}") == 2
    assert "Dry run: nothing was changed" in out
    assert (oem / "ipmi_user").read_text() == ADMIN_USER + "\n"
    assert _names_in_slot(sims[1], 3)[0] == ""
    rc = cmd_bmc.run(["rotate-credentials", NEW_USER, "--password-file", pw, *_addresses(sims)],
                     env={"RACKER_OEM_DIR": str(oem)})
    assert rc == 0, capsys.readouterr().out
    assert _names_in_slot(sims[0], 5) == (NEW_USER, "ADMINISTRATOR")
    assert _names_in_slot(sims[1], 3) == (NEW_USER, "ADMINISTRATOR")


def test_cli_refuses_before_touching_any_bmc(oem: Path, tmp_path: Path) -> None:
    pw = str(_password_file(tmp_path, NEW_PASSWORD))
    env = {"RACKER_OEM_DIR": str(oem)}
    with pytest.raises(InputError, match=r"nodes\.csv"):  # no --bmc-address: nodes.csv needed
        cmd_bmc.run(["rotate-credentials", NEW_USER, "--password-file", pw], env=env)
    with pytest.raises(InputError, match="is the current user"):
        cmd_bmc.run(["rotate-credentials", ADMIN_USER, "--password-file", pw,
                     "--bmc-address", "x=127.0.0.1"], env=env)
    loose = tmp_path / "loose"
    loose.write_text("pw\n")
    loose.chmod(0o644)
    with pytest.raises(InputError, match="readable by group or others"):
        cmd_bmc.run(["rotate-credentials", NEW_USER, "--password-file", str(loose)], env=env)
    (oem / "ipmi_user").unlink()
    with pytest.raises(InputError, match="the IPMI user file is missing"):
        cmd_bmc.run(["rotate-credentials", NEW_USER, "--password-file", pw], env=env)


def test_racker_dispatches_bmc_command(oem: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from racker.cli.main import main

    assert main(["help"]) == 0
    assert "bmc  " in capsys.readouterr().out
    monkeypatch.setenv("RACKER_OEM_DIR", str(oem))
    assert main(["bmc", "rotate-credentials", "NEW", "--password-file", "/nonexistent/pw",
                 "--bmc-address", "x=127.0.0.1"]) == 2
    err = capsys.readouterr().err
    assert "racker: error: flag --password-file: cannot read /nonexistent/pw" in err


def test_bmcs_are_found_by_mac_like_the_ipmi_helper_does(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """No --bmc-address: nodes.csv names the BMCs by MAC, the dnsmasq leases give their
    addresses (the PXE interface is lo via a fake /sys/class/net, so the route check passes)."""
    require_tool("ipmi_sim")
    env = write_rack(tmp_path, 2)
    net = Path(env["RACKER_SYS_CLASS_NET"])
    shutil.rmtree(net / "eth1")
    (net / "lo" / "address").write_text(secondary_mac(0) + "\n")
    prefix = random_loopback().rsplit(".", 1)[0]
    ips = [f"{prefix}.11", f"{prefix}.12"]
    leases = Path(env["RACKER_STATE_DIR"]) / "dnsmasq" / "dnsmasq.leases"
    leases.parent.mkdir(parents=True)
    expiry = int(time.time()) + 3600
    leases.write_text("".join(f"{expiry} {bmc_mac(i + 1)} {ip} * *\n" for i, ip in enumerate(ips)))
    users = (SimUser(2, IPMI_USER, IPMI_PASSWORD),)
    sims = [start_ipmi_sim(tmp_path, address=ip, port=623, users=users) for ip in ips]
    try:
        rc = cmd_bmc.run(["rotate-credentials", NEW_USER, "--password-file",
                          str(_password_file(tmp_path, NEW_PASSWORD))],
                         env={**env, "RETRY_SEC": "2"})
        out = capsys.readouterr().out
        assert rc == 0, out
        for i, ip in enumerate(ips):
            assert f"BMC {ip} (node {bmc_mac(i + 1)}): {NEW_USER} in slot 3, session proven" in out
        oem = Path(env["RACKER_OEM_DIR"])
        assert (oem / "ipmi_user").read_text() == NEW_USER + "\n"
    finally:
        for s in sims:
            s.stop()
