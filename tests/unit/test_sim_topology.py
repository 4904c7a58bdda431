"""Names and `ip` commands of a simulated rack; generated racks and their nodes.csv."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from racker.errors import InputError
from racker.sim import state
from racker.sim.net.topology import (
    check_rack_name,
    create_commands,
    destroy_commands,
    rack_namespaces,
)


def test_generated_rack_is_deterministic_and_distinct() -> None:
    a = state.generate_topology("demo", 3, ("x", "y"))
    assert a == state.generate_topology("demo", 3, ("x", "y"))
    other = state.generate_topology("demo2", 3)
    macs_a = {m for s in a.servers for m in (s.primary_mac, s.bmc_mac)}
    macs_b = {m for s in other.servers for m in (s.primary_mac, s.bmc_mac)}
    assert not macs_a & macs_b
    assert [s.node_type for s in a.servers] == ["x", "y", "x"]
    assert len(macs_a | {a.mgmt_primary_mac, a.mgmt_secondary_mac}) == 8
    for mac in macs_a:
        assert int(mac[:2], 16) & 0x02 and not int(mac[:2], 16) & 0x01  # local, unicast


def test_nodes_csv_of_a_generated_rack() -> None:
    t = state.generate_topology("demo", 2)
    lines = state.render_nodes_csv(t).splitlines()
    assert lines[0] == state.CSV_HEADER
    assert lines[1].startswith(f"{t.mgmt_primary_mac}, ")
    assert f", {t.mgmt_secondary_mac}, " in lines[1]
    assert lines[2].startswith(f"{t.servers[0].primary_mac}, {t.servers[0].bmc_mac}, ")
    assert len(lines) == 4


def test_topology_json_round_trip() -> None:
    t = state.generate_topology("demo", 4)
    assert state.topology_from_json(state.topology_to_json(t), "rack.json") == t
    q = dataclasses.replace(t, node_kind="qemu", disk_dir="/srv/disks")
    assert state.topology_from_json(state.topology_to_json(q), "rack.json") == q
    rd = state.RackDir(Path("/x/demo"))
    assert rd.disk(q, q.servers[0]) == Path("/srv/disks/demo-node1.img")
    assert rd.disk(t, t.servers[0]) == Path("/x/demo/disks/node1.img")
    # QEMU racks have no node namespaces, a tap per node on the bridge instead
    assert len(q.namespaces) == 2 + 4
    taps = [a for ns, a in create_commands(q) if a[:2] == ("tuntap", "add")]
    assert [a[2] for a in taps] == ["q1", "q2", "q3", "q4"]
    with pytest.raises(InputError, match="broken rack state"):
        state.topology_from_json("{}", "rack.json")


@pytest.mark.parametrize("name", ["", "Demo", "-a", "a" * 21, "a_b", "a b"])
def test_bad_rack_names(name: str) -> None:
    with pytest.raises(InputError):
        check_rack_name(name)


def test_commands_never_touch_the_host_namespace() -> None:
    t = state.generate_topology("demo", 2)
    cmds = create_commands(t)
    for ns, argv in cmds:
        if ns is None:
            assert argv[:2] == ("netns", "add")
        else:
            assert ns in t.namespaces
        # interface names fit the kernel's 15 characters
        for i, word in enumerate(argv):
            if i and argv[i - 1] in ("add", "name", "set") and argv[0] == "link":
                assert len(word) <= 15
    adds = [a[2] for ns, a in cmds if ns is None]
    assert adds == list(t.namespaces)
    veths = [a for ns, a in cmds if "veth" in a and ns == t.net_ns]
    assert len(veths) == 1 + 2 * len(t.servers)
    assert all("netns" in v for v in veths)
    mac_sets = {(ns, a[-1]) for ns, a in cmds if a[:2] == ("link", "set") and "address" in a}
    assert (t.bmc_ns(t.servers[1]), t.servers[1].bmc_mac) in mac_sets
    assert (t.node_ns(t.servers[0]), t.servers[0].primary_mac) in mac_sets
    assert (t.mgmt_ns, t.mgmt_secondary_mac) in mac_sets


def test_destroy_only_own_namespaces() -> None:
    existing = ["rks-a-net", "rks-a-bmc1", "rks-a-node12", "rks-a-b-net", "rks-ab-mgmt",
                "other", "rks-a-mgmtx"]
    assert rack_namespaces("a", existing) == ["rks-a-net", "rks-a-bmc1", "rks-a-node12"]
    assert destroy_commands("a-b", existing) == [(None, ("netns", "delete", "rks-a-b-net"))]


def test_server_lookup() -> None:
    t = state.generate_topology("demo", 3)
    s2 = t.servers[1]
    for ref in ("node2", "2", s2.primary_mac.upper(), s2.bmc_mac.replace(":", "-")):
        assert t.server(ref) == s2
    assert t.server("node9") is None


def test_timeline_format(tmp_path: object) -> None:
    from pathlib import Path

    p = Path(str(tmp_path)) / "t.jsonl"
    state.append_timeline(p, "lease", ip="1.2.3.4/24")
    p.write_text(p.read_text() + "broken\n")
    entries = list(state.read_timeline(p))
    assert len(entries) == 1 and entries[0]["ip"] == "1.2.3.4/24"
    assert "lease" in state.format_entry(entries[0]) and "ip=1.2.3.4/24" in state.format_entry(
        entries[0])


def test_exec_path_puts_racker_sims_bin_first_once() -> None:
    from racker.sim.state import path_with_first
    assert path_with_first("/usr/bin:/venv/bin::/bin", "/venv/bin") == "/venv/bin:/usr/bin:/bin"
    assert path_with_first("", "/venv/bin") == "/venv/bin"


def test_miscabled_servers_pxe_boot_from_their_secondary_mac() -> None:
    t = state.generate_topology("demo", 3, ("worker", "storage"))
    m = state.miscable(t, ["node2", t.servers[2].primary_mac])
    assert [s.miscabled for s in m.servers] == [False, True, True]
    assert m.servers[0].rack_mac == t.servers[0].primary_mac
    assert m.servers[1].rack_mac == t.servers[1].secondary_mac != t.servers[1].primary_mac
    assert state.topology_from_json(state.topology_to_json(m), "rack.json") == m
    # nodes.csv stays as it was: the cables are wrong, not the file
    assert state.render_nodes_csv(m) == state.render_nodes_csv(t)
    with pytest.raises(InputError, match="no server 'node9'") as e:
        state.miscable(t, ["node9"])
    assert e.value.where is not None and e.value.where.flag == "--miscabled"
    no_secondary = dataclasses.replace(t, servers=(dataclasses.replace(t.servers[0],
                                                                       secondary_mac=""),))
    with pytest.raises(InputError, match="no secondary MAC"):
        state.miscable(no_secondary, ["node1"])


def test_bmc_protocols_mixed_alternates_and_round_trips() -> None:
    t = state.with_bmc_protocols(state.generate_topology("demo", 4), "mixed")
    assert [s.bmc_protocol for s in t.servers] == ["redfish", "ipmi", "redfish", "ipmi"]
    assert state.topology_from_json(state.topology_to_json(t), "rack.json") == t
    both = state.with_bmc_protocols(t, "both")
    assert {s.bmc_protocol for s in both.servers} == {"both"}
    # a rack.json written before BMCs spoke Redfish reads as IPMI
    old = state.topology_to_json(t).replace('"bmc_protocol": "redfish"', '"x": 1')
    assert state.topology_from_json(old, "rack.json").servers[0].bmc_protocol == "ipmi"
    with pytest.raises(InputError, match="--bmc must be one of"):
        state.with_bmc_protocols(t, "snmp")
