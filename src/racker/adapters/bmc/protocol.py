"""Which protocol each BMC speaks: the rack setting, else what was recorded for the BMC, else
detected (Redfish where `/redfish/v1` answers over HTTPS, IPMI otherwise).

The choice is recorded per BMC MAC in `<state>/bmc-protocols.json` once a session over it has
been proven, so later commands (status, the ipmi helper, rotation) use the same protocol
without probing, and `racker status` shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from racker.adapters.fs.atomic import exclusive, write_atomic

log = logging.getLogger(__name__)

AUTO, IPMI, REDFISH = "auto", "ipmi", "redfish"
PORTS: Mapping[str, int] = {IPMI: 623, REDFISH: 443}
"""Where each protocol listens on a BMC."""

RECORD_FILE = "bmc-protocols.json"


def redfish_status(first_line: bytes) -> bool:
    """Whether an HTTP status line is a Redfish service root's answer: 200, or 401/403 from
    a BMC that wants a login even for the root. Pure."""
    words = first_line.split()
    return (len(words) >= 2 and words[0].startswith(b"HTTP/")
            and words[1] in (b"200", b"401", b"403"))


def redfish_answers(address: str, port: int, timeout: float) -> bool:
    """Whether `GET /redfish/v1/` over HTTPS answers as a Redfish service does (blocking).

    NOTE: only a probe: the certificate is not checked here and nothing is sent but the GET;
    the driver then checks it (pinned or against the CA bundle) before any login.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    host = f"[{address}]" if ":" in address else address
    deadline = time.monotonic() + timeout
    try:
        with _connect(address, port, deadline) as raw, \
                ctx.wrap_socket(raw, server_hostname=address) as tls:
            tls.sendall(f"GET /redfish/v1/ HTTP/1.1\r\nHost: {host}\r\nAccept: "
                        "application/json\r\nConnection: close\r\n\r\n".encode())
            head = tls.recv(256)
    except OSError:
        return False
    return redfish_status(head.split(b"\r\n", 1)[0])


CONNECT_RETRY_FIRST = 0.2
"""Seconds the probe's first TCP connection attempt waits for an answer before a new one
(a new SYN) goes out; each next attempt waits twice as long, within the probe's timeout."""


def _connect(address: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection to (address, port) by `deadline` (monotonic), its timeout set to what
    is left (OSError, TimeoutError among them, when none came).

    NOTE: a BMC found the moment its DHCP lease was granted may not have set its address yet:
    the SYN that arrives first is lost, and the kernel sends it again only after a second
    (TCP's initial retransmission timeout). In a simulated 48-server rack 39 BMCs answered the
    probe a second late that way (packet capture: the SYN, the BMC's address set 40 ms later,
    the same SYN again and its reset 1 s after the first)."""
    wait = CONNECT_RETRY_FIRST
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no TCP connection to {address}:{port}")
        try:
            raw = socket.create_connection((address, port), timeout=min(wait, left))
        except TimeoutError:
            wait *= 2
            continue
        raw.settimeout(max(0.001, deadline - time.monotonic()))
        return raw


PROBE_THREADS = 64
"""Probes at once: every BMC of a 64-server rack (asyncio's default pool has 6 threads on a
small management node, and a probe of a BMC that is still coming up waits)."""


@functools.cache
def _probe_threads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="racker-probe")


class ProtocolRecord:
    """The protocol each BMC was last reached over, by BMC MAC (one JSON file, atomic)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}
        self._pending_lock = threading.Lock()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> ProtocolRecord:
        """The record of the rack whose state folder is `state_dir`."""
        return cls(state_dir / RECORD_FILE)

    def all(self) -> dict[str, str]:
        """Every recorded BMC MAC → protocol (an unreadable file counts as empty)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, mac: str) -> str | None:
        """The protocol recorded for `mac`."""
        return self.all().get(mac.lower())

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.path, self._lock)

    def put(self, mac: str, protocol: str) -> None:
        """Record `protocol` for `mac` (written only when it changes); recorded on return."""
        # NOTE: the BMC checks of a rack record their BMCs at once, each waiting for the
        # record: whoever holds the lock writes every entry waiting by then, in one write (one
        # by one, 48 writes with their fsyncs held up the BMC stage of 48 nodes by a second)
        with self._pending_lock:
            self._pending[mac.lower()] = protocol
        with self._locked():
            with self._pending_lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return  # written by the thread that held the lock before
            data = self.all()
            if all(data.get(m) == p for m, p in pending.items()):
                return
            data.update(pending)
            write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")


Probe = Callable[[str, int, float], bool]


@dataclass
class Protocols:
    """The rack's protocol setting over the record and a probe."""

    setting: str = IPMI
    record: ProtocolRecord | None = None
    probe: Probe = redfish_answers
    probe_timeout: float = 2.0
    ports: Mapping[str, int] = field(default_factory=lambda: dict(PORTS))

    async def choose(self, bmc_mac: str, address: str) -> str:
        """The protocol to reach the BMC at `address` over."""
        if self.setting != AUTO:
            return self.setting
        recorded = self.record.get(bmc_mac) if self.record is not None else None
        if recorded is not None:
            return recorded
        found = await asyncio.get_running_loop().run_in_executor(
            _probe_threads(), self.probe, address, self.ports[REDFISH], self.probe_timeout)
        return REDFISH if found else IPMI

    def remember(self, bmc_mac: str, protocol: str) -> None:
        """Record the protocol a session was proven over."""
        if self.record is not None and bmc_mac:
            try:
                self.record.put(bmc_mac, protocol)
            except OSError as e:  # a reader without write access (status as a user): no record
                log.debug("cannot record the protocol of %s: %s", bmc_mac, e)

    def recorded(self, bmc_mac: str) -> str | None:
        """What is known of the BMC without asking it: the setting, else the record."""
        if self.setting != AUTO:
            return self.setting
        return self.record.get(bmc_mac) if self.record is not None else None

    def port(self, protocol: str) -> int:
        """The port `protocol` listens on."""
        return self.ports[protocol]
