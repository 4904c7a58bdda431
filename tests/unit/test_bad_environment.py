"""No internal error on a bad environment: a location racker cannot use is an error naming the
path and the setting, and nothing is left behind that blocks the next run."""

from __future__ import annotations

from pathlib import Path

import pytest

from racker.cli.main import main
from tests.rackfixtures import write_rack


@pytest.fixture
def rack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = write_rack(tmp_path, 2)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return env


def bootstrap(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["bootstrap", "-provision", "flatcar", "-render-only"])
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, err
    return code, err


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("RACKER_STATE_DIR", "/proc/nope", "racker's state folder /proc/nope cannot be created"),
    ("HOME", "/proc/nope", "the home folder /proc/nope cannot be created"),
    ("RACKER_HOSTS_FILE", "/proc/nope/hosts", "/proc/nope/hosts: cannot write the hosts file"),
])
def test_an_unusable_location_is_named_and_leaves_nothing_behind(
        rack: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    code, err = bootstrap(capsys)
    assert code in (1, 2) and message in err and variable in err, err
    assert not (Path(rack["HOME"]) / "flatcar-container-linux").exists()
    monkeypatch.setenv(variable, rack[variable])  # fixed: the next run works
    code, err = bootstrap(capsys)
    assert code == 0, err
    assert (Path(rack["HOME"]) / "flatcar-container-linux" / "racker-options.yaml").is_file()


def test_commands_reading_the_state_name_the_folder(
        rack: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RACKER_STATE_DIR", "/proc/nope")
    assert main(["node", "timeline", "02:00:00:00:00:01"]) == 2
    err = capsys.readouterr().err
    assert "racker's state folder /proc/nope cannot be created" in err
    assert "RACKER_STATE_DIR" in err and "internal error" not in err
