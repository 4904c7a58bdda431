from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from racker import __version__
from racker.cli.main import main
from racker.cli.run import run_main
from racker.errors import InputError, Where


def test_no_arguments_prints_command_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Commands:" in out
    assert "version" in out and "help" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_racker_error_becomes_message_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    def entry(argv: object) -> int:
        raise InputError("bad MAC", where=Where(file="nodes.csv", line=3, column=1), hint="fix it")

    assert run_main("racker", entry, []) == 2
    err = capsys.readouterr().err
    assert "nodes.csv:3:1: bad MAC" in err
    assert "hint: fix it" in err
    assert "Traceback" not in err


def test_unexpected_exception_has_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def entry(argv: object) -> int:
        raise ValueError("boom")

    assert run_main("racker", entry, []) == 70
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err


def test_a_bare_timeout_is_an_internal_error_not_a_path_problem(
        capsys: pytest.CaptureFixture[str]) -> None:
    """TimeoutError is an OSError without a path or words: it once read "racker: error: "
    followed by advice about path settings."""
    def entry(argv: object) -> int:
        raise TimeoutError()

    assert run_main("racker", entry, []) == 70
    err = capsys.readouterr().err
    assert "internal error: TimeoutError" in err and "RACKER_STATE_DIR" not in err


def test_a_path_problem_names_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    def entry(argv: object) -> int:
        raise PermissionError(13, "Permission denied", "/var/lib/racker/x")

    assert run_main("racker", entry, []) == 1
    err = capsys.readouterr().err
    assert "error: /var/lib/racker/x: Permission denied" in err and "RACKER_STATE_DIR" in err


def test_console_log_refuses_a_since_that_is_no_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "console-log", "52:54:00:00:00:01", "--since", "last tuesday"]) != 0
    err = capsys.readouterr().err
    assert "--since 'last tuesday' is neither a run nor a time" in err
    assert "20261204-033832" in err and "Traceback" not in err


_SLEEPER = """
import asyncio, sys
from racker.cli.run import run_main

async def work() -> None:
    try:
        print("started", flush=True)
        await asyncio.sleep(60)
    finally:
        print("cleaned up", flush=True)

sys.exit(run_main("racker", lambda _: asyncio.run(work()) or 0, [], sigterm_as_interrupt=True))
"""


@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN])
def test_sigterm_stops_cleanly_even_when_started_with_sigint_ignored(
        sigint: signal.Handlers) -> None:
    # a background job of a script (`racker bootstrap &`) starts with SIGINT ignored
    proc = subprocess.Popen([sys.executable, "-c", _SLEEPER], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    assert proc.stdout is not None
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out == "cleaned up\n"
    assert "racker: stopped (SIGTERM)" in err and "Traceback" not in err
