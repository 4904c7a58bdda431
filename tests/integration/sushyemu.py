"""sushy-tools' `sushy-emulator --fake` over HTTPS on a free loopback port: a Redfish BMC that
nobody here wrote. Started per test with its own self-signed certificate and htpasswd file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from racker.adapters.bmc.interfaces import BmcTarget

USER = "admin"
PASSWORD = "sushy-secret"
MAC = "52:54:00:aa:bb:01"


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port free on `address` now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path, name: str, ip: str | None = None) -> tuple[Path, Path]:
    """A new self-signed certificate and key (openssl), as BMCs ship them; with `ip`, valid
    for that address (as a site CA would issue it)."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    extra = ["-addext", f"subjectAltName=IP:{ip}"] if ip else []
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", *extra, "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@dataclass
class Emulator:
    port: int
    cert: Path
    key: Path
    proc: subprocess.Popen[bytes]
    log: Path
    address: str = "127.0.0.1"

    def target(self, *, user: str = USER, password: str = PASSWORD, mac: str = MAC,
               node: str = "node-rf") -> BmcTarget:
        """How racker reaches this emulator."""
        return BmcTarget(node, self.address, user, password, self.port, bmc_mac=mac)


def _wait_https(address: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sushy-emulator exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), \
                socket.create_connection((address, port), timeout=1) as raw, \
                ctx.wrap_socket(raw):
            return
        time.sleep(0.1)
    pytest.fail(f"sushy-emulator did not answer on port {port} within 30 s")


@contextlib.contextmanager
def start_emulator(folder: Path, cert: Path | None = None, key: Path | None = None,
                   port: int | None = None, *, address: str = "127.0.0.1", user: str = USER,
                   password: str = PASSWORD) -> Iterator[Emulator]:
    """sushy-emulator --fake with HTTPS and Basic auth; stopped (its process group) after."""
    exe = Path(sys.executable).parent / "sushy-emulator"
    if not exe.exists():
        pytest.fail("sushy-emulator is not installed; run 'make setup' (sushy-tools)")
    if cert is None or key is None:
        cert, key = self_signed(folder, "bmc")
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}\n")
    config = folder / "emulator.conf"
    config.write_text(f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\n")
    port = port or free_port()
    log = folder / "emulator.log"
    # NOTE: the fake driver keeps its systems in SQLite files under the temporary folder
    # (`<tmp>/sushy-emulator/`): every emulator of the machine shared them, so a test read a
    # boot override another test (of a suite run beside it) had set. One folder each.
    state = folder / "emulator-tmp"
    state.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "--fake", "--config", str(config), "-i", address, "-p", str(port),
             "--ssl-certificate", str(cert), "--ssl-key", str(key)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
            env={**os.environ, "TMPDIR": str(state)})
    try:
        _wait_https(address, port, proc, log)
        yield Emulator(port, cert, key, proc, log, address)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
