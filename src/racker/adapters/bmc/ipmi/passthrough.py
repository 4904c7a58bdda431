"""ipmitool run for the `ipmi` helper: attached to the terminal, or captured for `--all`.

The password reaches ipmitool only through its environment (`-E` reads IPMI_PASSWORD), never an
argv, and is redacted from anything ipmitool prints.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Mapping
from typing import Protocol

from racker.core import ipmitool as h
from racker.errors import BmcError


def ipmitool_path() -> str:
    """The ipmitool program; BmcError saying what to install when there is none."""
    exe = shutil.which("ipmitool") or shutil.which("ipmitool", path="/usr/sbin:/usr/bin")
    if exe is None:
        raise BmcError("ipmitool is not installed", hint="install the Debian package ipmitool")
    return exe


class Sink(Protocol):
    """Where a node's text and ipmitool output go: the terminal, or an `--all` block."""

    def echo(self, line: str) -> None: ...

    def run(self, argv: list[str], stdin_text: str | None = None) -> int: ...

    def quiet(self, argv: list[str]) -> None: ...


class TerminalSink:
    """One node: lines to stdout, ipmitool attached to the terminal (USE_STDIN / USE_TTY)."""

    def __init__(self, settings: h.Settings, env: Mapping[str, str], secret: str) -> None:
        self._settings = settings
        self._env = dict(env)
        self._secret = secret

    def echo(self, line: str) -> None:
        print(line, flush=True)

    def run(self, argv: list[str], stdin_text: str | None = None) -> int:
        argv = [ipmitool_path(), *argv[1:]]
        stdin: int | None = None if self._settings.use_stdin else subprocess.DEVNULL
        if stdin_text is not None:
            stdin = subprocess.PIPE
        if self._settings.use_tty:
            # The child owns the terminal (sol activate switches it to raw mode itself).
            if stdin_text is not None:
                return subprocess.run(argv, env=self._env, input=stdin_text, check=False,
                                      text=True).returncode
            return subprocess.run(argv, env=self._env, stdin=stdin, check=False).returncode
        # No terminal for the child: its output goes through a pipe and on to our stdout.
        with subprocess.Popen(argv, env=self._env, stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace") as p:
            assert p.stdout is not None
            if stdin_text is not None:
                assert p.stdin is not None
                p.stdin.write(stdin_text)
                p.stdin.close()
            for line in p.stdout:
                sys.stdout.write(h.redact(line, self._secret))
                sys.stdout.flush()
            return p.wait()

    def quiet(self, argv: list[str]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([ipmitool_path(), *argv[1:]], env=self._env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=h.deadline_sec(self._settings),
                           check=False)


class BlockSink:
    """One node of `--all`: everything is collected and printed as one block later."""

    def __init__(self, settings: h.Settings, env: Mapping[str, str], secret: str) -> None:
        self._env = dict(env)
        self._secret = secret
        self._deadline = h.deadline_sec(settings)
        self.lines: list[str] = []

    def echo(self, line: str) -> None:
        self.lines.append(line)

    def _capture(self, argv: list[str], stdin_text: str | None = None) -> tuple[int, str]:
        # stdin is never shared between concurrent children: a batch text or nothing.
        try:
            p = subprocess.run([ipmitool_path(), *argv[1:]], env=self._env, input=stdin_text or "",
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", timeout=self._deadline, check=False)
        except subprocess.TimeoutExpired:
            return 124, (f"Error: no answer from the BMC within {self._deadline:g} s "
                         "(ipmitool stopped); set IPMI_TIMEOUT to change the limit")
        return p.returncode, p.stdout

    def run(self, argv: list[str], stdin_text: str | None = None) -> int:
        rc, out = self._capture(argv, stdin_text)
        if out:
            self.lines.append(h.redact(out.rstrip("\n"), self._secret))
        return rc

    def quiet(self, argv: list[str]) -> None:
        self._capture(argv)

    def text(self) -> str:
        return "\n".join(self.lines)
