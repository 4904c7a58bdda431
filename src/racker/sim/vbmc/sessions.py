"""A virtual BMC's sessions, SOL link and faults (data), and what its commands see of it.

The engine (`engine.py`) owns these; the command handlers (`commands.py`) see the engine only
through `EngineView`, so that neither module imports the other's types in a cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from racker.adapters.bmc.ipmi import wire as wire
from racker.sim.vbmc.chassis import Chassis
from racker.sim.vbmc.state import PRIV_USER, BootOptions, UserTable

Addr = tuple[Any, ...]
Outbound = tuple[bytes, Addr]



@dataclass
class Faults:
    """Failures a test can switch on per BMC at run time."""

    drop: bool = False
    """No answer at all: every datagram is ignored."""
    delay: float = 0.0
    """Slow answer: every datagram is handled this many seconds late."""
    loss: float = 0.0
    """A lossy BMC: this fraction of the datagrams it receives is dropped unanswered."""
    reject_auth: bool = False
    """Wrong credentials: every login fails as with a wrong password."""
    no_session: bool = False
    """No free session slot: every Open Session Request is refused."""
    lose_boot_flags: bool = False
    """The BMC forgets the boot flags at every power-up or reset, even persistent ones."""
    ignore_boot_flags: bool = False
    """Set System Boot Options parameter 5 is acknowledged but not stored."""


@dataclass
class Session:
    """One RMCP+ session, from Open Session Request to close or idle expiry."""

    managed_sid: bytes
    console_sid: bytes
    addr: Addr
    suite: wire.CipherSuite
    last_seen: float
    active: bool = False
    rm: bytes = b""
    rc: bytes = b""
    role: int = 0
    username: bytes = b""
    kuid: bytes = b""
    rejected: bool = False
    keys: wire.SessionKeys | None = None
    max_priv: int = PRIV_USER
    priv: int = PRIV_USER
    out_seq: int = 0

    @property
    def sid(self) -> int:
        """The managed system session ID as the session header carries it."""
        return int.from_bytes(self.managed_sid, "little")


SOL_ACCUMULATE_INTERVAL = 12
"""SOL configuration parameter 3, byte 1 (5 ms units): output waits this long for more
before it goes out in a packet, as a BMC's serial controller gathers characters."""
SOL_SEND_THRESHOLD = 96
"""SOL configuration parameter 3, byte 2: this many characters go out at once."""


@dataclass
class SolLink:
    """The one active SOL payload of a BMC and its transmit state."""

    session: Session
    encrypt: bool
    out_buf: bytearray = field(default_factory=bytearray)
    pending: wire.SolPacket | None = None
    buffered_at: float = 0.0
    """When the oldest byte of `out_buf` came from the serial port."""
    sent_at: float = 0.0
    retries: int = 0
    next_seq: int = 0
    last_in_seq: int = 0


class EngineView(Protocol):
    """What a command handler reads and changes of its BMC."""

    users: UserTable
    boot: BootOptions
    chassis: Chassis
    port: int
    faults: Faults
    session_limit: int
    guid: bytes
    clock: Callable[[], float]
    sessions: dict[int, Session]
    sol: SolLink | None
    restore_policy: int
    last_power_event: int
    restart_cause: int

    def log(self, message: str) -> None:
        """Report a state change to whoever runs this BMC."""

    def close(self, sid: int) -> None:
        """End a session and the SOL payload it holds."""

    def active_sessions(self) -> int:
        """Number of established sessions."""

    def activate_sol(self, session: Session, encrypt: bool) -> None:
        """Start the SOL payload on `session`."""

    def deactivate_sol(self) -> None:
        """Stop the SOL payload, whoever holds it."""

    def sol_activation_data(self) -> bytes:
        """Activate Payload response data."""
