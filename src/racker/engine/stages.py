"""Stages, their order, and how long each may take."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    BMC = "bmc"
    PXE = "pxe"
    DHCP = "dhcp"
    IPXE = "ipxe"
    INSTALL = "install"
    BOOT = "boot"


ORDER: tuple[Stage, ...] = tuple(Stage)

WHAT = {
    Stage.BMC: "reaching the BMC",
    Stage.PXE: "setting PXE boot and powering on",
    Stage.DHCP: "waiting for the node's DHCP request",
    Stage.IPXE: "waiting for the node's iPXE request",
    Stage.INSTALL: "waiting for the installer to finish",
    Stage.BOOT: "waiting for the first boot from disk",
}


@dataclass(frozen=True)
class Timeouts:
    """Seconds each stage may take before the node counts as failed."""

    bmc: float = 30.0
    """Opening a session once the BMC is found (finding it has its own RETRY_SEC)."""
    pxe: float = 120.0
    dhcp: float = 300.0
    ipxe: float = 180.0
    install: float = 1800.0
    boot: float = 900.0

    def of(self, stage: Stage) -> float:
        t: float = getattr(self, stage.value)
        return t

    @classmethod
    def scaled(cls, factor: float, floor: float = 5.0) -> Timeouts:
        """All timeouts multiplied by `factor` (the simulator's nodes are fast), at least `floor`
        seconds each (a BMC command under load needs a few seconds whatever the rack)."""
        base = cls()
        return cls(**{s.value: max(floor, base.of(s) * factor) for s in Stage})
