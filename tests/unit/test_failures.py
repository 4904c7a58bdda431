"""Why a node last failed, from its events (pure parts of racker.app.failures)."""

from __future__ import annotations

from racker.app.failures import NodeFailure, failure_lines, last_failure
from racker.core.events import Event, EventKind

MAC = "52:54:00:00:00:01"


def ev(i: int, kind: EventKind, stage: str | None = None, **d: object) -> Event:
    return Event(i, float(i), MAC, kind, stage, d)


def test_the_last_attempt_decides() -> None:
    failed = [ev(1, EventKind.STAGE, "pxe"),
              ev(2, EventKind.INSTALL_FAILED, journal=["old"]),
              ev(3, EventKind.ERROR, "install", error="first"),
              ev(4, EventKind.STAGE, "pxe"),
              ev(5, EventKind.STAGE, "install"),
              ev(6, EventKind.INSTALL_FAILED, journal=["new", "Error: x"]),
              ev(7, EventKind.ERROR, "install", error="the installer failed: Error: x")]
    f = last_failure(failed, MAC, "node-0", ["console"])
    assert f == NodeFailure(MAC, "node-0", "install", "the installer failed: Error: x",
                            ("new", "Error: x"), ("console",))
    assert last_failure([*failed, ev(8, EventKind.STAGE, "pxe")], MAC, "node-0") is None
    assert last_failure([*failed, ev(8, EventKind.PROVISIONED)], MAC, "node-0") is None
    assert last_failure([], MAC, "node-0") is None
    boot = [ev(1, EventKind.STAGE, "pxe"), ev(2, EventKind.ERROR, "boot", error="timed out")]
    assert last_failure(boot, MAC, "node-0") == NodeFailure(MAC, "node-0", "boot", "timed out")


def test_failure_lines() -> None:
    f = NodeFailure(MAC, "node-0", "boot", "timed out", (), ("a", "b"))
    assert failure_lines(f) == [
        f"node-0 ({MAC}) failed at stage boot: timed out",
        f"  its console (last 2 lines; all with 'racker node console-log {MAC}'):",
        "    > a", "    > b"]
