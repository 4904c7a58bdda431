"""What the boot server believes of a node's requests (pure): whether racker has the node in
its install window, and which reports are repeats to answer without acting again.

The rack network is not authenticated: anyone on it can claim a node's MAC and address. These
rules bound what such a claim achieves (docs/security.md): the installer Ignition and the
`installed` report, which change a node's disk and boot device, are accepted only while racker
itself is installing that node; every other report is acted on at most once per interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from racker.core.events import Event, EventKind

OPENS_STAGE = "pxe"
"""The engine's (and `racker pxe-boot`'s) `stage` event of this name opens a node's window:
racker is about to power the node on from the network."""

CLOSES: frozenset[EventKind] = frozenset({
    EventKind.INSTALLED, EventKind.INSTALL_FAILED, EventKind.PROVISIONED, EventKind.ERROR,
    EventKind.EXCLUDED,
})
"""Events after which the node is no longer being installed."""

WINDOW_KINDS: frozenset[EventKind] = CLOSES | {EventKind.STAGE}
"""The kinds whose newest event decides the window (a `stage` event counts only as `pxe`)."""

INSTALL_WINDOW = 2400.0
"""Seconds a window stays open at most: the engine's pxe, dhcp, ipxe and install timeouts."""


def opens_window(e: Event) -> bool:
    """Whether `e` opens a node's install window."""
    return e.kind is EventKind.STAGE and e.stage == OPENS_STAGE


def report_epoch_kinds(kind: EventKind) -> tuple[frozenset[EventKind], str | None]:
    """Which events start a new epoch of reports of `kind` (`ReportGate`): the window's opening
    for `installed`, `install-failed` and `inventory`, an `installed` for `booted`."""
    if kind in (EventKind.INSTALLED, EventKind.INSTALL_FAILED, EventKind.INVENTORY):
        return frozenset({EventKind.STAGE}), OPENS_STAGE
    return frozenset({EventKind.INSTALLED}), None


def in_install_window(last: Event | None, now: float, limit: float = INSTALL_WINDOW) -> bool:
    """Whether a node whose newest window event is `last` is being installed at `now`."""
    return last is not None and opens_window(last) and 0 <= now - last.ts <= limit


@dataclass
class ReportGate:
    """Acts on each node's report of one kind at most once per `interval` seconds and epoch.

    A repeat within the interval (a retrying installer, a flood of spoofed `booted`) is answered
    without calling the engine or writing an event again. The epoch is what makes a report new
    whatever the time: for `installed` the install window it belongs to, for `booted` the
    install before it (a node reinstalled at once reports both again).
    """

    clock: Callable[[], float]
    interval: float = 30.0
    _last: dict[tuple[str, EventKind], tuple[float, int]] = field(default_factory=dict)

    def repeat(self, mac: str, kind: EventKind, epoch: int = 0) -> bool:
        """Whether this report repeats one of the same epoch acted on less than `interval`
        seconds ago."""
        seen = self._last.get((mac, kind))
        return (seen is not None and seen[1] == epoch
                and 0 <= self.clock() - seen[0] < self.interval)

    def acted(self, mac: str, kind: EventKind, epoch: int = 0) -> None:
        """Remember that the report was acted on now."""
        if len(self._last) > 65536:  # bounded whatever arrives: forget the oldest half
            for key in sorted(self._last, key=lambda k: self._last[k][0])[:32768]:
                del self._last[key]
        self._last[(mac, kind)] = (self.clock(), epoch)

    def forget(self, mac: str, kind: EventKind) -> None:
        """Acting failed: the next report of this kind is acted on again."""
        self._last.pop((mac, kind), None)
