from __future__ import annotations

import io

from racker.engine.progress import (
    Outcome,
    ProgressDisplay,
    failure_details,
    node_lines,
    stage_line,
)
from racker.engine.run import NodeState, NodeStatus, RunState
from racker.engine.stages import Stage
from racker.model import Node, PlannedNode, Role


def status(i: int, stage: Stage, state: NodeState, error: str = "") -> NodeStatus:
    mac = f"52:54:00:00:00:{i:02x}"
    node = PlannedNode(Node(mac, "52:54:00:00:01:00", None, "", "", 2), Role.NODE, i,
                       f"node-{i}", "10.0.0.2", "10.0.0.3")
    return NodeStatus(node, stage, state, error)


def run_of(*s: NodeStatus) -> RunState:
    return RunState({x.node.mac: x for x in s})


def test_stage_lines_as_documented() -> None:
    assert stage_line("Checking BMC connectivity", 10, 10, Outcome.DONE) == \
        "➤ Checking BMC connectivity (10/10)... ✓ done"
    assert stage_line("OS installation via PXE", 8, 10, Outcome.FAILED) == \
        "➤ OS installation via PXE (8/10)... × failed"
    assert stage_line("OS installation via PXE", 3, 10, Outcome.RUNNING, tick=0) == \
        "➤ OS installation via PXE (3/10)."
    assert stage_line("OS installation via PXE", 3, 10, Outcome.RUNNING, tick=2) == \
        "➤ OS installation via PXE (3/10)..."


def test_node_lines_show_busy_and_failed_sorted_and_limited() -> None:
    run = run_of(status(2, Stage.INSTALL, NodeState.RUNNING),
                 status(1, Stage.BOOT, NodeState.DONE),
                 status(0, Stage.DHCP, NodeState.FAILED, "timed out waiting (300 s)"),
                 status(3, Stage.PXE, NodeState.RUNNING))
    lines = node_lines(run, 2)
    assert lines[0].startswith("  × node-0") and "timed out waiting (300 s)" in lines[0]
    assert lines[1].startswith("  · node-2") and "install" in lines[1]
    assert lines[2] == "  … and 1 more"


def test_plain_output_prints_only_changes() -> None:
    out = io.StringIO()
    d = ProgressDisplay(out, tty=False)
    run = run_of(status(0, Stage.DHCP, NodeState.RUNNING), status(1, Stage.DHCP, NodeState.RUNNING))
    d.update("OS installation via PXE", run)
    d.update("OS installation via PXE", run)
    run.nodes["52:54:00:00:00:00"].state = NodeState.DONE
    d.update("OS installation via PXE", run)
    run.nodes["52:54:00:00:00:01"].state = NodeState.FAILED
    run.nodes["52:54:00:00:00:01"].error = "boom"
    d.finish("OS installation via PXE", run, ok=False)
    assert out.getvalue().splitlines()[:3] == [
        "➤ OS installation via PXE (0/2)...",
        "➤ OS installation via PXE (1/2)...",
        "➤ OS installation via PXE (1/2)... × failed",
    ]
    assert "\x1b" not in out.getvalue() and "boom" in out.getvalue()


def test_terminal_output_redraws_in_place() -> None:
    out = io.StringIO()
    d = ProgressDisplay(out, tty=True)
    run = run_of(status(0, Stage.DHCP, NodeState.RUNNING))
    d.update("OS installation via PXE", run)
    d.update("OS installation via PXE", run)
    run.nodes["52:54:00:00:00:00"].state = NodeState.DONE
    d.finish("OS installation via PXE", run, ok=True)
    text = out.getvalue()
    assert text.count("\x1b[2F\x1b[J") == 2  # the 2-line block was redrawn twice
    assert text.endswith("➤ OS installation via PXE (1/1)... ✓ done\n")


def test_counters_never_go_backwards_over_a_recheck() -> None:
    """apply checks the BMCs, re-checks the one that failed, then installs: each stage's
    counter only grows, and the BMC check is not shown under the install title."""
    import re

    out = io.StringIO()
    d = ProgressDisplay(out, tty=False)
    first = run_of(status(0, Stage.BMC, NodeState.DONE), status(1, Stage.BMC, NodeState.FAILED))
    first.bmc_check = True
    d.update("Checking BMC connectivity", first)
    again = run_of(status(1, Stage.BMC, NodeState.RUNNING))
    d.update("Checking BMC connectivity", again)
    again.nodes["52:54:00:00:00:01"].state = NodeState.DONE
    d.update("Checking BMC connectivity", again)
    lines = out.getvalue().splitlines()
    assert lines == ["➤ Checking BMC connectivity (1/2)...",
                     "➤ Checking BMC connectivity (2/2)..."]
    counts = [int(m.group(1)) for line in lines
              if (m := re.search(r"\((\d+)/", line))]
    assert counts == sorted(counts)


def test_failure_details_show_the_journal_console_and_the_installers_ssh() -> None:
    failed = status(1, Stage.INSTALL, NodeState.FAILED, "the installer failed: disk gone")
    failed.report = tuple(f"journal {i}" for i in range(30))
    failed.console = ("BdsDxe: loading", "[FAILED] Failed to start installer.service.")
    quiet = status(2, Stage.DHCP, NodeState.FAILED, "timed out")  # nothing to add: left out
    lines = failure_details([quiet, failed])
    assert lines[0] == ("node-1 (52:54:00:00:00:01) failed at stage install: the installer "
                        "failed: disk gone")
    assert lines[1] == ("  the installer's journal (last 20 lines; 10 more in 'racker node "
                        "timeline 52:54:00:00:00:01'):")
    assert lines[2] == "    | journal 10" and lines[21] == "    | journal 29"
    assert lines[22] == ("  its console (last 2 lines; all with 'racker node console-log "
                         "52:54:00:00:00:01'):")
    assert lines[23:25] == ["    > BdsDxe: loading",
                            "    > [FAILED] Failed to start installer.service."]
    assert lines[25] == "  the installer stays up for a look: ssh -p 2222 core@10.0.0.2"
    assert len(lines) == 26
