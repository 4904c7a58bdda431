"""TLS to Redfish BMCs: trust on first use, each BMC's certificate pinned by its MAC, or a
site CA bundle. Certificates are never left unchecked.

BMCs ship self-signed certificates whose names match nothing, so a CA check cannot work
unless the site issues its own (then `RACKER_BMC_CA_BUNDLE`). Otherwise the first certificate a
BMC presents is pinned (its SHA-256 fingerprint, in `<state>/bmc-certificates.json`, keyed by
the BMC's MAC because its address follows its DHCP lease) and every later connection must
present the same one: urllib3 compares the fingerprint during each handshake.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter
from sushy import connector as sushy_connector

from racker.adapters.bmc.errors import BmcCertificateChanged, BmcTlsFailed, RedfishUnreachable
from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.redfish.codec import fingerprint
from racker.adapters.fs.atomic import exclusive, write_atomic

PIN_FILE = "bmc-certificates.json"

ACCEPT_COMMAND = "racker bmc trust-cert {node}"
"""What an operator runs to accept a BMC's new certificate (it forgets the old pin)."""


@dataclass(frozen=True)
class Pin:
    """A BMC's pinned certificate: its fingerprint, and where and when it was first seen."""

    sha256: str
    address: str
    pinned_at: str


class PinStore:
    """The pinned certificates of a rack's BMCs, one JSON file written atomically under a
    lock (several racker processes may meet new BMCs at once)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> PinStore:
        """The store of the rack whose state folder is `state_dir`."""
        return cls(state_dir / PIN_FILE)

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise BmcTlsFailed("-", str(self.path), f"unreadable pin file: {e}",
                               hint=f"repair or remove {self.path}; removing it pins every "
                                    "BMC's certificate anew on next contact") from None
        return data if isinstance(data, dict) else {}

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive(self.path, self._lock)

    def get(self, key: str) -> Pin | None:
        """The pin of the BMC `key` (its MAC), if any."""
        entry = self._read().get(key.lower())
        return None if entry is None else Pin(entry["sha256"], entry.get("address", ""),
                                              entry.get("pinned_at", ""))

    def pin_or_compare(self, key: str, sha256: str, address: str) -> Pin:
        """Pin `sha256` for `key` unless it has a pin already; the pin in force afterwards."""
        with self._locked():
            pins = self._read()
            entry = pins.get(key.lower())
            if entry is not None:
                return Pin(entry["sha256"], entry.get("address", ""),
                           entry.get("pinned_at", ""))
            pin = Pin(sha256, address, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            pins[key.lower()] = {"sha256": pin.sha256, "address": pin.address,
                                 "pinned_at": pin.pinned_at}
            write_atomic(self.path, json.dumps(pins, indent=1, sort_keys=True) + "\n", 0o600)
            return pin

    def forget(self, key: str) -> Pin | None:
        """Drop the pin of `key` (the next contact pins the certificate then presented)."""
        with self._locked():
            pins = self._read()
            entry = pins.pop(key.lower(), None)
            if entry is None:
                return None
            write_atomic(self.path, json.dumps(pins, indent=1, sort_keys=True) + "\n", 0o600)
            return Pin(entry["sha256"], entry.get("address", ""), entry.get("pinned_at", ""))

    def all(self) -> Mapping[str, Pin]:
        """Every pin by BMC MAC."""
        return {k: Pin(v["sha256"], v.get("address", ""), v.get("pinned_at", ""))
                for k, v in self._read().items()}


def pin_key(target: BmcTarget) -> str:
    """What a BMC's pin is filed under: its MAC, or its address and port where racker was
    given no MAC (a BMC reached directly by address)."""
    return target.bmc_mac.lower() if target.bmc_mac else f"{target.address}:{target.port}"


def presented_certificate(target: BmcTarget, timeout: float) -> bytes:
    """The DER certificate the BMC presents (read without checking it: it is checked next,
    against its pin)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # NOTE: only to read the certificate, which is then pinned
    where = _where(target)
    try:
        with socket.create_connection((target.address, target.port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=target.address) as tls:
            der = tls.getpeercert(binary_form=True)
    except (TimeoutError, ConnectionError, OSError) as e:
        if isinstance(e, ssl.SSLError):
            raise BmcTlsFailed(target.node, where, f"handshake failed: {e}") from None
        raise RedfishUnreachable(target.node, where, str(e) or type(e).__name__) from None
    if not der:
        raise BmcTlsFailed(target.node, where, "the BMC presented no certificate")
    return der


def check_pin(target: BmcTarget, pins: PinStore, timeout: float) -> str:
    """The BMC's certificate fingerprint, pinned on first use; BmcCertificateChanged when it
    differs from the pin (naming both fingerprints and how to accept the new one)."""
    seen = fingerprint(presented_certificate(target, timeout))
    try:
        pin = pins.pin_or_compare(pin_key(target), seen, target.address)
    except OSError as e:
        raise BmcTlsFailed(target.node, _where(target),
                           f"cannot pin its certificate in {pins.path}: {e.strerror or e}",
                           hint="run racker as the user that owns the state folder (sudo), "
                                "or set RACKER_BMC_CA_BUNDLE") from None
    if pin.sha256 != seen:
        raise certificate_changed(target, pin.sha256, seen)
    return seen


def certificate_changed(target: BmcTarget, pinned: str, seen: str) -> BmcCertificateChanged:
    """The error for a BMC whose certificate is not the pinned one."""
    mac = f" (BMC MAC {target.bmc_mac})" if target.bmc_mac else ""
    accept = ACCEPT_COMMAND.format(node=target.node)
    # NOTE: the command is in the message itself, not only in the hint: the engine's stage
    # report and `racker status` show messages.
    return BmcCertificateChanged(
        target.node, _where(target),
        f"pinned {pinned}, now presents {seen}{mac}; if that is expected, accept it with "
        f"'{accept}'",
        hint=("accept a certificate only if it was replaced on purpose (firmware update, BMC "
              "reset); otherwise something on the rack network may be intercepting the BMC"))


class PinnedAdapter(HTTPAdapter):
    """An HTTPS adapter that accepts exactly one certificate, by its SHA-256 fingerprint."""

    def __init__(self, sha256: str):
        self.sha256 = sha256.replace(":", "").lower()
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        """Pools whose every handshake must present the pinned fingerprint (urllib3 checks it
        in place of a CA; were a caller to ask for a CA check as well, both would apply)."""
        # NOTE: a context of our own: without one urllib3 builds a new one per connection and
        # loads the system's CA bundle into it, which no pinned connection uses (~15 ms each).
        super().init_poolmanager(connections, maxsize, block, ssl_context=_pinned_context(),
                                 assert_fingerprint=self.sha256, **pool_kwargs)


def _pinned_context() -> ssl.SSLContext:
    """A client context for pinned connections: the fingerprint is the check, not a CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class PinnedConnector(sushy_connector.Connector):  # type: ignore[misc]
    """sushy's connector whose HTTPS connections must present the pinned certificate."""

    def __init__(self, url: str, sha256: str, **kwargs: Any):
        super().__init__(url, verify=False, **kwargs)
        # NOTE: sushy has no hook for an adapter of our own; its session is a requests.Session
        # and mounting on it is how requests means adapters to be added.
        self._session.mount("https://", PinnedAdapter(sha256))
        keep_alive(self)


def keep_alive(conn: Any) -> None:
    """Let sushy's connector reuse its TLS connection for the run.

    NOTE: sushy asks BMCs to close every connection ('field studies reveal that some BMCs
    choke at long-running persistent connections'); racker's sessions last one command, and a
    new TLS handshake per request made a status of 48 BMCs take seconds. urllib3 notices a
    connection the BMC closed and opens a new one.
    """
    conn._session.headers.pop("Connection", None)


def _where(target: BmcTarget) -> str:
    return target.address if target.port == 443 else f"{target.address}:{target.port}"
