"""Table tests for racker.core.ipmitool: arguments, settings, node lookup, argv and texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core import discovery
from racker.core import ipmitool as h
from racker.core.render.dnsmasq import DnsmasqSettings, dhcp_hosts, render_dnsmasq
from racker.core.render.hosts import hosts_entries, merge
from racker.errors import InputError
from racker.model import Inventory, Node
from tests import renderplans


def _node(i: int, *, secondary: bool = True, line: int = 0) -> Node:
    return Node(
        primary_mac=f"aa:bb:cc:00:00:{i:02x}",
        bmc_mac=f"aa:bb:cc:00:01:{i:02x}",
        secondary_mac=f"aa:bb:cc:00:02:{i:02x}" if secondary else None,
        node_type="t",
        comment="",
        line=line or i + 1,
    )


MGMT = _node(0x10)
NODES = (_node(3), _node(1), _node(2, secondary=False))
INV = Inventory(path=Path("/oem/nodes.csv"), management=MGMT, nodes=NODES, pxe_interface="eno2")
PLANNED = {
    "aa:bb:cc:00:00:01": "172.24.213.2",
    "aa:bb:cc:00:00:02": "172.24.213.3",
    "aa:bb:cc:00:00:03": "172.24.213.4",
    "aa:bb:cc:00:01:01": "172.24.213.5",
}
HOSTS = discovery.parse_hosts(
    "172.24.213.2 l-controller-0.k8s.localdomain\n"
    "172.24.213.2 l.k8s.localdomain l-etcd0.k8s.localdomain\n"
    "172.24.213.3 l-worker-0.k8s.localdomain\n"
    "172.24.213.4 l-worker-1.k8s.localdomain\n"
    "172.24.213.3 shared.k8s.localdomain\n"
    "172.24.213.4 shared.k8s.localdomain\n"
    "172.24.213.60 stray.k8s.localdomain\n"
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], None),
        (["-h"], None),
        (["--help", "x"], None),
        (["aa:bb:cc:00:00:01"], h.Request("aa:bb:cc:00:00:01", ("sol", "activate"), h.Kind.SOL)),
        (["n", "sol", "activate"], h.Request("n", ("sol", "activate"), h.Kind.SOL)),
        (["n", "diag"], h.Request("n", ("diag",), h.Kind.DIAG)),
        (["n", "diag", "x"], h.Request("n", ("diag", "x"), h.Kind.PASSTHROUGH)),
        (["n", "power", "status"], h.Request("n", ("power", "status"), h.Kind.POWER_STATUS)),
        (["n", "chassis", "power", "status"],
         h.Request("n", ("chassis", "power", "status"), h.Kind.POWER_STATUS)),
        (["n", "power", "status", "x"],
         h.Request("n", ("power", "status", "x"), h.Kind.PASSTHROUGH)),
        (["n", "raw", "0x0", "0x8", "0x3", "0x1f"],
         h.Request("n", ("raw", "0x0", "0x8", "0x3", "0x1f"), h.Kind.PASSTHROUGH)),
        (["--all", "diag"], h.Request("--all", ("diag",), h.Kind.DIAG)),
        (["--all", "chassis", "power", "off"],
         h.Request("--all", ("chassis", "power", "off"), h.Kind.PASSTHROUGH)),
    ],
)
def test_parse_args(argv: list[str], expected: h.Request | None) -> None:
    assert h.parse_args(argv) == expected


@pytest.mark.parametrize("argv", [["--all"], ["--all", "sol", "activate"]])
def test_all_refuses_serial_console(argv: list[str]) -> None:
    with pytest.raises(InputError) as e:
        h.parse_args(argv)
    assert "serial console" in str(e.value)
    assert e.value.hint


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, h.Settings()),
        ({"USE_STDIN": "0", "USE_TTY": "0"}, h.Settings(use_stdin=False, use_tty=False)),
        ({"USE_STDIN": "1", "USE_TTY": ""}, h.Settings()),
        ({"RETRY_SEC": "0"}, h.Settings(retry_sec=0)),
        ({"RETRY_SEC": "7", "IPMI_TIMEOUT": "2"}, h.Settings(retry_sec=7, ipmi_timeout=2)),
        ({"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, h.Settings(in_ssh=True)),
        ({"SSH_TTY": "/dev/pts/1"}, h.Settings(in_ssh=True)),
        ({"SSH_TTY": ""}, h.Settings(in_ssh=False)),
    ],
)
def test_parse_settings(env: dict[str, str], expected: h.Settings) -> None:
    assert h.parse_settings(env) == expected


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"USE_STDIN": "yes"}, "USE_STDIN"),
        ({"USE_TTY": "2"}, "USE_TTY"),
        ({"RETRY_SEC": "-1"}, "RETRY_SEC"),
        ({"RETRY_SEC": "1.5"}, "RETRY_SEC"),
        ({"IPMI_TIMEOUT": "0"}, "IPMI_TIMEOUT"),
    ],
)
def test_parse_settings_refuses(env: dict[str, str], name: str) -> None:
    with pytest.raises(InputError) as e:
        h.parse_settings(env)
    assert e.value.where is not None and e.value.where.flag == name


@pytest.mark.parametrize(
    ("settings", "expected"),
    [(h.Settings(), 60.0), (h.Settings(ipmi_timeout=1), 5.0), (h.Settings(ipmi_timeout=5), 13.0)],
)
def test_deadline(settings: h.Settings, expected: float) -> None:
    assert h.deadline_sec(settings) == expected


@pytest.mark.parametrize(
    ("timeout", "command", "expected"),
    [
        (None, ("power", "status"),
         ["ipmitool", "-I", "lanplus", "-C3", "-H", "10.0.0.5", "-U", "admin", "-E",
          "power", "status"]),
        (2, ("chassis", "bootparam", "get", "5"),
         ["ipmitool", "-I", "lanplus", "-C3", "-H", "10.0.0.5", "-U", "admin", "-E",
          "-N", "2", "-R", "1", "chassis", "bootparam", "get", "5"]),
    ],
)
def test_ipmitool_argv(timeout: int | None, command: tuple[str, ...], expected: list[str]) -> None:
    assert h.ipmitool_argv("10.0.0.5", "admin", command, timeout) == expected


def test_diag_batch() -> None:
    assert h.batch_input(h.DIAG_COMMANDS) == "chassis status\nchassis bootparam get 5\n"
    assert h.ipmitool_argv("10.0.0.5", "u", h.BATCH)[-2:] == ["exec", "/dev/stdin"]


def test_password_only_in_child_env() -> None:
    argv = h.ipmitool_argv("10.0.0.5", "admin", ("power", "status"), 3)
    env = h.child_env({"PATH": "/bin", "IPMI_PASSWORD": "old"}, "s3cr3t")
    assert "s3cr3t" not in " ".join(argv)
    assert env == {"PATH": "/bin", "IPMI_PASSWORD": "s3cr3t"}


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        ("pw is hunter2.", "hunter2", "pw is ********."),
        ("nothing", "hunter2", "nothing"),
        ("empty secret", "", "empty secret"),
    ],
)
def test_redact(text: str, secret: str, expected: str) -> None:
    assert h.redact(text, secret) == expected


@pytest.mark.parametrize(("in_ssh", "seq"), [(True, "~~."), (False, "~.")])
def test_detach_hint(in_ssh: bool, seq: str) -> None:
    hint = h.detach_hint(in_ssh)
    assert f"detach with {seq} " in hint
    assert ("~~." in hint) is in_ssh


@pytest.mark.parametrize(
    ("target", "primary"),
    [
        ("aa:bb:cc:00:00:01", "aa:bb:cc:00:00:01"),  # primary
        ("AA-BB-CC-00-01-02", "aa:bb:cc:00:00:02"),  # BMC, hyphen form, upper case
        ("aa:bb:cc:00:02:03", "aa:bb:cc:00:00:03"),  # secondary
        ("aa:bb:cc:00:01:10", "aa:bb:cc:00:00:10"),  # the management node's own BMC
        ("l-worker-0.k8s.localdomain", "aa:bb:cc:00:00:02"),
        ("l-worker-1", "aa:bb:cc:00:00:03"),  # without the domain
        ("l.k8s.localdomain", "aa:bb:cc:00:00:01"),  # cluster name → the one controller
    ],
)
def test_resolve_node(target: str, primary: str) -> None:
    assert h.resolve_node(target, INV, PLANNED, HOSTS).primary_mac == primary


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("aa:bb:cc:99:99:99", "no node in /oem/nodes.csv has the MAC address aa:bb:cc:99:99:99"),
        ("nobody.k8s.localdomain", "could not find a MAC address for 'nobody.k8s.localdomain'"),
        ("stray.k8s.localdomain", "could not find a MAC address"),
        ("shared.k8s.localdomain", "names more than one node"),
    ],
)
def test_resolve_node_errors(target: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        h.resolve_node(target, INV, PLANNED, HOSTS)
    assert message in str(e.value)
    assert e.value.hint


def test_all_nodes_sorted_by_primary_mac_without_management() -> None:
    assert [n.primary_mac for n in h.all_nodes(INV)] == [
        "aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02", "aa:bb:cc:00:00:03"]


@pytest.mark.parametrize(
    ("found", "planned", "expected"),
    [
        ("10.0.0.5", None, None),
        ("10.0.0.5", "10.0.0.5", None),
        ("10.0.0.6", "10.0.0.5",
         'Warning: BMC IP address does not match the static IP address set up with dnsmasq, '
         'expected "10.0.0.5"'),
    ],
)
def test_bmc_ip_warning(found: str, planned: str | None, expected: str | None) -> None:
    assert h.bmc_ip_warning(found, planned) == expected


@pytest.mark.parametrize(
    ("found", "planned", "start"),
    [
        (None, None, None),
        ("10.0.0.5", "10.0.0.5", None),
        ("10.0.0.9", None, None),
        ("10.0.0.6", "10.0.0.5", "Warning: Internal IP address does not match"),
        (None, "10.0.0.5", "Warning: Internal IP address not found"),
    ],
)
def test_internal_ip_warning(found: str | None, planned: str | None, start: str | None) -> None:
    got = h.internal_ip_warning(found, planned)
    if start is None:
        assert got is None
    else:
        assert got is not None and got.startswith(start) and '"10.0.0.5"' in got


@pytest.mark.parametrize(
    ("output", "start"),
    [
        ("Error: Unable to establish IPMI v2 / RMCP+ session", "hint: no session with this BMC"),
        ("Set Chassis Power Control to Down/Off failed: Insufficient privilege level",
         "hint: ipmi_user lacks the privilege"),
        ("Unable to send RAW command (...): Invalid command", "hint: this BMC does not support"),
        ("Chassis Power is on", None),
        ("", None),
    ],
)
def test_failure_hint(output: str, start: str | None) -> None:
    got = h.failure_hint(output)
    assert (got is None) if start is None else (got is not None and got.startswith(start))


def test_diag_lines() -> None:
    assert h.diag_lines("aa:bb:cc:dd:ee:12", "172.24.213.71", "aa:bb:cc:dd:ee:11",
                        "172.24.213.36", ["w-31.k8s.localdomain", "x"]) == [
        "BMC MAC address: aa:bb:cc:dd:ee:12",
        "BMC IP address: 172.24.213.71",
        "Node MAC address: aa:bb:cc:dd:ee:11",
        "Internal IP address: 172.24.213.36",
        "Internal host name: w-31.k8s.localdomain x",
    ]
    assert h.diag_lines("m", "i", "n", None, [])[3:] == [
        "Internal IP address: ", "Internal host name: "]


@pytest.mark.parametrize(
    ("output", "ok", "expected"),
    [
        ("Chassis Power is on", True, "Output for M:\nChassis Power is on\n\n"),
        ("Chassis Power is on\n", True, "Output for M:\nChassis Power is on\n\n"),
        ("Error: no session", False, "Output for M:\nError: no session\nFailed\n\n"),
        ("", False, "Output for M:\nFailed\n\n"),
        ("", True, "Output for M:\n\n"),
    ],
)
def test_all_block(output: str, ok: bool, expected: str) -> None:
    assert h.all_block("M", output, ok) == expected


def test_usage_is_the_documented_one() -> None:
    text = h.usage("ipmi", 150)
    first = text.splitlines()[0]
    assert first == "Usage: ipmi domain|primary-mac|bmc-mac|--all diag|[ipmitool commands]"
    for word in ("sol activate", "diag", "USE_STDIN=0 USE_TTY=0", "150 seconds", "RETRY_SEC"):
        assert word in text


# --- contract with the renderers: what racker writes is what the helper reads --------------------

@pytest.mark.parametrize("options", ["flatcar", "lokomotive"])
def test_rendered_dnsmasq_conf_and_hosts_name_every_node(options: str) -> None:
    opts = renderplans.flatcar() if options == "flatcar" else renderplans.lokomotive(
        num_controllers=1)
    plan = renderplans.build_plan(4, opts)
    conf = render_dnsmasq(plan, DnsmasqSettings("eth1", Path("/s/l"), Path("/s/p")))
    planned = discovery.parse_dhcp_hosts(conf)
    assert planned == dict(dhcp_hosts(plan))
    hosts = discovery.parse_hosts(merge("127.0.0.1 localhost\n", hosts_entries(plan)))
    for n in plan.nodes:
        assert h.resolve_node(n.name, plan.inventory, planned, hosts) == n.node
        assert h.resolve_node(n.node.bmc_mac.upper(), plan.inventory, planned, hosts) == n.node
        assert n.name in discovery.names_for_ip(hosts, planned[n.node.primary_mac])


@given(st.sampled_from([(n, m) for n in (*NODES, MGMT) for m in n.macs]), st.booleans(),
       st.booleans())
def test_any_mac_form_names_its_node(pair: tuple[Node, str], upper: bool, hyphen: bool) -> None:
    node, mac = pair
    text = mac.upper() if upper else mac
    text = text.replace(":", "-") if hyphen else text
    assert h.resolve_node(text, INV, PLANNED, HOSTS) == node
