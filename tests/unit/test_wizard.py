"""The wizard's question graph, walked with a scripted Asker (no terminal)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.core.bootstrap.options import RackFacts, options_from_answers
from racker.core.bootstrap.wizard import (
    HELP,
    OTHER,
    DefaultAsker,
    Kind,
    Question,
    flatcar_graph,
    graph_for,
    is_blank,
    lokomotive_graph,
    prefill,
    provision_graph,
    walk,
)
from racker.core.ipaddrs import parse_ip_addrs
from racker.errors import InputError
from racker.model import Backup, OnFailure, Options, Provision, StorageProvider
from tests.unit.wizard_support import Script, mac, rack

HA_RACK = RackFacts.from_inventory(rack("large", "large", "small", "large", "small", "large"))
SMALL_RACK = RackFacts.from_inventory(rack("a", "b", "a", "b"))


def loko(facts: RackFacts, script: Script) -> Options:
    answers = walk(lokomotive_graph(facts), script)
    assert script.done(), f"questions left unasked: {script.steps}"
    return options_from_answers({**answers, "provision": "lokomotive"}, facts)


def test_lokomotive_with_ha_and_storage() -> None:
    s = Script(
        ("cluster-name", "rack7"),
        ("num-controllers", "3"),
        ("controller-type-ha", "large"),
        ("ip-addrs", "DHCP"),
        ("k8s-domain-name", ""),
        ("subnet-prefix", "10.20.30"),
        ("web-ui", "false"),
        ("storage-provider", "rook"),
        ("storage-node-type", "small"),
        ("number-of-storage-nodes", "2"),
        ("config-backup", "false"),
    )
    o = loko(HA_RACK, s)
    assert o == Options(
        provision=Provision.LOKOMOTIVE, cluster_name="rack7", num_controllers=3,
        controller_type="large", ip_addrs="DHCP", k8s_domain_name="k8s.localdomain",
        subnet_prefix="10.20.30", web_ui=False, storage_provider=StorageProvider.ROOK,
        storage_node_type="small", number_of_storage_nodes=2, backup=None,
        onfailure=OnFailure.ASK, retries=3, exclude=(),
    )
    ha = next(q for q in s.asked if q.name == "controller-type-ha")
    # Only types with at least three nodes can carry an HA control plane.
    assert [c.value for c in ha.choices] == ["any", "large"]
    plane = next(q for q in s.asked if q.name == "num-controllers")
    assert plane.default == "3" and plane.kind is Kind.SELECT


def test_single_controller_in_ha_rack_offers_every_type() -> None:
    s = Script(
        ("cluster-name", ""), ("num-controllers", "1"), ("controller-type", "small"),
        ("ip-addrs", "DHCP"), ("k8s-domain-name", "example.org"), ("subnet-prefix", ""),
        ("web-ui", "true"), ("storage-provider", "none"), ("config-backup", "false"),
    )
    o = loko(HA_RACK, s)
    assert (o.num_controllers, o.controller_type, o.k8s_domain_name) == (1, "small", "example.org")
    assert [c.value for c in s.asked[2].choices] == ["any", "large", "small"]
    assert o.web_ui and o.storage_provider is StorageProvider.NONE


@pytest.mark.parametrize(
    ("types", "ha"),
    [
        (("a", "b", "a", "b"), False),
        (("a", "a", "a"), True),
        (("a", "a", "b", "b", "c"), False),
        (("", "", ""), True),  # untyped nodes count together
        (("x",), False),
    ],
)
def test_ha_question_only_with_three_nodes_of_a_type(types: tuple[str, ...], ha: bool) -> None:
    facts = RackFacts.from_inventory(rack(*types))
    g = lokomotive_graph(facts)
    assert g.questions["cluster-name"].next("lokomotive") == (
        "num-controllers" if ha else "controller-type")
    answers = walk(g, DefaultAsker())
    if ha:
        assert answers["num-controllers"] == "3"
    else:
        assert "num-controllers" not in answers


def test_no_ha_question_when_no_type_has_three() -> None:
    s = Script(
        ("cluster-name", ""), ("controller-type", "b"), ("ip-addrs", "DHCP"),
        ("k8s-domain-name", ""), ("subnet-prefix", ""), ("web-ui", "true"),
        ("storage-provider", "openebs"), ("storage-node-type", "any"),
        ("number-of-storage-nodes", ""), ("config-backup", "false"),
    )
    o = loko(SMALL_RACK, s)
    assert o.num_controllers == 1 and o.controller_type == "b"
    assert o.storage_provider is StorageProvider.OPENEBS and o.number_of_storage_nodes is None
    assert all(q.name != "num-controllers" for q in s.asked)


INI = "[02:00:00:00:03:01]\nip_addr = 192.0.2.10/24\ngateway = 192.0.2.1\ndns = 192.0.2.1\n"


def test_flatcar_manual_ips_empty_editor_goes_back() -> None:
    facts = RackFacts.from_inventory(rack("a", "b", secondary=True))
    s = Script(
        ("ip-addrs", "manual"),
        ("manual-ip-assignment", ""),  # empty: back to the IP question
        ("ip-addrs", "manual"),
        ("manual-ip-assignment", "# only comments\n\n  # and blanks\n"),  # still empty
        ("ip-addrs", "manual"),
        ("manual-ip-assignment", INI),
        ("subnet-prefix", "172.16.5"),
    )
    answers = walk(flatcar_graph(facts), s)
    assert s.done()
    o = options_from_answers({**answers, "provision": "flatcar"}, facts)
    # Only what applies to Flatcar is set; the rest keeps Options' defaults.
    assert o == Options(provision=Provision.FLATCAR, ip_addrs=INI, subnet_prefix="172.16.5")
    editor = s.asked[1]
    assert editor.kind is Kind.EDITOR
    # The editor opens with a section per node's secondary MAC, each commented.
    for i in (1, 2):
        assert f"[{mac(i, 3)}]\nip_addr =\ngateway =\ndns =\n" in editor.default
        assert f"# primary MAC {mac(i, 1)}" in editor.default
    assert is_blank("\n".join(ln for ln in editor.default.splitlines() if ln.startswith("#")))


def test_flatcar_unchanged_editor_keeps_text_and_continues() -> None:
    facts = RackFacts.from_inventory(rack("a"))
    text = prefill(facts)
    s = Script(("ip-addrs", "manual"), ("manual-ip-assignment", text), ("subnet-prefix", ""))
    answers = walk(flatcar_graph(facts), s)
    # Blank settings mean "not given" (documented), so every node keeps DHCP.
    assert "ip_addr =\n" not in answers["ip-addrs"] and f"[{mac(1, 3)}]" in answers["ip-addrs"]
    assert parse_ip_addrs(answers["ip-addrs"], "x") == {}


def test_editor_reopens_on_the_operators_text_when_it_is_refused() -> None:
    facts = RackFacts.from_inventory(rack("a", "a"))
    no_gateway = f"[{mac(1, 3)}]\nip_addr = 192.0.2.10/24\n"
    unknown = "[02:99:99:99:99:99]\nip_addr = 192.0.2.10/24\ngateway = 192.0.2.1\ndns = 1.1.1.1\n"
    s = Script(("ip-addrs", "manual"), ("manual-ip-assignment", no_gateway),
               ("manual-ip-assignment", HELP), ("manual-ip-assignment", unknown),
               ("manual-ip-assignment", INI), ("subnet-prefix", ""))
    answers = walk(flatcar_graph(facts), s)
    assert answers["ip-addrs"] == INI
    # Asking for help in between keeps the operator's text too.
    assert s.asked[2].default == no_gateway and s.asked[3].default == no_gateway
    assert s.asked[4].default == unknown
    assert "IP addresses:1:2: section [02:00:00:00:03:01] sets ip_addr but no gateway" in s.told[0]
    assert s.told[1].startswith("ⓘ Each node needs an IP address")
    assert "IP addresses:1:2: [02:99:99:99:99:99] is not the secondary MAC" in s.told[2]


def test_lokomotive_manual_ips_then_domain_name() -> None:
    # The reference skipped the domain question after the editor; the documentation asks it.
    s = Script(
        ("cluster-name", ""), ("controller-type", "any"), ("ip-addrs", "manual"),
        ("manual-ip-assignment", INI), ("k8s-domain-name", "k8s.example.com"),
        ("subnet-prefix", ""), ("web-ui", "true"), ("storage-provider", "none"),
        ("config-backup", "false"),
    )
    o = loko(SMALL_RACK, s)
    assert o.ip_addrs == INI and o.k8s_domain_name == "k8s.example.com"


BACKUP_START = (
    ("cluster-name", ""), ("controller-type", "any"), ("ip-addrs", "DHCP"),
    ("k8s-domain-name", ""), ("subnet-prefix", ""), ("web-ui", "true"),
    ("storage-provider", "none"),
)


def test_backing_out_of_every_backup_question() -> None:
    s = Script(
        *BACKUP_START,
        ("config-backup", "true"), ("aws-access-key", ""),  # back
        ("config-backup", "true"), ("aws-access-key", "AKIA1"), ("aws-secret-key", "  "),  # back
        ("config-backup", "true"), ("aws-access-key", "AKIA1"), ("aws-secret-key", "s3cr3t"),
        ("backup-name", ""), ("backup-s3-bucket", ""),  # back
        ("config-backup", "false"),
    )
    o = loko(SMALL_RACK, s)
    assert o.backup is None
    # The keys were typed in secret prompts.
    assert {q.kind for q in s.asked if q.key.startswith("aws-")} == {Kind.SECRET}


def test_backup_with_other_region_and_back_to_the_list() -> None:
    s = Script(
        *BACKUP_START,
        ("config-backup", "true"), ("aws-access-key", "AKIA1"), ("aws-secret-key", "s3cr3t"),
        ("backup-name", "nightly"), ("backup-s3-bucket", "my-bucket"),
        ("backup-aws-location", OTHER), ("other-aws-location", ""),  # back to the list
        ("backup-aws-location", OTHER), ("other-aws-location", "eu-central-2"),
    )
    o = loko(SMALL_RACK, s)
    assert o.backup == Backup("AKIA1", "s3cr3t", "nightly", "my-bucket", "eu-central-2")
    assert "s3cr3t" not in repr(o) and "AKIA1" not in repr(o)


def test_backup_listed_region_and_default_name() -> None:
    s = Script(
        *BACKUP_START,
        ("config-backup", "true"), ("aws-access-key", "AK"), ("aws-secret-key", "SK"),
        ("backup-name", ""), ("backup-s3-bucket", "bkt"), ("backup-aws-location", "eu-west-1"),
    )
    b = loko(SMALL_RACK, s).backup
    assert b is not None and (b.name, b.aws_location) == ("lokomotive-backup", "eu-west-1")


def test_help_is_shown_and_the_question_asked_again() -> None:
    s = Script(("ip-addrs", HELP), ("ip-addrs", "DHCP"), ("subnet-prefix", HELP),
               ("subnet-prefix", ""))
    walk(flatcar_graph(RackFacts()), s)
    assert s.told[0].startswith("ⓘ Each node needs an IP address")
    assert "first three numbers" in s.told[1]


@pytest.mark.parametrize(
    ("question", "bad", "why"),
    [
        ("cluster-name", "Rack_7", "lower-case"),
        ("k8s-domain-name", "bad domain", "domain name"),
        ("subnet-prefix", "10.0.0.0", "three numbers"),
        ("subnet-prefix", "256.1.1", "three numbers"),
        ("web-ui", "maybe", "Yes, No"),
    ],
)
def test_refused_answer_is_asked_again(question: str, bad: str, why: str) -> None:
    steps = list(BACKUP_START)
    i = [n for n, _ in steps].index(question)
    steps.insert(i, (question, bad))
    s = Script(*steps, ("config-backup", "false"))
    loko(SMALL_RACK, s)
    assert any(why in t and t.startswith("✗") for t in s.told), s.told


def test_refused_secret_is_not_echoed() -> None:
    s = Script(*BACKUP_START, ("config-backup", "true"), ("aws-access-key", "has space"),
               ("aws-access-key", ""), ("config-backup", "false"))
    loko(SMALL_RACK, s)
    assert s.told and all("has space" not in t for t in s.told)


def test_defaults_without_a_terminal() -> None:
    answers = walk(lokomotive_graph(HA_RACK), DefaultAsker())
    o = options_from_answers({**answers, "provision": "lokomotive"}, HA_RACK)
    assert o == Options(num_controllers=3, web_ui=True)
    flat = walk(flatcar_graph(HA_RACK), DefaultAsker())
    assert flat == {"ip-addrs": "DHCP", "subnet-prefix": "172.24.213"}
    assert walk(provision_graph(), DefaultAsker()) == {"provision": "lokomotive"}


def test_every_link_points_to_a_question() -> None:
    for p in Provision:
        g = graph_for(p, HA_RACK)
        for q in g.questions.values():
            targets = [link.target for link in q.links] + [q.then]
            assert all(t is None or t in g.questions for t in targets), q.name
            if q.kind is Kind.SELECT:
                assert q.default in [c.value for c in q.choices] or not q.default


def test_a_looping_asker_is_stopped() -> None:
    class Loop:
        def ask(self, question: object) -> str:
            return ""

        def tell(self, text: str) -> None:
            pass

    g = flatcar_graph(RackFacts())
    with pytest.raises(InputError):
        walk(g, Loop())  # empty editor text and "" for the select loop forever


class _Random:
    """An Asker answering at random: choice values, help, nothing, or any text."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def ask(self, question: Question) -> str:
        options = [c.value for c in question.choices] + ["true", "false", HELP, "", INI]
        # Mostly meaningful answers, so that walks reach their end; sometimes any text.
        return self.data.draw(st.one_of(st.sampled_from(options), st.sampled_from(options),
                                        st.sampled_from(options), st.text(max_size=20)))

    def tell(self, text: str) -> None:
        pass


@settings(max_examples=100, deadline=None)
@given(st.data(), st.sampled_from(list(Provision)),
       st.sampled_from([HA_RACK, SMALL_RACK, RackFacts()]))
def test_any_answers_give_options_or_racker_errors(
        data: st.DataObject, provision: Provision, facts: RackFacts) -> None:
    try:
        answers = walk(graph_for(provision, facts), _Random(data))
        o = options_from_answers({**answers, "provision": provision.value}, facts)
    except InputError as e:
        assert e.message
    else:
        assert o.provision is provision
