"""Stage lines as operators know them, updated in place on a terminal, plain lines otherwise.

`➤ Checking BMC connectivity (10/10)... ✓ done`, `➤ OS installation via PXE (8/10)... × failed`,
with one line per unfinished node below the stage line when the terminal has room.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from enum import StrEnum
from typing import TextIO

from racker.core.installreport import SHOWN_LINES
from racker.core.render.installer import INSTALLER_SSH_PORT
from racker.engine.run import NodeState, NodeStatus, RunState
from racker.engine.stages import WHAT, Stage


class Outcome(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def stage_line(title: str, done: int, total: int, outcome: Outcome, tick: int = 2) -> str:
    """One stage line (pure). `tick` animates the ellipsis while running."""
    head = f"➤ {title} ({done}/{total})"
    if outcome is Outcome.DONE:
        return f"{head}... ✓ done"
    if outcome is Outcome.FAILED:
        return f"{head}... × failed"
    return head + "." * (tick % 3 + 1)


def node_lines(run: RunState, limit: int) -> list[str]:
    """Up to `limit` lines for the nodes still at work or failed, in name order (pure)."""
    busy = [s for s in run.nodes.values() if s.state is not NodeState.DONE]
    busy.sort(key=lambda s: s.node.name)
    out = []
    for s in busy[:limit]:
        what = s.error if s.state is NodeState.FAILED else WHAT[s.stage]
        mark = "×" if s.state is NodeState.FAILED else "·"
        out.append(f"  {mark} {s.node.name:<28} {s.node.mac}  {s.stage.value:<7} {what}")
    if len(busy) > limit:
        out.append(f"  … and {len(busy) - limit} more")
    return out


def failure_details(failed: Sequence[NodeStatus], shown: int = SHOWN_LINES) -> list[str]:
    """What each failed node said about its failure (pure): its reason, the last `shown` lines
    of its own report (the installer's journal) and of its console, for the failure summary."""
    out = []
    for s in sorted(failed, key=lambda s: s.node.name):
        if not s.report and not s.console:
            continue
        out.append(f"{s.node.name} ({s.node.mac}) failed at stage {s.stage.value}: {s.error}")
        if s.report:
            more = len(s.report) - shown
            out.append(f"  the installer's journal (last {min(shown, len(s.report))} lines"
                       + (f"; {more} more in 'racker node timeline {s.node.mac}'" if more > 0
                          else "") + "):")
            out.extend(f"    | {line}" for line in s.report[-shown:])
        if s.console:
            out.append(f"  its console (last {min(shown, len(s.console))} lines; all with "
                       f"'racker node console-log {s.node.mac}'):")
            out.extend(f"    > {line}" for line in s.console[-shown:])
        if s.report and s.stage is Stage.INSTALL:
            out.append(f"  the installer stays up for a look: ssh -p {INSTALLER_SSH_PORT} "
                       f"core@{s.node.ip}")
    return out


class ProgressDisplay:
    """Writes stage progress to `out`: redrawn in place on a terminal, else one line per change."""

    def __init__(self, out: TextIO, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._drawn = 0
        self._last_plain = ""
        self._tick = 0
        self._seen: dict[str, tuple[set[str], set[str]]] = {}
        """title → (every node shown, the nodes done) since the title's last finish: a
        recheck of some nodes (apply's BMC re-checks) adds to the counts instead of starting
        them again, so counters never go backwards."""

    def _room(self) -> int:
        return max(0, shutil.get_terminal_size((80, 24)).lines - 4)

    def _draw(self, lines: list[str]) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # back to the block's start, clear
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)

    def update(self, title: str, run: RunState, done: int | None = None) -> None:
        """Show `title` with the count of finished nodes and the busy nodes below it."""
        nodes, finished_nodes = self._seen.setdefault(title, (set(), set()))
        nodes.update(run.nodes)
        finished_nodes.update(m for m, s in run.nodes.items() if s.state is NodeState.DONE)
        total = len(nodes)
        finished = len(finished_nodes) if done is None else done
        if self.tty:
            self._tick += 1
            line = stage_line(title, finished, total, Outcome.RUNNING, self._tick)
            self._draw([line, *node_lines(run, self._room())])
        else:
            line = stage_line(title, finished, total, Outcome.RUNNING)
            if line != self._last_plain:
                self.out.write(line + "\n")
                self.out.flush()
                self._last_plain = line

    def finish(self, title: str, run: RunState, ok: bool) -> None:
        """The final stage line; on failure the failed nodes stay listed below it."""
        self._seen.pop(title, None)
        line = stage_line(title, run.count(NodeState.DONE), len(run.nodes),
                          Outcome.DONE if ok else Outcome.FAILED)
        failed = [] if ok else node_lines(
            RunState({k: v for k, v in run.nodes.items() if v.state is NodeState.FAILED}),
            limit=10_000)
        if self.tty:
            self._draw([line, *failed])
        else:
            self.out.write("".join(x + "\n" for x in [line, *failed]))
            self.out.flush()
        self._drawn = 0
        self._last_plain = ""
