"""Use case: why each node last failed, as `racker status --full` and a run's log folder show
it: the stage and reason the engine recorded, the installer's journal tail if it sent one, and
the last lines of the node's console as racker recorded it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from racker.adapters.fs.consolelog import tail
from racker.adapters.fs.store import Store
from racker.core.events import Event, EventKind
from racker.core.installreport import SHOWN_LINES
from racker.core.nodetrust import opens_window
from racker.core.timeline import printable
from racker.paths import Paths

_OUTCOMES = frozenset({EventKind.ERROR, EventKind.PROVISIONED, EventKind.STAGE})


@dataclass(frozen=True)
class NodeFailure:
    """A node's last failure, if its last provisioning attempt ended in one."""

    mac: str
    name: str
    stage: str
    error: str
    journal: tuple[str, ...] = ()
    console: tuple[str, ...] = ()


def last_failure(events: Sequence[Event], mac: str, name: str,
                 console: Sequence[str] = ()) -> NodeFailure | None:
    """The failure that ended the node's last attempt (pure): None when that attempt
    succeeded, runs still, or there was none. `events` are the node's, oldest first."""
    attempt = [e for e in events if e.kind in _OUTCOMES
               and (e.kind is not EventKind.STAGE or opens_window(e))]
    if not attempt or attempt[-1].kind is not EventKind.ERROR:
        return None
    error = attempt[-1]
    start = next((e.id for e in reversed(attempt) if opens_window(e)), 0)
    reports = [e for e in events if e.kind is EventKind.INSTALL_FAILED and e.id > start]
    journal = reports[-1].detail.get("journal") if reports else None
    return NodeFailure(mac, name, printable(error.stage or ""),
                       printable(error.detail.get("error", "")),
                       tuple(str(x) for x in journal) if isinstance(journal, list) else (),
                       tuple(console))


def failure_lines(f: NodeFailure, shown: int = SHOWN_LINES) -> list[str]:
    """A failure as the reports print it (pure)."""
    out = [f"{f.name} ({f.mac}) failed at stage {f.stage}: {f.error}"]
    if f.journal:
        out.append(f"  the installer's journal (last {min(shown, len(f.journal))} lines):")
        out += [f"    | {line}" for line in f.journal[-shown:]]
    if f.console:
        out.append(f"  its console (last {min(shown, len(f.console))} lines; all with "
                   f"'racker node console-log {f.mac}'):")
        out += [f"    > {line}" for line in f.console[-shown:]]
    return out


def rack_failures(paths: Paths, nodes: Sequence[tuple[str, str]],
                  open_store: Callable[[], Store]) -> list[NodeFailure]:
    """The last failure of each of `nodes` ((primary MAC, name)) that has one."""
    out = []
    with open_store() as store:
        for mac, name in nodes:
            console = [text for _, text in tail(paths.console_dir, mac, SHOWN_LINES)]
            found = last_failure(store.events(mac), mac, name, console)
            if found is not None:
                out.append(found)
    return out
