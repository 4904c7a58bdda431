"""racker pxe-boot: the steps in order, each retried until the deadline, clear errors."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.app.pxeboot import open_window_recorded, pxe_boot, recorder_name, recording_line
from racker.cli import cmd_pxe_boot
from racker.core.events import EventKind
from racker.core.nodetrust import WINDOW_KINDS, in_install_window
from racker.errors import BmcError, InputError
from racker.model import ClusterPlan, PlannedNode
from racker.paths import Paths
from tests.nodeops_support import configured_rack, paths_env
from tests.rackfixtures import bmc_mac, primary_mac, secondary_mac
from tests.unit.test_engine import planned


@dataclass
class FlakyControl:
    """Each step fails `fails[step]` times before it works; records what succeeded."""

    fails: dict[str, int] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    closed: bool = False

    async def _step(self, name: str, node: PlannedNode) -> None:
        if self.fails.get(name, 0) > 0:
            self.fails[name] -= 1
            raise BmcError(f"BMC {node.node.bmc_mac}: {name} refused")
        self.done.append(name)

    async def check_bmc(self, node: PlannedNode) -> str:
        await self._step("check", node)
        return node.bmc_ip

    async def system_guid(self, node: PlannedNode) -> bytes | None:
        return None

    async def prepare_pxe(self, node: PlannedNode) -> None:
        await self._step("pxe", node)

    async def power_on(self, node: PlannedNode) -> None:
        await self._step("on", node)

    async def set_disk_boot(self, node: PlannedNode) -> None:
        raise AssertionError("pxe-boot never sets disk boot")

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        raise AssertionError("pxe-boot never sets disk boot")

    async def close(self) -> None:
        self.closed = True


def test_each_step_is_retried_then_power_on_last() -> None:
    ctl = FlakyControl(fails={"check": 2, "pxe": 1, "on": 1})
    asyncio.run(pxe_boot(ctl, planned(0), "node-0", retry_sec=5, interval=0.01))
    assert ctl.done == ["check", "pxe", "on"]


def test_gives_up_after_the_deadline_naming_the_domain_and_step() -> None:
    ctl = FlakyControl(fails={"pxe": 10_000})
    with pytest.raises(BmcError) as e:
        asyncio.run(pxe_boot(ctl, planned(1), "node-1", retry_sec=0.2, interval=0.01))
    text = str(e.value)
    assert "failed forcing a PXE boot for node-1 installer" in text
    assert "pxe refused" in text and "ipmi 52:54:00:00:00:01 diag" in text
    assert "on" not in ctl.done


def test_cli_finds_the_node_by_mac_in_the_folder(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    paths = configured_rack(tmp_path, 3)
    ctl = FlakyControl()
    seen: list[ClusterPlan] = []

    def open_ctl(_p: Paths, plan: ClusterPlan) -> FlakyControl:
        seen.append(plan)
        return ctl

    argv = [primary_mac(2).upper(), "node-1", "-C", str(paths.flatcar_dir)]
    assert cmd_pxe_boot.main(argv, paths=paths, open_ctl=open_ctl) == 0
    assert ctl.done == ["check", "pxe", "on"] and ctl.closed
    assert "node-1 (02:00:00:00:00:02) is booting from the network" in capsys.readouterr().out
    with pytest.raises(InputError, match="not the MAC address of a node"):
        cmd_pxe_boot.main(["0b:00:00:00:00:01", "x", "-C", str(paths.flatcar_dir)],
                          paths=paths, open_ctl=open_ctl)
    with pytest.raises(InputError, match='"node-9" is neither a MAC address nor the name'):
        cmd_pxe_boot.main(["node-9", "x", "-C", str(paths.flatcar_dir)], paths=paths,
                          open_ctl=open_ctl)
    # a name where a MAC is expected is looked up, and so is a secondary MAC
    assert cmd_pxe_boot.main(["node-1", "x", "-C", str(paths.flatcar_dir)], paths=paths,
                             open_ctl=open_ctl) == 0
    assert "x (02:00:00:00:00:02) is booting" in capsys.readouterr().out
    assert cmd_pxe_boot.main([secondary_mac(2), "x", "-C", str(paths.flatcar_dir)],
                             paths=paths, open_ctl=open_ctl) == 0
    assert "x (02:00:00:00:00:02) is booting" in capsys.readouterr().out
    assert cmd_pxe_boot.main([bmc_mac(1), "node-0", "-C", str(paths.flatcar_dir)],
                             paths=paths, open_ctl=open_ctl) == 0
    assert cmd_pxe_boot.main(["-h"], paths=paths, open_ctl=open_ctl) == 0


def test_cli_errors_name_the_mac_without_traceback(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from racker.cli.main import main

    paths = configured_rack(tmp_path, 2)
    for k, v in paths_env(paths).items():
        monkeypatch.setenv(k, v)
    assert main(["pxe-boot", "0b:00:00:00:00:05", "node-0", "-C", str(paths.flatcar_dir)]) == 2
    err = capsys.readouterr().err
    assert "0b:00:00:00:00:05" in err and "Traceback" not in err
    assert main(["apply", "-h"]) == 0
    assert "--include-controllers" in capsys.readouterr().out


def test_the_install_window_opens_once_before_power_on() -> None:
    ctl = FlakyControl(fails={"on": 2})
    order: list[str] = []

    async def opening(n: PlannedNode) -> None:
        order.append(f"window {n.mac} after {ctl.done}")

    async def go() -> None:
        await pxe_boot(ctl, planned(0), "node-0", retry_sec=5, interval=0.01, opening=opening)

    asyncio.run(go())
    assert order == ["window 52:54:00:00:00:00 after ['check', 'pxe']"]


def test_cli_records_the_window_in_the_rack_store(tmp_path: Path) -> None:
    paths = configured_rack(tmp_path, 2)
    argv = [primary_mac(1), "node-0", "-C", str(paths.flatcar_dir)]
    assert cmd_pxe_boot.main(argv, paths=paths, open_ctl=lambda _p, _c: FlakyControl()) == 0
    with Store.in_state_dir(paths.state_dir) as store:
        last = store.last_of(primary_mac(1), WINDOW_KINDS, stage="pxe")
    assert last is not None and in_install_window(last, time.time())


@pytest.mark.parametrize(("holder", "name"), [
    ("pid 4242: racker serve (started 2026-12-04 10:40:00)", "racker serve (pid 4242)"),
    ("pid 7: racker apply (started x)", "racker apply (pid 7)"),
    ("another racker process", "another racker process"),  # a file read mid-write
])
def test_the_recorder_is_named_by_command_and_pid(holder: str, name: str) -> None:
    assert recorder_name(holder) == name


def test_pxe_boot_says_in_one_line_whether_its_boot_is_recorded() -> None:
    mac = planned(0).mac
    nobody = recording_line(planned(0), None)
    assert "\n" not in nobody
    assert nobody.startswith(f"{mac}: nothing records the serial console of this boot")
    assert f"'ipmi {mac}'" in nobody and f"'racker node console-log {mac} -f'" in nobody
    serve = recording_line(planned(0), "pid 9: racker serve (started t)")
    assert serve == (f"{mac}: racker serve (pid 9) records the serial console of this boot "
                     "until the node reports booted; follow it with 'racker node console-log "
                     f"{mac} -f'")


def test_power_on_waits_for_the_recorder_only_when_there_is_one(tmp_path: Path) -> None:
    node = planned(0)
    said: list[str] = []
    serve = "pid 1: racker serve (started t)"

    async def looks(store: Store, holder: str | None, held: bool = False,
                    answers: bool = False) -> int:
        """How often the wait looked at the node's console before power-on."""
        seen = [0]

        def is_held() -> bool:
            seen[0] += 1
            if answers and seen[0] == 3:  # the recorder's capture begins meanwhile
                store.add(node.mac, EventKind.CONSOLE, detail={"state": "capturing"})
            return held

        await open_window_recorded(store, node, holder, said.append, held=is_held, wait=60.0,
                                   interval=0.01)
        return seen[0]

    with Store(tmp_path / "racker.db") as store:
        store.add(node.mac, EventKind.CONSOLE, detail={"state": "capturing"})  # an older one
        assert asyncio.run(looks(store, None)) == 0  # nobody records: no wait
        assert "nothing records" in said[-1]
        assert asyncio.run(looks(store, serve, answers=True)) == 3
        assert said[-1].startswith(f"{node.mac}: racker serve (pid 1) records")
        # the node's console is recorded already (an earlier boot's recording goes on)
        assert asyncio.run(looks(store, serve, held=True)) == 1
        opens = [e for e in store.events(node.mac) if e.kind is EventKind.STAGE]
        # a recorder that does not answer holds power-on up for `wait` at most
        started = time.monotonic()
        asyncio.run(open_window_recorded(store, node, serve, said.append, held=lambda: False,
                                         wait=0.3, interval=0.01))
        assert time.monotonic() - started >= 0.3
    assert len(opens) == 3 and all(in_install_window(e, time.time()) for e in opens)
    assert all(e.detail == {"by": "racker pxe-boot"} for e in opens)
