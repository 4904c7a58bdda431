"""The chassis behind a virtual BMC: what the BMC switches and whose serial port it carries.

A simulated node implements `Chassis` (or wraps `MemoryChassis`) so it reacts to power changes
(and learns which device the BIOS would boot from) and exchanges serial bytes with SOL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Protocol


class PowerAction(Enum):
    """What a chassis control command asks for (IPMI 2.0 table 28-4)."""

    OFF = "off"
    ON = "on"
    CYCLE = "cycle"
    RESET = "reset"
    DIAG = "diag"
    SOFT = "soft"


class BootDevice(IntEnum):
    """Boot device selector of boot parameter 5, byte 2 bits 5:2."""

    NONE = 0
    PXE = 1
    DISK = 2
    DISK_SAFE = 3
    DIAG = 4
    CDROM = 5
    BIOS = 6
    REMOTE_FLOPPY = 7
    REMOTE_CDROM = 8
    REMOTE_MEDIA = 9
    REMOTE_DISK = 11
    FLOPPY = 15


@dataclass(frozen=True)
class BootRequest:
    """The boot device the BIOS is asked to use on this power-up or reset."""

    device: BootDevice
    efi: bool = False
    persistent: bool = False


ConsoleSink = Callable[[bytes], None]
"""Where a chassis writes its serial output; thread-safe, never blocks."""


class Chassis(Protocol):
    """The node side of a virtual BMC. Methods are called from the BMC's event-loop thread."""

    def is_powered_on(self) -> bool:
        """Current power state."""
        ...

    def power(self, action: PowerAction, boot: BootRequest | None) -> None:
        """Carry out a power action; `boot` is set when the action powers up or resets."""
        ...

    def console_input(self, data: bytes) -> None:
        """Bytes typed on the SOL console, for the node's serial port."""
        ...

    def attach_console(self, sink: ConsoleSink | None) -> None:
        """Where to send serial output from now on (None: nobody listens)."""
        ...


PowerListener = Callable[[PowerAction, "BootRequest | None", bool], None]
"""Called after every power action with the boot request and the new power state."""


class MemoryChassis:
    """A chassis kept in memory: power state, the last boot request, serial bytes both ways.

    `listeners` are called after each power action (the simulator plugs its node in here);
    `emit_console` writes serial output; `console_received` collects what SOL typed.
    `echo=True` writes typed bytes back, like a terminal with echo on.
    """

    def __init__(self, powered_on: bool = False, echo: bool = False) -> None:
        self.powered_on = powered_on
        self.echo = echo
        self.last_boot: BootRequest | None = None
        self.actions: list[PowerAction] = []
        self.listeners: list[PowerListener] = []
        self.input_listeners: list[Callable[[bytes], None]] = []
        self.console_received = bytearray()
        self._sink: ConsoleSink | None = None
        self._lock = threading.Lock()

    def is_powered_on(self) -> bool:
        """Current power state."""
        return self.powered_on

    def power(self, action: PowerAction, boot: BootRequest | None) -> None:
        """Apply the action: on/cycle/reset leave the node on, off/soft leave it off."""
        self.actions.append(action)
        if action in (PowerAction.ON, PowerAction.CYCLE, PowerAction.RESET):
            self.powered_on = True
            self.last_boot = boot
        elif action in (PowerAction.OFF, PowerAction.SOFT):
            self.powered_on = False
        for listener in list(self.listeners):
            listener(action, boot, self.powered_on)

    def console_input(self, data: bytes) -> None:
        """Record typed bytes (and echo them when asked to)."""
        with self._lock:
            self.console_received += data
        for listener in list(self.input_listeners):
            listener(data)
        if self.echo:
            self.emit_console(data)

    def attach_console(self, sink: ConsoleSink | None) -> None:
        """Remember where serial output goes."""
        with self._lock:
            self._sink = sink

    def emit_console(self, data: bytes) -> bool:
        """Write serial output; False when no SOL session listens (the bytes are lost)."""
        with self._lock:
            sink = self._sink
        if sink is None:
            return False
        sink(data)
        return True
