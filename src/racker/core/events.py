"""What happened to a node: the events racker records, as the store, the timeline, status and
the engine share them (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """What happened. Stage transitions and outcomes of the engine, and what peers reported."""

    REQUEST = "request"  # an HTTP request to the boot server
    LEASE = "lease"  # dnsmasq handed out or renewed a lease
    STAGE = "stage"  # the engine entered a stage
    INSTALLED = "installed"  # the installer reported completion
    INSTALL_FAILED = "install-failed"  # the installer reported a failure, with its journal
    BOOTED = "booted"  # the installed OS reported its first boot
    INVENTORY = "inventory"  # the installer reported the node's hardware
    CABLING = "cabling"  # what the hardware says differs from nodes.csv (a warning)
    PROVISIONED = "provisioned"  # the engine finished the node
    EXCLUDED = "excluded"
    CONSOLE = "console"  # racker's capture of the node's serial console began, ended or cannot
    ERROR = "error"
    RUN = "run"  # a bootstrap/apply started or finished (mac "", detail: phase, command, run)


@dataclass(frozen=True)
class Event:
    """One row of the event log."""

    id: int
    ts: float
    mac: str
    kind: EventKind
    stage: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)
