"""racker's paths from the environment: a value that would add lines to a file is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.cli.main import main
from racker.errors import InputError
from racker.paths import Paths


def test_overrides() -> None:
    p = Paths.from_env({"RACKER_STATE_DIR": "/srv/racker state", "HOME": "/home/op"})
    assert p.state_dir == Path("/srv/racker state") and p.home == Path("/home/op")
    assert p.dnsmasq_conf == Path("/srv/racker state/dnsmasq/dnsmasq.conf")


@pytest.mark.parametrize("variable", ["RACKER_STATE_DIR", "RACKER_OEM_DIR", "RACKER_HOSTS_FILE",
                                      "RACKER_SYS_CLASS_NET", "HOME"])
@pytest.mark.parametrize("value", ["/tmp/x\ndhcp-script=/tmp/evil", "/tmp/x\n", "/tmp/\rx",
                                   "/tmp/\x00x", "/tmp/\tx"])
def test_control_characters_are_refused(variable: str, value: str) -> None:
    with pytest.raises(InputError) as e:
        Paths.from_env({variable: value})
    assert e.value.where is not None and e.value.where.variable == variable
    assert e.value.message.startswith(f"{variable} holds a control character")


def test_newline_in_the_state_dir_stops_the_cli(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RACKER_STATE_DIR", "/tmp/racker\nlog-facility=/tmp/evil")
    assert main(["bootstrap", "-render-only"]) == 2
    err = capsys.readouterr().err
    assert "variable RACKER_STATE_DIR: RACKER_STATE_DIR holds a control character" in err
    assert "Traceback" not in err
