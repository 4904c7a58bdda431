"""`ipmi` in-process: usage and input errors come before any file, BMC or network is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.cli import ipmi
from racker.errors import InputError
from racker.model import Credentials, Inventory, Node
from racker.paths import Paths

NODE = Node("aa:bb:cc:00:00:01", "aa:bb:cc:00:01:01", None, "", "", 2)
MGMT = Node("aa:bb:cc:00:00:10", "aa:bb:cc:00:01:10", "aa:bb:cc:00:02:10", "", "", 3)


def _refusing() -> ipmi.Loaders:
    def no(paths: Paths) -> Inventory:
        raise AssertionError("the inventory must not be read")

    def no_creds(paths: Paths) -> Credentials:
        raise AssertionError("the credentials must not be read")

    return ipmi.Loaders(inventory=no, credentials=no_creds)


@pytest.mark.parametrize("argv", [["-h"], ["--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert ipmi.run(argv, env={"RETRY_SEC": "30"}, loaders=_refusing()) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: ipmi domain|primary-mac|bmc-mac|--all diag|[ipmitool commands]")
    assert "retries for 30 seconds" in out


def test_help_describes_every_target_command_and_setting(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    """`ipmi -h` is hand-written: every target form, built-in command and environment setting
    the helper reads is named and described in it."""
    assert ipmi.run(["-h"], env={}, loaders=_refusing()) == 0
    out = capsys.readouterr().out
    for word, meaning in [("domain|primary-mac|bmc-mac|--all", "Usage"),
                          ("\"diag\" command", "shows the BMC MAC address"),
                          ("\"sol activate\"", "serial console"),
                          ("USE_STDIN=0", "scripts"), ("USE_TTY=0", "scripts"),
                          ("RETRY_SEC", "retries for 150 seconds"),
                          ("IPMI_TIMEOUT=S", "give up on a silent BMC")]:
        line = next((ln for ln in out.splitlines() if word in ln), "")
        assert meaning in line, (word, out)


def test_help_survives_a_bad_retry_sec(capsys: pytest.CaptureFixture[str]) -> None:
    assert ipmi.run(["-h"], env={"RETRY_SEC": "x"}, loaders=_refusing()) == 0
    assert "retries for 150 seconds" in capsys.readouterr().out


def test_no_arguments_is_usage_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert ipmi.run([], env={}, loaders=_refusing()) == 2
    assert capsys.readouterr().err.startswith("Usage: ipmi ")


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--all"], {}),
        (["--all", "sol", "activate"], {}),
        (["aa:bb:cc:00:00:01", "power", "status"], {"USE_TTY": "yes"}),
        (["aa:bb:cc:00:00:01", "power", "status"], {"RETRY_SEC": "soon"}),
    ],
)
def test_refused_before_reading_anything(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(InputError):
        ipmi.run(argv, env=env, loaders=_refusing())


def test_unknown_node_is_refused_before_any_bmc_lookup(tmp_path: Path) -> None:
    inventory = Inventory(path=tmp_path / "nodes.csv", management=MGMT, nodes=(NODE,),
                          pxe_interface="rki-none0")
    loaders = ipmi.Loaders(inventory=lambda p: inventory,
                           credentials=lambda p: Credentials("admin", "pw"))
    env = {"RACKER_STATE_DIR": str(tmp_path / "state"), "RACKER_HOSTS_FILE": str(tmp_path / "h")}
    with pytest.raises(InputError) as e:
        ipmi.run(["aa:bb:cc:99:99:99", "power", "status"], env=env, loaders=loaders)
    assert "has the MAC address aa:bb:cc:99:99:99" in str(e.value)


def test_main_turns_errors_into_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert ipmi.main(["--all"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ipmi: error: flag --all: the serial console cannot be attached")
    assert "hint:" in err
