from __future__ import annotations

from racker.core.events import Event, EventKind
from racker.core.timeline import describe, timeline_lines


def ev(i: int, ts: float, kind: EventKind, stage: str | None = None, **d: object) -> Event:
    return Event(i, ts, "aa:bb:cc:00:00:02", kind, stage, d)


def test_describe_each_kind() -> None:
    assert describe(ev(1, 0, EventKind.LEASE, action="add", ip="10.0.0.2")) == \
        "DHCP lease add 10.0.0.2"
    assert describe(ev(1, 0, EventKind.REQUEST, path="/ipxe", query="mac=x", status=200,
                       client="10.0.0.2")) == "HTTP /ipxe?mac=x → 200 from 10.0.0.2"
    assert describe(ev(1, 0, EventKind.STAGE, "pxe")) == "stage pxe started"
    assert describe(ev(1, 0, EventKind.STAGE, "bmc", result="ok", bmc="10.0.0.9")) == \
        "stage bmc done (BMC at 10.0.0.9)"
    assert describe(ev(1, 0, EventKind.ERROR, "install", error="timed out")) == \
        "error in stage install: timed out"
    assert describe(ev(1, 0, EventKind.BOOTED)) == "node reported booted"
    assert describe(ev(1, 0, EventKind.PROVISIONED)) == "provisioned"


def test_timeline_relative_times() -> None:
    lines = timeline_lines([ev(1, 100.0, EventKind.STAGE, "pxe"),
                            ev(2, 102.5, EventKind.INSTALLED)], utc=True)
    assert lines[0] == "1970-01-01 00:01:40.000  +    0.00s  stage pxe started"
    assert lines[1] == "1970-01-01 00:01:42.500  +    2.50s  node reported installed"
    assert timeline_lines([]) == []


def test_what_clients_sent_is_escaped() -> None:
    # a path with a terminal escape sequence (clear screen, a fake line) and a bidi override
    line = describe(ev(1, 0, EventKind.REQUEST, path="/x\x1b[2J\x1b[1;1H\nnode reported booted",
                       query="a=\u202eb\\x", status=404, client="10.0.0.2"))
    assert line == ("HTTP /x\\x1b[2J\\x1b[1;1H\\nnode reported booted?a=\\u202eb\\\\x → 404 "
                    "from 10.0.0.2")
    assert all(c.isprintable() for c in line)
    assert "\n" not in "".join(timeline_lines([ev(1, 0, EventKind.ERROR, "x\ny", error="\r")]))


def test_requests_not_from_the_node_are_marked() -> None:
    assert describe(ev(1, 0, EventKind.REQUEST, path="/ipxe", query="mac=x", status=200,
                       client="10.0.0.9", foreign=True)) == \
        "HTTP /ipxe?mac=x → 200 from 10.0.0.9 [not from the node's address]"


def test_timeline_orders_by_event_time_not_insertion() -> None:
    # The lease hook's spool reaches the store after the boot server's request it preceded.
    lines = timeline_lines([ev(1, 101.00, EventKind.REQUEST, path="/boot.ipxe", status=200,
                               client="10.0.0.2"),
                            ev(2, 100.96, EventKind.LEASE, action="add", ip="10.0.0.2"),
                            ev(3, 101.00, EventKind.STAGE, "ipxe")], utc=True)
    assert lines == [
        "1970-01-01 00:01:40.960  +    0.00s  DHCP lease add 10.0.0.2",
        "1970-01-01 00:01:41.000  +    0.04s  HTTP /boot.ipxe → 200 from 10.0.0.2",
        "1970-01-01 00:01:41.000  +    0.04s  stage ipxe started",
    ]


def test_install_failed_and_console_events_are_described() -> None:
    text = describe(ev(1, 0, EventKind.INSTALL_FAILED, journal=["a", "b\x1b[2J"],
                       exit_status=1))
    assert text.splitlines() == ["node reported install-failed (exit status 1), its "
                                 "journal's tail:", "    | a", "    | b\\x1b[2J"]
    assert describe(ev(2, 0, EventKind.CONSOLE, state="capturing")) == \
        "console capture: Serial over LAN"
    assert describe(ev(3, 0, EventKind.CONSOLE, state="unsupported", detail="redfish")) == \
        "console capture: none, the BMC has no serial console (redfish)"


def test_console_lines_interleave_by_time() -> None:
    events = [ev(1, 10.0, EventKind.STAGE, "pxe"), ev(2, 12.0, EventKind.ERROR, "boot",
                                                      error="timed out")]
    lines = timeline_lines(events, utc=True, console=[(11.0, "Linux version"),
                                                      (12.0, "emergency\x07")])
    assert [line.split("s  ", 1)[1] for line in lines] == [
        "stage pxe started", "console | Linux version", "error in stage boot: timed out",
        "console | emergency?"]
    assert "  +    1.00s  console | Linux version" in lines[1]
