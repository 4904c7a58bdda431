"""`racker-sim`: the subcommand table and how `bmc serve` gets its password."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from racker.cli import sim
from racker.errors import InputError


def test_usage_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.dispatch([]) == 0
    out = capsys.readouterr().out
    for c in sim.SUBCOMMANDS:
        assert " ".join(c.words) in out
        assert c.load() is not None  # every target resolves


def test_unknown_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.dispatch(["bmc", "dance"]) == 2
    assert "unknown command 'bmc dance'" in capsys.readouterr().err


def args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"password": None, "password_env": None, "password_file": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_password_from_file(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text("s3cret\n")
    f.chmod(0o600)
    assert sim.read_password(args(password_file=f)) == "s3cret"
    f.chmod(0o640)
    with pytest.raises(InputError, match="readable by other users") as e:
        sim.read_password(args(password_file=f))
    assert e.value.hint == f"chmod 600 {f}"
    with pytest.raises(InputError, match="cannot read the password file"):
        sim.read_password(args(password_file=tmp_path / "missing"))


def test_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBMC_TEST_PW", "from-env")
    assert sim.read_password(args(password_env="VBMC_TEST_PW")) == "from-env"
    monkeypatch.delenv("VBMC_TEST_PW")
    with pytest.raises(InputError, match="VBMC_TEST_PW is not set"):
        sim.read_password(args(password_env="VBMC_TEST_PW"))


def test_password_in_argv_warns(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.read_password(args(password="visible")) == "visible"
    err = capsys.readouterr().err
    assert "visible in the process list" in err and "visible\n" not in err


def test_bmc_serve_needs_a_password_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.main(["bmc", "serve", "--address", "127.0.0.1"]) == 2
    assert "one of the arguments --password-file --password-env --password is required" in \
        capsys.readouterr().err


def test_create_with_a_mac_not_in_the_csv_says_exactly_that(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from racker.cli.sim import main

    csv = tmp_path / "nodes.csv"
    csv.write_text("Primary MAC address, BMC MAC address, Secondary MAC address, Node Type\n"
                   "02:00:00:00:00:01, 02:00:00:00:01:01, 02:00:00:00:02:01, mgmt\n"
                   "02:00:00:00:00:02, 02:00:00:00:01:02, , small\n")
    assert main(["create", str(csv), "02:00:00:00:09:09"]) == 2
    err = capsys.readouterr().err
    assert f"MGMT_MAC 02:00:00:00:09:09 is not in {csv}: no row of it has this MAC" in err
    assert "management node's row" in err


def test_every_fault_kind_is_described() -> None:
    from racker.sim.commands import FAULTS
    from racker.sim.daemon import BMC_FAULTS
    from racker.sim.nodes.lite import NODE_FAULTS

    assert set(FAULTS) == set(NODE_FAULTS + BMC_FAULTS)
    assert all(text for text in FAULTS.values())


def test_a_mistyped_flag_is_named_never_taken_for_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from racker.cli.sim import main

    monkeypatch.setenv("RACKER_SIM_DIR", str(tmp_path / "sim"))
    assert main(["create", "--generat", "3"]) == 2  # an abbreviation would create a rack
    err = capsys.readouterr().err
    assert "unrecognized arguments: --generat" in err and "did you mean --generate?" in err
    assert not (tmp_path / "sim").exists()
    assert main(["fault"]) == 2
    err = capsys.readouterr().err
    assert "NODE: the server: node1" in err and "KIND: the fault" in err
