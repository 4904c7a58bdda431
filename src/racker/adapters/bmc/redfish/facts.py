"""What `ipmi NODE diag` shows of a Redfish BMC: system and manager facts and the tail of the
event log (blocking; runs on the BMC's worker thread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOG_TAIL = 10
"""Event log entries shown, the newest last."""


@dataclass(frozen=True)
class Facts:
    """A Redfish BMC's system and manager in a few words."""

    manufacturer: str
    model: str
    serial: str
    uuid: str
    bios_version: str
    bmc_firmware: str
    health: str
    power: str
    log_tail: tuple[str, ...]


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    return "" if value is None else str(value)


def read_facts(conn: Any, system_path: str, manager_path: str | None) -> Facts:
    """The facts of a system and its manager (missing ones are empty)."""
    system = conn.get(system_path).json()
    manager = conn.get(manager_path).json() if manager_path else {}
    return Facts(
        manufacturer=_text(system, "Manufacturer"), model=_text(system, "Model"),
        serial=_text(system, "SerialNumber"), uuid=_text(system, "UUID"),
        bios_version=_text(system, "BiosVersion"),
        bmc_firmware=_text(manager, "FirmwareVersion"),
        health=_text(system.get("Status") or {}, "Health"),
        power=_text(system, "PowerState"),
        log_tail=_log_tail(conn, system, manager))


def _log_tail(conn: Any, *owners: dict[str, Any]) -> tuple[str, ...]:
    """The newest entries of the first log service (the system's, else the manager's)."""
    for owner in owners:
        services_uri = (owner.get("LogServices") or {}).get("@odata.id")
        if not services_uri:
            continue
        for member in conn.get(services_uri).json().get("Members") or []:
            service = conn.get(member["@odata.id"]).json()
            entries_uri = (service.get("Entries") or {}).get("@odata.id")
            if not entries_uri:
                continue
            entries = conn.get(entries_uri).json().get("Members") or []
            lines = [_entry_line(e if "Message" in e else conn.get(e["@odata.id"]).json())
                     for e in entries[-LOG_TAIL:]]
            return tuple(lines)
    return ()


def _entry_line(entry: dict[str, Any]) -> str:
    return " ".join(p for p in (_text(entry, "Created"), _text(entry, "Severity"),
                                _text(entry, "Message")) if p)
