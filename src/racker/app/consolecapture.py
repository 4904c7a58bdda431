"""Use case: the serial consoles of the nodes a run provisions, recorded while it runs.

One task per node holds a Serial-over-LAN session through the node's BMC (a dangling session
is deactivated first) and appends what the host writes to `<state>/console/<mac>.log`
(`racker.adapters.fs.consolelog`). A lost session is opened again after a pause, without
taking it from another client: an operator who attached with `ipmi NODE` keeps the console
until they leave. A BMC without SOL (a Redfish-only one) is said so once, in the console log
and the node's timeline. The
engine asks for a node's last lines when it fails it (the failure reports show them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from racker.adapters.bmc.errors import Unsupported
from racker.adapters.fs.consolelog import ConsoleLog, clear_held, mark_held, tail
from racker.adapters.fs.store import Store
from racker.core.consolelines import is_stop_line
from racker.core.events import EventKind
from racker.errors import RackerError
from racker.model import PlannedNode

OpenConsole = Callable[[PlannedNode, bool], Awaitable[AsyncIterator[bytes]]]
"""A node's serial console as a byte stream (`RackControl.serial_console`); the flag: take the
SOL session over from another client."""

REOPEN_AFTER = 5.0
"""Seconds before a lost SOL session is opened again."""
READY_WAIT = 3.0
"""Seconds a node's power-on waits at most for its console to be captured (a real server's
firmware takes longer than that before it prints anything that matters)."""


@dataclass
class ConsoleCapture:
    """Records the consoles of the nodes of one run (the engine's `Watch`)."""

    open_console: OpenConsole
    console_dir: Path
    store: Store
    reopen_after: float = REOPEN_AFTER
    ready_wait: float = READY_WAIT
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _ready: dict[str, asyncio.Event] = field(default_factory=dict)
    _logs: dict[str, ConsoleLog] = field(default_factory=dict)
    _stops: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    _streams: dict[str, AsyncIterator[bytes]] = field(default_factory=dict)

    def start(self, nodes: Sequence[PlannedNode]) -> None:
        """One capture task per node not captured yet."""
        for node in nodes:
            task = self._tasks.get(node.mac)
            if task is None or task.done():
                self._ready[node.mac] = asyncio.Event()
                self._tasks[node.mac] = asyncio.create_task(self._capture(node),
                                                            name=f"console-{node.name}")

    async def ready(self, node: PlannedNode) -> None:
        """Until the node's console is captured, or it cannot be, or READY_WAIT passed (a
        slow BMC must not hold the provisioning up)."""
        event = self._ready.get(node.mac)
        if event is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.ready_wait)

    async def stop(self, nodes: Sequence[PlannedNode] | None = None, note: str = "") -> None:
        """End the capture of `nodes` (default: every node); each deactivates its SOL session
        and writes its last line, then `note` as a line of racker's own."""
        if nodes is None:
            tasks, self._tasks = list(self._tasks.values()), {}
        else:
            tasks = [t for t in (self._tasks.pop(n.mac, None) for n in nodes) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if note:
            for node in nodes or ():
                log = self._log(node)
                log.note(note)
                log.close()

    def stopped(self, node: PlannedNode) -> asyncio.Future[str]:
        """The first console line from now on that says the node stopped for good."""
        waiting = self._stops.get(node.mac)
        if waiting is None or waiting.done():
            waiting = self._stops[node.mac] = asyncio.get_running_loop().create_future()
        return waiting

    def _seen(self, node: PlannedNode, lines: list[str]) -> None:
        waiting = self._stops.get(node.mac)
        if waiting is None or waiting.done():
            return
        for line in lines:
            if is_stop_line(line):
                waiting.set_result(line)
                return

    def last_lines(self, node: PlannedNode, n: int) -> list[str]:
        """The node's last `n` console lines (from its log: earlier runs' lines too), with
        what its stream has received but not handed over yet. NOTE: a failing installer
        writes its last lines and reports at once; the report must not beat them to the log."""
        stream = self._streams.get(node.mac)
        if stream is not None:
            self._seen(node, self._log(node).feed(_unread(stream)))
        return [text for _, text in tail(self.console_dir, node.mac, n)]

    def _log(self, node: PlannedNode) -> ConsoleLog:
        log = self._logs.get(node.mac)
        if log is None:
            log = self._logs[node.mac] = ConsoleLog(self.console_dir, node.mac)
        return log

    def _event(self, node: PlannedNode, state: str, detail: str = "") -> None:
        self.store.add(node.mac, EventKind.CONSOLE,
                       detail={"state": state, **({"detail": detail} if detail else {})})

    async def _capture(self, node: PlannedNode) -> None:
        log = self._log(node)
        lost = ""
        first = True
        try:
            while True:
                try:
                    stream = await self.open_console(node, first)
                except Unsupported as e:
                    log.note(f"no serial console: {e.message}")
                    self._event(node, "unsupported", e.message)
                    return
                except RackerError as e:
                    lost = self._lost(node, log, lost, e.message)
                    self._set_ready(node)
                    first = False
                    await asyncio.sleep(self.reopen_after)
                    continue
                log.note("serial console captured (Serial over LAN)")
                self._event(node, "capturing")
                self._set_ready(node)
                mark_held(self.console_dir, node.mac)
                lost = ""
                self._streams[node.mac] = stream
                try:
                    async for chunk in stream:
                        self._seen(node, log.feed(chunk))
                except RackerError as e:
                    lost = self._lost(node, log, lost, e.message)
                finally:
                    del self._streams[node.mac]
                    self._seen(node, log.feed(_unread(stream)))  # stopped: what arrived last
                    clear_held(self.console_dir, node.mac)
                    await _aclose(stream)
                first = False
                await asyncio.sleep(self.reopen_after)
        finally:
            self._set_ready(node)
            log.close()

    def _set_ready(self, node: PlannedNode) -> None:
        event = self._ready.get(node.mac)
        if event is not None:
            event.set()

    def _lost(self, node: PlannedNode, log: ConsoleLog, last: str, why: str) -> str:
        """Note a failure to reach the console once per distinct reason (a BMC that refuses
        SOL every 5 s must not fill the log)."""
        if why != last:
            log.note(f"serial console not captured: {why}; trying again every "
                     f"{self.reopen_after:g} s")
            self._event(node, "lost", why)
        return why


def _unread(stream: AsyncIterator[bytes]) -> bytes:
    """What the stream received but was not read yet, if it keeps such (`SolStream.unread`)."""
    unread = getattr(stream, "unread", None)
    return unread() if unread is not None else b""


async def _aclose(stream: AsyncIterator[bytes]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(RackerError, OSError):
            await close()
