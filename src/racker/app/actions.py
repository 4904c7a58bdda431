"""Use case: the node actions of the API and the dashboard, the same as the CLI's.

`exclude` and `include` are `racker node exclude|include`; `pxe-boot` is `racker pxe-boot`;
`power-cycle` power-cycles the node through its BMC; `reprovision` removes the node's flag file
as `racker node reprovision` does and PXE-boots it, so the running boot server installs it
again. The BMC part of an action can take a minute (finding the BMC, retries): it runs in the
background and records its start and outcome as the node's events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from racker.app import nodeops
from racker.app.configuration.loaded import load_configured
from racker.app.pxeboot import find_node, pxe_boot
from racker.core.events import EventKind
from racker.core.render import config_folder
from racker.engine.control import Control
from racker.errors import InputError, RackerError
from racker.model import ClusterPlan, PlannedNode, Provision
from racker.paths import Paths


class Action(StrEnum):
    REPROVISION = "reprovision"
    EXCLUDE = "exclude"
    INCLUDE = "include"
    POWER_CYCLE = "power-cycle"
    PXE_BOOT = "pxe-boot"


class ActionControl(Control, Protocol):
    """The engine's BMC steps plus a power cycle (what the actions drive)."""

    async def power_cycle(self, node: PlannedNode) -> None:
        """Power-cycle the node (power it on when it is off)."""
        ...


CONFIRM = {
    Action.REPROVISION: "Reinstall {name} ({mac}) from the network? Its disk is wiped.",
    Action.EXCLUDE: "Take {name} ({mac}) out of the configuration?",
    Action.INCLUDE: "Add {name} ({mac}) back to the configuration?",
    Action.POWER_CYCLE: "Power-cycle {name} ({mac})? Its running system stops at once.",
    Action.PXE_BOOT: "Power-cycle {name} ({mac}) into a network boot? An installed node is "
                     "installed again.",
}
"""The question each action asks before it runs (the dashboard's confirmation)."""


POWER_CYCLE_TIMEOUT = 60.0
"""Seconds a power cycle may take, finding the BMC included."""


def configured_folder(paths: Paths) -> Path:
    """The rack's configuration folder (Flatcar or Lokomotive); InputError when none."""
    for p in Provision:
        folder = config_folder(paths, p)
        if (folder / "racker-options.yaml").is_file():
            return folder
    raise InputError("there is no configured rack", hint="run 'racker bootstrap' first")


def parse_action(raw: str) -> Action:
    """The action named `raw`; InputError listing the actions otherwise."""
    try:
        return Action(raw)
    except ValueError:
        raise InputError(f"unknown action '{raw}'",
                         hint=f"actions: {', '.join(a.value for a in Action)}") from None


@dataclass(frozen=True)
class Started:
    """What an action did at once (the lines the CLI would print) and, for the actions that
    drive a BMC, the rest of its work, to run in the background."""

    lines: list[str]
    work: Coroutine[Any, Any, None] | None = None


Record = Callable[[str, EventKind, str, Mapping[str, Any]], None]
"""Writes an event to the store: (MAC, kind, stage, detail)."""


@dataclass(frozen=True)
class NodeActions:
    """The actions over one rack; `open_control` gives BMCs for a plan (composition root),
    `record` writes an event (a background PXE boot's outcome lands on the node's timeline)."""

    paths: Paths
    open_control: Callable[[Paths, ClusterPlan], ActionControl]
    record: Record

    async def run(self, action: Action, mac: str) -> Started:
        """Carry out `action` on the node of `mac`: everything is checked before it returns;
        a PXE boot (alone or for a reprovision) goes on in `Started.work`."""
        folder = configured_folder(self.paths)
        if action is Action.EXCLUDE:
            return Started(list(nodeops.exclude(self.paths, folder, mac).lines))
        if action is Action.INCLUDE:
            return Started(list(nodeops.include(self.paths, folder, mac).lines))
        plan = load_configured(self.paths, folder).plan
        node = find_node(plan, mac)
        lines = []
        if action is Action.POWER_CYCLE:
            return Started([f"{node.name} ({node.mac}): power cycle started; its timeline shows "
                            "how it goes"], self._on_bmc(plan, node, action))
        if action is Action.REPROVISION:
            nodeops.forget_provisioned(self.paths, folder, node.mac)
            lines.append(f"{node.mac}: flag file removed, the node will be installed again")
        lines.append(f"{node.name} ({node.mac}): PXE boot started; its timeline shows how it "
                     "goes")
        return Started(lines, self._on_bmc(plan, node, action))

    async def _on_bmc(self, plan: ClusterPlan, node: PlannedNode, action: Action) -> None:
        """The BMC part of an action, its start and outcome recorded as the node's events
        (in stage `pxe`, where the engine powers nodes and sets their boot device)."""
        control = self.open_control(self.paths, plan)
        self.record(node.mac, EventKind.STAGE, "pxe", {"action": action.value})
        try:
            if action is Action.POWER_CYCLE:
                await asyncio.wait_for(control.power_cycle(node), POWER_CYCLE_TIMEOUT)
            else:
                await pxe_boot(control, node, node.name)
        except (RackerError, TimeoutError) as e:
            error = e.message if isinstance(e, RackerError) else "the BMC did not answer"
            self.record(node.mac, EventKind.ERROR, "pxe", {"error": error,
                                                           "action": action.value})
            return
        finally:
            await control.close()
        self.record(node.mac, EventKind.STAGE, "pxe", {"result": "ok", "action": action.value})
