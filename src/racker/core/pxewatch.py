"""Which nodes' consoles to record for the PXE boots that no provisioning run follows (pure).

`racker pxe-boot` (what lokoctl runs as `pxe_commands`, or an operator by hand) and the
dashboard's PXE boot and reprovision actions power a node into its installer and end; no engine
follows that boot. A long-running racker (`racker serve`, or a bootstrap or apply whose lokoctl
calls pxe-boot) records the node's console instead, from the `stage pxe` event those commands
record until the node reports `booted` or fails (plus a short grace for the lines that follow),
or until a bound passes (a node that never reports, e.g. stuck at an Ignition error). The
engine's own `stage pxe` for the node ends it: the engine records the consoles of the nodes it
installs itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from racker.core.events import Event, EventKind
from racker.core.nodetrust import opens_window

BY_PXE_BOOT = "racker pxe-boot"
"""The `by` of the `stage pxe` event that `racker pxe-boot` records."""

STARTING_ACTIONS = frozenset({"pxe-boot", "reprovision"})
"""The dashboard's node actions (`action` of their `stage pxe` event) that PXE boot a node."""

ENDS: frozenset[EventKind] = frozenset({
    EventKind.BOOTED, EventKind.INSTALL_FAILED, EventKind.ERROR, EventKind.EXCLUDED,
})
"""The node's reports after which its boot is over: up, or failed."""

KINDS: frozenset[EventKind] = ENDS | {EventKind.STAGE}
"""Every kind of event `fold` reads (a follower reads only these)."""

GRACE = 10.0
"""Seconds the console is still recorded after the boot is over (a login prompt, the rest of
an installer's failure text)."""

_NOT_THE_ENGINE = frozenset({"by", "action", "discovery"})
"""Keys of a `stage pxe` event that someone other than the engine recorded."""


def starts(e: Event) -> bool:
    """Whether `e` is a PXE boot that no engine follows: `racker pxe-boot`'s or a dashboard
    action's (its first event; the action's result is recorded in a second one)."""
    if not opens_window(e):
        return False
    action = e.detail.get("action")
    return e.detail.get("by") == BY_PXE_BOOT or (
        action in STARTING_ACTIONS and "result" not in e.detail)


def engine_takes_over(e: Event) -> bool:
    """Whether `e` is the engine's own `stage pxe` (it records the node's console itself)."""
    return opens_window(e) and not _NOT_THE_ENGINE & e.detail.keys()


@dataclass(frozen=True)
class Watched:
    """One node's boot being recorded: until `until` (a time on the events' clock)."""

    mac: str
    until: float
    over: bool = False
    """The node reported that its boot is over (`until` is then the grace's end)."""


def fold(watched: Mapping[str, Watched], events: Iterable[Event], *, bound: float,
         grace: float = GRACE) -> dict[str, Watched]:
    """`watched` after `events` (oldest first): a PXE boot starts (or restarts) a node's
    recording for `bound` seconds, its end shortens it to `grace`, the engine ends it."""
    out = dict(watched)
    for e in events:
        if starts(e):
            out[e.mac] = Watched(e.mac, e.ts + bound)
        elif e.mac not in out:
            continue
        elif engine_takes_over(e):
            del out[e.mac]
        elif e.kind in ENDS and not out[e.mac].over:
            out[e.mac] = Watched(e.mac, min(out[e.mac].until, e.ts + grace), over=True)
    return out


def due(watched: Mapping[str, Watched], now: float) -> tuple[set[str], set[str]]:
    """(the nodes to record at `now`, the nodes whose recording is over)."""
    live = {mac for mac, w in watched.items() if now < w.until}
    return live, set(watched) - live


def console_answered(events: Iterable[Event], mac: str, after_id: int) -> bool:
    """Whether a recorder answered for `mac` after event `after_id`: its capture began, was
    lost, or the BMC has no console (what `racker pxe-boot` waits for before power-on)."""
    return any(e.mac == mac and e.kind is EventKind.CONSOLE and e.id > after_id for e in events)
