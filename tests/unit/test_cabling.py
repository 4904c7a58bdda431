"""The cabling check: pure, and through the engine with a fake rack whose nodes report."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import pytest

from racker.adapters.fs.store import Store
from racker.core.cabling import check_hardware, pxe_from_secondary
from racker.core.events import EventKind
from racker.core.hardware import Hardware, Nic
from racker.engine.run import NodeState
from racker.model import Node, PlannedNode, Role, StaticAddress
from tests.unit.test_engine import FakeRack, engine


def node(i: int, static: bool = False) -> PlannedNode:
    primary, secondary = f"52:54:00:00:00:{i:02x}", f"52:54:00:00:02:{i:02x}"
    n = Node(primary, f"52:54:00:00:01:{i:02x}", secondary, "", "", i + 2)
    addr = StaticAddress(secondary, f"198.51.100.{i + 10}/24", "198.51.100.1", "9.9.9.9")
    return PlannedNode(n, Role.NODE, i, f"node-{i}", f"10.0.0.{i + 2}", f"10.0.0.{i + 50}",
                       static=addr if static else None)


def uuid_of(i: int) -> str:
    return str(uuid.UUID(int=0x4C4C4544_0042_3510_8052_000000000000 + i))


def hardware(i: int, secondary_link: bool = True) -> Hardware:
    p = node(i).node
    assert p.secondary_mac
    return Hardware(uuid_of(i), nics=(Nic("eno1", p.primary_mac, link=True),
                                      Nic("eno2", p.secondary_mac, link=secondary_link)))


def guid_of(i: int) -> bytes:
    return uuid.UUID(uuid_of(i)).bytes_le  # as most BMCs send it


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "racker.db")


def test_a_matching_server_has_no_problem() -> None:
    assert check_hardware(node(1, static=True), hardware(1), guid_of(1)) == []
    assert check_hardware(node(1), hardware(1), None) == []  # GUID unknown: no pairing check


def test_each_problem_names_the_row_what_nodes_csv_and_the_hardware_say() -> None:
    (p,) = check_hardware(node(1), hardware(1), guid_of(2), {"node-2": guid_of(1)})
    assert str(p).startswith("nodes.csv line 3 (node-1): the BMC 52:54:00:00:01:01 answers "
                             f"system GUID {uuid_of(2)}")
    assert f"SMBIOS UUID {uuid_of(1)}" in str(p)
    assert "the BMC of node-2" in str(p) and not p.fatal
    (p,) = check_hardware(node(1, static=True), hardware(1, secondary_link=False), guid_of(1))
    assert "secondary NIC eno2 (52:54:00:00:02:01)" in str(p) and "no link" in str(p)
    assert "198.51.100.11/24" in str(p)
    other = dataclasses.replace(hardware(1), nics=(Nic("eno1", "52:54:00:00:00:99"),))
    problems = [str(x) for x in check_hardware(node(1, static=True), other, None)]
    assert len(problems) == 2
    assert "primary MAC 52:54:00:00:00:01, but the server has no NIC" in problems[0]
    assert "its NICs: eno1 52:54:00:00:00:99" in problems[0]
    assert "secondary MAC 52:54:00:00:02:01" in problems[1]
    # no static address: the secondary NIC is not checked
    assert check_hardware(node(1), hardware(1, secondary_link=False), guid_of(1)) == []
    p = pxe_from_secondary(node(1))
    assert p.fatal and "PXE boots from 52:54:00:00:02:01" in str(p)
    assert "primary MAC 52:54:00:00:00:01" in str(p) and "swapped" in str(p)


def test_engine_warns_on_a_wrong_pairing_and_installs(tmp_path: Path, store: Store) -> None:
    nodes = [node(0), node(1), node(2)]
    # the BMC MACs of rows 1 and 2 belong to each other's servers
    rack = FakeRack(store, guids={n.mac: guid_of(i) for i, n in enumerate(nodes)})
    rack.guids[nodes[1].mac], rack.guids[nodes[2].mac] = guid_of(2), guid_of(1)
    rack.hardware = {n.mac: hardware(i) for i, n in enumerate(nodes)}
    eng = engine(rack, tmp_path)

    async def go() -> list[str]:
        checked = await eng.check_bmcs(nodes)
        assert not checked.failed
        run = await eng.install(nodes)
        assert run.count(NodeState.DONE) == 3  # warnings do not stop the install
        return run.warnings

    warnings = asyncio.run(go())
    assert len(warnings) == 2
    assert warnings[0].startswith("nodes.csv line 3 (node-1): the BMC 52:54:00:00:01:01")
    assert "the BMC of node-2" in warnings[0] and "the BMC of node-1" in warnings[1]
    (event,) = [e for e in store.events(nodes[1].mac) if e.kind is EventKind.CABLING]
    assert event.detail["problem"] == warnings[0]
    bmc_ok = [e for e in store.events(nodes[0].mac)
              if e.kind is EventKind.STAGE and e.detail.get("result") == "ok"]
    assert bmc_ok[0].detail["bmc_guid"] == guid_of(0).hex()


def test_engine_fails_a_node_that_pxe_boots_from_its_secondary_mac(tmp_path: Path,
                                                                   store: Store) -> None:
    nodes = [node(0), node(1)]
    rack = FakeRack(store, swapped={nodes[1].mac})
    run = asyncio.run(engine(rack, tmp_path).install(nodes))
    (failed,) = run.failed
    assert failed.node.name == "node-1" and failed.stage.value == "dhcp"
    assert failed.error.startswith("nodes.csv line 3 (node-1): the server PXE boots from "
                                   "52:54:00:00:02:01")
    assert run.nodes[nodes[0].mac].state is NodeState.DONE
    kinds = [e.kind for e in store.events(nodes[1].mac)]
    assert EventKind.CABLING in kinds and kinds[-1] is EventKind.ERROR


def test_the_check_over_the_store_names_each_problem(store: Store) -> None:
    from racker.app.hardware import cabling_problems
    from racker.app.status import cabling_lines

    nodes = [node(0), node(1)]
    for i, n in enumerate(nodes):
        # the BMC check recorded each BMC's GUID: the two rows' BMC MACs are swapped
        store.add(n.mac, EventKind.STAGE, stage="bmc",
                  detail={"result": "ok", "bmc_guid": guid_of(1 - i).hex()})
        store.add(n.mac, EventKind.INVENTORY, detail={"hardware": hardware(i).as_json()})
    problems = cabling_problems(nodes, store)
    assert len(problems) == 2 and problems[1].startswith("nodes.csv line 3 (node-1)")
    assert "the BMC of node-1" in problems[0] and "the BMC of node-0" in problems[1]
    assert cabling_lines(problems)[:2] == ["Cabling check: 2 problems:", f"  ! {problems[0]}"]
    assert cabling_lines([]) == ["Cabling check: no problem found in what the installers "
                                 "reported."]
