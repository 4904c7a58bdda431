"""pin_plan: nodes keep names and addresses whatever the fresh plan would give them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from racker.core.layout import Layout, layout_of, parse_layout, pin_plan, render_layout
from racker.core.plan import make_plan
from racker.model import Inventory, Node, Options, Provision, Role


def inventory(macs: list[str]) -> Inventory:
    mgmt = Node("02:00:00:00:00:00", "02:00:00:00:01:00", "02:00:00:00:02:00", "", "", 2)
    nodes = tuple(Node(m, m.replace(":00:00:00:", ":00:00:01:"), None, "t", "", i + 3)
                  for i, m in enumerate(macs))
    return Inventory(Path("nodes.csv"), mgmt, nodes, "eth1")


MACS = [f"02:00:00:00:00:0{i}" for i in range(1, 5)]


def test_fresh_layout_pins_to_the_same_plan() -> None:
    plan = make_plan(Options(provision=Provision.FLATCAR), inventory(MACS))
    assert pin_plan(plan, layout_of(plan)) == plan


def test_exclusion_keeps_the_other_names_and_ips() -> None:
    inv = inventory(MACS)
    opts = Options(provision=Provision.FLATCAR)
    before = make_plan(opts, inv)
    layout = layout_of(before).exclude(MACS[1])
    after = pin_plan(make_plan(dataclasses.replace(opts, exclude=(MACS[1],)), inv), layout)
    assert [(n.mac, n.name, n.ip) for n in after.nodes] == \
        [(n.mac, n.name, n.ip) for n in before.nodes if n.mac != MACS[1]]


def test_included_node_goes_last_with_its_old_name() -> None:
    inv = inventory(MACS)
    opts = Options(provision=Provision.FLATCAR)
    before = make_plan(opts, inv)
    slot = layout_of(before).find(MACS[0])
    assert slot is not None
    layout = layout_of(before).exclude(MACS[0]).append(slot)
    after = pin_plan(make_plan(opts, inv), layout)
    assert [n.mac for n in after.nodes] == [*MACS[1:], MACS[0]]
    assert after.nodes[-1].name == "node-0" and after.nodes[-1].ip == before.nodes[0].ip


def test_replaced_mac_takes_the_old_place() -> None:
    old = make_plan(Options(provision=Provision.FLATCAR), inventory(MACS))
    new_mac = "02:00:00:00:00:ff"
    slot = layout_of(old).find(MACS[0])
    assert slot is not None
    layout = layout_of(old).replace_slot(MACS[0], dataclasses.replace(
        slot, mac=new_mac, bmc_mac="02:00:00:00:01:ff"))
    inv = inventory([new_mac, *MACS[1:]])
    pinned = pin_plan(make_plan(Options(provision=Provision.FLATCAR), inv), layout)
    assert [(n.name, n.ip, n.bmc_ip) for n in pinned.nodes] == \
        [(n.name, n.ip, n.bmc_ip) for n in old.nodes]
    assert pinned.nodes[0].mac == new_mac
    assert dict(pinned.addresses)[new_mac] == old.nodes[0].ip


def test_new_rack_row_is_appended_as_worker_with_free_address() -> None:
    opts = Options(provision=Provision.LOKOMOTIVE)
    old = make_plan(opts, inventory(MACS[1:]))
    pinned = pin_plan(make_plan(opts, inventory(MACS)), layout_of(old))
    last = pinned.nodes[-1]
    assert last.mac == MACS[0] and last.role is Role.WORKER
    assert last.name == "lokomotive-worker-2.k8s.localdomain"
    used = [n.ip for n in old.nodes] + [n.bmc_ip for n in old.nodes]
    assert last.ip not in used and last.bmc_ip not in used
    assert [n.role for n in pinned.nodes].count(Role.CONTROLLER) == 1


def test_layout_record_round_trip() -> None:
    plan = make_plan(Options(provision=Provision.LOKOMOTIVE, exclude=(MACS[2],)),
                     inventory(MACS))
    layout = layout_of(plan)
    assert parse_layout(render_layout(layout).content, "x") == layout
    assert parse_layout("nodes: []\n", "x") == Layout(())


def test_layout_from_rendered_vars_is_the_plans() -> None:
    from racker.core.layout import layout_from_vars
    from racker.core.render.flatcar import tfvars
    from racker.core.render.lokomotive import lokocfg_vars
    from racker.paths import Paths

    paths = Paths.from_env({"HOME": "/home/x"})
    for provision, render in ((Provision.FLATCAR, tfvars), (Provision.LOKOMOTIVE, lokocfg_vars)):
        plan = make_plan(Options(provision=provision, exclude=(MACS[0],)), inventory(MACS))
        assert layout_from_vars(plan, render(plan, paths)) == layout_of(plan)
    assert layout_from_vars(plan, "nothing = 1\n") is None


def test_layout_from_vars_after_an_exclusion_that_kept_names() -> None:
    from racker.core.layout import layout_from_vars

    plan = make_plan(Options(provision=Provision.FLATCAR, exclude=(MACS[1],)), inventory(MACS))
    text = (f'node_macs = ["{MACS[0]}", "{MACS[2]}", "{MACS[3]}"]\n'
            'node_names = ["node-0", "node-2", "node-3"]\n')
    layout = layout_from_vars(plan, text, {MACS[1]: "node-1"})
    assert layout is not None
    pinned = pin_plan(plan, layout)
    assert [n.name for n in pinned.nodes] == ["node-0", "node-2", "node-3"]
    assert layout.excluded[0].name == "node-1" and layout.excluded[0].index == 1
