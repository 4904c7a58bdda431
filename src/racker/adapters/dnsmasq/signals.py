"""Signals from racker to its dnsmasq without CAP_KILL.

dnsmasq switches to its own user once its ports are open, and the kernel lets a process signal
another user's process only with CAP_KILL, which racker-serve.service no longer keeps (with it,
a compromised racker could signal any process on the host). A process running as dnsmasq's user
may signal it, so racker sends the signal from a short-lived `kill` started as that user (the
unit keeps CAP_SETUID and CAP_SETGID for dnsmasq's own switch anyway). Where racker may signal
dnsmasq itself (it is not root, or still has CAP_KILL), it does so directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys

from racker.errors import ServiceError

KILL_SEC = 10.0
"""How long the helper that sends a signal may take (it runs in milliseconds)."""

_PY_KILL = "import os, sys; os.kill(int(sys.argv[1]), int(sys.argv[2]))"


def kill_argv(pid: int, sig: signal.Signals) -> list[str]:
    """The helper's command line (pure but for finding `kill` on PATH): `kill -s NAME PID`,
    else the interpreter racker runs on (isolated, without site packages)."""
    kill = shutil.which("kill")
    if kill:
        return [kill, "-s", sig.name.removeprefix("SIG"), str(pid)]
    return [sys.executable, "-I", "-S", "-c", _PY_KILL, str(pid), str(int(sig))]


def _failed(pid: int, sig: signal.Signals, user: str, code: int, err: str) -> ServiceError:
    return ServiceError(f"could not send {sig.name} to dnsmasq (pid {pid}) as user {user}: "
                        f"{err.strip() or f'exit status {code}'}",
                        hint="check that dnsmasq's user exists and that the service keeps "
                             "CAP_SETUID and CAP_SETGID")


def _gone(err: str) -> bool:
    """True when the helper failed only because the process had exited already."""
    return "No such process" in err or "ProcessLookupError" in err


def _sent_directly(pid: int, sig: signal.Signals) -> bool:
    """True when racker itself sent the signal, or the process is gone; False when the kernel
    refused (no CAP_KILL for another user's process): the helper must send it."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return True


def send_signal(pid: int, sig: signal.Signals, user: str, group: str) -> None:
    """Send `sig` to dnsmasq's `pid`, which runs as `user`:`group`; a process that has exited
    already is not an error. ServiceError when the signal cannot be sent."""
    if _sent_directly(pid, sig):
        return
    try:
        proc = subprocess.run(kill_argv(pid, sig), user=user, group=group, extra_groups=[],
                              capture_output=True, text=True, timeout=KILL_SEC, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        raise _failed(pid, sig, user, -1, str(err)) from err
    if proc.returncode != 0 and not _gone(proc.stderr):
        raise _failed(pid, sig, user, proc.returncode, proc.stderr)


async def send_signal_async(pid: int, sig: signal.Signals, user: str, group: str) -> None:
    """`send_signal` without blocking the event loop while the helper runs."""
    if _sent_directly(pid, sig):
        return
    try:
        proc = await asyncio.create_subprocess_exec(
            *kill_argv(pid, sig), user=user, group=group, extra_groups=[],
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        raise _failed(pid, sig, user, -1, str(e)) from e
    try:
        _, err = await asyncio.wait_for(proc.communicate(), KILL_SEC)
    except TimeoutError as e:
        # NOTE: once it switched user racker may not signal it either; it is left to exit
        with contextlib.suppress(ProcessLookupError, PermissionError):
            proc.kill()
        raise _failed(pid, sig, user, -1, f"the helper took over {KILL_SEC:.0f} s") from e
    text = err.decode(errors="replace")
    if proc.returncode != 0 and not _gone(text):
        raise _failed(pid, sig, user, proc.returncode or -1, text)
