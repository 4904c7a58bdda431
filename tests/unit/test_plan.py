"""The cluster plan: the reference's address numbering, roles, names, labels, exclusion, statics."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.core.inventory import parse_nodes_csv
from racker.core.plan import make_plan
from racker.errors import InputError
from racker.model import (
    Backup,
    ClusterPlan,
    Inventory,
    Options,
    Provision,
    Role,
    StorageProvider,
)
from tests.rackfixtures import (
    HEADER,
    bmc_mac,
    nodes_csv_text,
    primary_mac,
    secondary_mac,
)

MACHINE = {"eth0": primary_mac(0), "eth1": secondary_mac(0)}
FLATCAR = Options(provision=Provision.FLATCAR)
LOKO = Options()


def rack(n: int, types: Sequence[str] = (), shuffle_seed: int | None = None) -> Inventory:
    lines = nodes_csv_text(n, types).splitlines()
    rows = lines[1:]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(rows)
    return parse_nodes_csv("\n".join([lines[0], *rows]) + "\n", "nodes.csv", MACHINE)


def summary(plan: ClusterPlan) -> list[tuple[str, str, int, str, str, str]]:
    return [(p.mac, p.role.value, p.index, p.name, p.ip, p.bmc_ip) for p in plan.nodes]


def test_flatcar_numbering_as_the_reference() -> None:
    plan = make_plan(FLATCAR, rack(3))
    assert summary(plan) == [
        (primary_mac(1), "node", 0, "node-0", "172.24.213.2", "172.24.213.5"),
        (primary_mac(2), "node", 1, "node-1", "172.24.213.3", "172.24.213.6"),
        (primary_mac(3), "node", 2, "node-2", "172.24.213.4", "172.24.213.7"),
    ]
    assert plan.management_ip == "172.24.213.1"
    assert plan.addresses == (
        (primary_mac(1), "172.24.213.2"), (primary_mac(2), "172.24.213.3"),
        (primary_mac(3), "172.24.213.4"), (bmc_mac(1), "172.24.213.5"),
        (bmc_mac(2), "172.24.213.6"), (bmc_mac(3), "172.24.213.7"))
    assert all(p.labels == () and p.static is None for p in plan.nodes)


def test_sorted_by_primary_mac_not_file_order() -> None:
    text = (f"{HEADER}\n{primary_mac(0)}, {bmc_mac(0)}, {secondary_mac(0)}, ,\n"
            "AA:00:00:00:00:01, 00:00:00:00:00:b1, , ,\n"
            "0a:00:00:00:00:01, 00:00:00:00:00:b2, , ,\n")
    plan = make_plan(FLATCAR, parse_nodes_csv(text, "nodes.csv", MACHINE))
    assert [(p.mac, p.name, p.ip, p.bmc_ip) for p in plan.nodes] == [
        ("0a:00:00:00:00:01", "node-0", "172.24.213.2", "172.24.213.4"),
        ("aa:00:00:00:00:01", "node-1", "172.24.213.3", "172.24.213.5"),
    ]


def test_exclude_keeps_addresses_and_renumbers_names() -> None:
    for mac in (primary_mac(2), bmc_mac(2).upper(), secondary_mac(2).replace(":", "-")):
        plan = make_plan(dataclasses.replace(FLATCAR, exclude=(mac,)), rack(3))
        assert summary(plan) == [
            (primary_mac(1), "node", 0, "node-0", "172.24.213.2", "172.24.213.5"),
            (primary_mac(3), "node", 1, "node-1", "172.24.213.4", "172.24.213.7"),
        ]
        assert [n.primary_mac for n in plan.excluded] == [primary_mac(2)]
        assert len(plan.addresses) == 6
        assert plan.options.exclude == (mac.lower().replace("-", ":"),)


def test_exclude_given_as_the_flag_string() -> None:
    opts = dataclasses.replace(FLATCAR, exclude=(f" {primary_mac(1)}\t{bmc_mac(3)} ",))
    plan = make_plan(opts, rack(3))
    assert [p.mac for p in plan.nodes] == [primary_mac(2)]
    assert plan.options.exclude == (primary_mac(1), bmc_mac(3))


def test_lokomotive_single_controller() -> None:
    plan = make_plan(LOKO, rack(3, types=("small", "", "large")))
    assert [(p.role, p.index, p.name) for p in plan.nodes] == [
        (Role.CONTROLLER, 0, "lokomotive-controller-0.k8s.localdomain"),
        (Role.WORKER, 0, "lokomotive-worker-0.k8s.localdomain"),
        (Role.WORKER, 1, "lokomotive-worker-1.k8s.localdomain"),
    ]
    assert [p.labels for p in plan.nodes] == [
        (("metadata.node-type", "small"),), (("metadata.node-type", ""),),
        (("metadata.node-type", "large"),)]
    assert [p.mac for p in plan.controllers] == [primary_mac(1)]
    assert [p.mac for p in plan.workers] == [primary_mac(2), primary_mac(3)]


def test_lokomotive_ha_of_a_type_and_storage() -> None:
    types = ("small", "large", "large", "small", "large", "large")
    opts = Options(cluster_name="rack1", k8s_domain_name="example.org", num_controllers=3,
                   controller_type="large", storage_provider=StorageProvider.ROOK,
                   storage_node_type="large", number_of_storage_nodes=None)
    plan = make_plan(opts, rack(6, types))
    assert [(p.mac, p.name) for p in plan.controllers] == [
        (primary_mac(2), "rack1-controller-0.example.org"),
        (primary_mac(3), "rack1-controller-1.example.org"),
        (primary_mac(5), "rack1-controller-2.example.org"),
    ]
    assert [(p.mac, p.name, dict(p.labels)) for p in plan.workers] == [
        (primary_mac(1), "rack1-worker-0.example.org", {"metadata.node-type": "small"}),
        (primary_mac(4), "rack1-worker-1.example.org", {"metadata.node-type": "small"}),
        (primary_mac(6), "rack1-worker-2.example.org",
         {"metadata.node-type": "large", "storage.lokomotive.io": "rook"}),
    ]


@pytest.mark.parametrize(
    ("provider", "stype", "k", "storage_macs", "effective"),
    [
        (StorageProvider.OPENEBS, "any", None, [2, 3, 4, 5], StorageProvider.OPENEBS),
        (StorageProvider.OPENEBS, "any", 2, [2, 3], StorageProvider.OPENEBS),
        (StorageProvider.ROOK, "ssd", None, [3, 5], StorageProvider.ROOK),
        (StorageProvider.ROOK, "ssd", 1, [3], StorageProvider.ROOK),
        (StorageProvider.ROOK, "ssd", 0, [], StorageProvider.NONE),
        (StorageProvider.NONE, "nonexistent", 7, [], StorageProvider.NONE),
    ],
)
def test_storage_selection(provider: StorageProvider, stype: str, k: int | None,
                           storage_macs: list[int], effective: StorageProvider) -> None:
    opts = Options(storage_provider=provider, storage_node_type=stype, number_of_storage_nodes=k)
    plan = make_plan(opts, rack(5, ("hdd", "hdd", "ssd", "hdd", "ssd")))
    got = [p.mac for p in plan.nodes if ("storage.lokomotive.io", provider.value) in p.labels]
    assert got == [primary_mac(i) for i in storage_macs]
    assert plan.options.storage_provider is effective


def test_static_addresses_attached_to_nodes() -> None:
    ini = (f"[{secondary_mac(2).upper()}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\n"
           f"dns = 1.1.1.1\n[{secondary_mac(1)}]\n[{secondary_mac(3)}]\nip_addr = 10.0.0.3/24\n")
    plan = make_plan(dataclasses.replace(FLATCAR, ip_addrs=ini), rack(3))
    statics = [(p.name, p.static.address if p.static else None) for p in plan.nodes]
    assert statics == [("node-0", None), ("node-1", "10.0.0.2/24"), ("node-2", "10.0.0.3/24")]
    assert plan.nodes[2].static is not None and plan.nodes[2].static.gateway == "10.0.0.1"


def test_largest_rack_fits_and_one_more_does_not() -> None:
    plan = make_plan(FLATCAR, rack(63))
    assert plan.addresses[-1] == (bmc_mac(63), "172.24.213.127")
    with pytest.raises(InputError) as e:
        make_plan(FLATCAR, rack(64))
    assert e.value.where is not None and e.value.where.file == "nodes.csv"
    assert "at most 63" in e.value.message


def test_subnet_prefix_is_used() -> None:
    plan = make_plan(dataclasses.replace(FLATCAR, subnet_prefix="10.1.2"), rack(1))
    assert (plan.management_ip, plan.nodes[0].ip, plan.nodes[0].bmc_ip) == (
        "10.1.2.1", "10.1.2.2", "10.1.2.3")


TYPES = ("hdd", "hdd", "ssd", "hdd", "ssd")
BACKUP = Backup(aws_access_key="AK", aws_secret_key="SK", name="b", s3_bucket="bkt",
                aws_location="eu-west-1")

# (options, flag at fault, words in the message)
BAD_OPTIONS = [
    (Options(subnet_prefix="172.24"), "-subnet-prefix", "three decimal numbers"),
    (Options(subnet_prefix="172.24.213.0"), "-subnet-prefix", "three decimal numbers"),
    (Options(subnet_prefix="172.24.256"), "-subnet-prefix", "above 255"),
    (Options(subnet_prefix="172.024.1"), "-subnet-prefix", "leading zero"),
    (Options(subnet_prefix="127.0.0"), "-subnet-prefix", "not a usable"),
    (Options(subnet_prefix="a.b.c"), "-subnet-prefix", "three decimal numbers"),
    (Options(num_controllers=2), "-num-controllers", "2 controllers are not possible"),
    (Options(num_controllers=3, controller_type="ssd"), "-num-controllers", "only 2"),
    (Options(num_controllers=3, exclude=(primary_mac(1), primary_mac(2), primary_mac(3))),
     "-num-controllers", "only 2"),
    (Options(controller_type="gpu"), "-controller-type", 'type "gpu"'),
    (Options(exclude=("nonsense",)), "-exclude", "not a MAC"),
    (Options(exclude=("02:00:00:00:00:99",)), "-exclude", "not a MAC address of any node"),
    (Options(exclude=(secondary_mac(0),)), "-exclude", "management node"),
    (Options(exclude=tuple(primary_mac(i) for i in range(1, 6))), "-exclude", "every node"),
    (Options(storage_provider=StorageProvider.ROOK, storage_node_type="gpu"),
     "-storage-node-type", 'type "gpu"'),
    (Options(storage_provider=StorageProvider.ROOK, storage_node_type="ssd",
             num_controllers=1, controller_type="ssd", exclude=(primary_mac(5),)),
     "-storage-node-type", "no worker nodes"),
    (Options(storage_provider=StorageProvider.ROOK, storage_node_type="ssd",
             number_of_storage_nodes=3), "-number-of-storage-nodes", "only 2"),
    (Options(storage_provider=StorageProvider.ROOK, number_of_storage_nodes=-1),
     "-number-of-storage-nodes", "negative"),
    (Options(cluster_name="My_Cluster"), "-cluster-name", "not a valid cluster name"),
    (Options(cluster_name="x" * 60), "-cluster-name", "too long"),
    (Options(k8s_domain_name="bad..domain"), "-k8s-domain-name", "not a valid domain"),
    (Options(k8s_domain_name=""), "-k8s-domain-name", "not a valid domain"),
    (Options(retries=-1), "-retries", "negative"),
    (Options(backup=dataclasses.replace(BACKUP, s3_bucket="")), "-backup-s3-bucket", "need"),
    (Options(backup=dataclasses.replace(BACKUP, aws_secret_key=" ")), "-aws-secret-key", "need"),
]


@pytest.mark.parametrize(("options", "flag", "words"), BAD_OPTIONS)
def test_bad_options_name_the_flag(options: Options, flag: str, words: str) -> None:
    with pytest.raises(InputError) as e:
        make_plan(options, rack(5, TYPES))
    assert e.value.where is not None and e.value.where.flag == flag
    assert words in e.value.message
    assert e.value.hint
    assert str(e.value).startswith(f"flag {flag}: ")


def test_good_backup_passes() -> None:
    assert make_plan(Options(backup=BACKUP), rack(2)).options.backup == BACKUP


@pytest.mark.parametrize(
    ("ini", "line", "column", "hint"),
    [
        (f"# c\n[{secondary_mac(9)}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n",
         2, 2, "secondary MAC address from nodes.csv"),
        (f"[{secondary_mac(0)}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n",
         1, 2, "management node"),
        (f"[ {bmc_mac(2)}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n",
         1, 3, f"secondary MAC {secondary_mac(2)}"),
    ],
)
def test_static_address_for_unknown_mac(ini: str, line: int, column: int, hint: str) -> None:
    with pytest.raises(InputError) as e:
        make_plan(dataclasses.replace(FLATCAR, ip_addrs=ini), rack(3))
    w = e.value.where
    assert w is not None and (w.file, w.line, w.column) == ("-ip-addrs", line, column)
    assert "not the secondary MAC address of any node" in e.value.message
    assert e.value.hint is not None and hint in e.value.hint


def test_node_type_that_cannot_be_a_label_names_the_line() -> None:
    inv = rack(3, ("ok", "two words", "ok"))
    with pytest.raises(InputError) as e:
        make_plan(LOKO, inv)
    assert e.value.where is not None and (e.value.where.file, e.value.where.line) == (
        "nodes.csv", 4)
    # Flatcar has no Kubernetes labels: the same rack is fine there
    assert len(make_plan(FLATCAR, inv).nodes) == 3


def _projection(plan: ClusterPlan) -> object:
    return ([(p.mac, p.role, p.index, p.name, p.ip, p.bmc_ip, p.labels, p.static)
             for p in plan.nodes], plan.addresses, [n.primary_mac for n in plan.excluded],
            plan.options)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    types=st.lists(st.sampled_from(["a", "b", "c", ""]), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
    provision=st.sampled_from(list(Provision)),
    storage=st.sampled_from(list(StorageProvider)),
    k=st.one_of(st.none(), st.integers(0, 3)),
    excl=st.lists(st.integers(1, 12), max_size=3),
)
def test_plan_does_not_depend_on_row_order(n: int, types: list[str], seed: int,
                                           provision: Provision, storage: StorageProvider,
                                           k: int | None, excl: list[int]) -> None:
    opts = Options(provision=provision, storage_provider=storage, number_of_storage_nodes=k,
                   exclude=tuple(bmc_mac(i) for i in excl if i <= n))
    results = []
    for s in (None, seed):
        try:
            results.append(_projection(make_plan(opts, rack(n, types, shuffle_seed=s))))
        except InputError as e:
            results.append(("error", e.message, e.where))
    assert results[0] == results[1]
