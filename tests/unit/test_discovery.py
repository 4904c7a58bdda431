"""Table tests for racker.core.discovery: leases, neighbours, routes, arp-scan, dhcp-host, hosts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core import discovery as d

NOW = 1_700_000_000

LEASES = f"""\
{NOW + 100} aa:bb:cc:dd:ee:01 172.24.213.10 bmc1 01:aa:bb:cc:dd:ee:01
{NOW + 50} AA-BB-CC-DD-EE-02 172.24.213.11 * *
{NOW - 10} aa:bb:cc:dd:ee:03 172.24.213.12 * *
0 aa:bb:cc:dd:ee:04 172.24.213.13 * *
duid 00:01:00:01:2a:2b:2c:2d:aa:bb:cc:dd:ee:ff
{NOW + 100} 12345678 fd00::5 host6 00:02:00:00
garbage line
{NOW + 20} aa:bb:cc:dd:ee:01 172.24.213.99 * *
{NOW + 10} aa:bb:cc:dd:ee:05 not-an-ip * *
"""


def test_parse_leases_keeps_ipv4_entries_only() -> None:
    leases = d.parse_leases(LEASES)
    assert [(x.mac, x.ip) for x in leases] == [
        ("aa:bb:cc:dd:ee:01", "172.24.213.10"),
        ("aa:bb:cc:dd:ee:02", "172.24.213.11"),
        ("aa:bb:cc:dd:ee:03", "172.24.213.12"),
        ("aa:bb:cc:dd:ee:04", "172.24.213.13"),
        ("aa:bb:cc:dd:ee:01", "172.24.213.99"),
    ]
    assert leases[0].hostname == "bmc1"
    assert leases[1].hostname is None


def test_leases_by_mac_drops_expired_and_prefers_longest() -> None:
    assert d.leases_by_mac(d.parse_leases(LEASES), NOW) == {
        "aa:bb:cc:dd:ee:01": "172.24.213.10",  # expires later than the .99 lease
        "aa:bb:cc:dd:ee:02": "172.24.213.11",
        "aa:bb:cc:dd:ee:04": "172.24.213.13",  # expiry 0 = infinite
    }


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["0 aa:bb:cc:dd:ee:01 10.0.0.1 * *", f"{NOW + 5} aa:bb:cc:dd:ee:01 10.0.0.2 * *"],
         "10.0.0.1"),
        ([f"{NOW + 5} aa:bb:cc:dd:ee:01 10.0.0.2 * *", "0 aa:bb:cc:dd:ee:01 10.0.0.1 * *"],
         "10.0.0.1"),
        ([f"{NOW + 5} aa:bb:cc:dd:ee:01 10.0.0.2 * *", f"{NOW + 5} aa:bb:cc:dd:ee:01 10.0.0.3"],
         "10.0.0.3"),
        ([f"{NOW - 1} aa:bb:cc:dd:ee:01 10.0.0.2 * *"], None),
    ],
)
def test_leases_by_mac_choice(lines: list[str], expected: str | None) -> None:
    got = d.leases_by_mac(d.parse_leases("\n".join(lines)), NOW)
    assert got.get("aa:bb:cc:dd:ee:01") == expected


NEIGH = json.dumps([
    {"dst": "192.0.2.1", "dev": "eth0", "lladdr": "02:fc:00:00:00:05", "state": ["STALE"]},
    {"dst": "fd00::1", "dev": "eth0", "state": ["FAILED"]},
    {"dst": "10.1.0.7", "dev": "rack0", "lladdr": "AA:BB:CC:00:00:01", "state": ["REACHABLE"]},
    {"dst": "10.1.0.8", "dev": "rack0", "lladdr": "aa:bb:cc:00:00:02", "state": ["FAILED"]},
    {"dst": "10.1.0.9", "dev": "rack0", "state": ["INCOMPLETE"]},
    {"dst": "10.1.0.10", "dev": "rack0", "lladdr": "aa:bb:cc:00:00:03", "state": ["STALE"]},
    {"dst": "10.1.0.11", "dev": "rack0", "lladdr": "aa:bb:cc:00:00:03", "state": ["REACHABLE"]},
    {"dst": "fe80::1", "dev": "rack0", "lladdr": "aa:bb:cc:00:00:09", "state": ["REACHABLE"]},
])


@pytest.mark.parametrize(
    ("dev", "expected"),
    [
        (None, {"02:fc:00:00:00:05": "192.0.2.1", "aa:bb:cc:00:00:01": "10.1.0.7",
                "aa:bb:cc:00:00:03": "10.1.0.11"}),
        ("rack0", {"aa:bb:cc:00:00:01": "10.1.0.7", "aa:bb:cc:00:00:03": "10.1.0.11"}),
        ("nope", {}),
    ],
)
def test_neighbours_by_mac(dev: str | None, expected: dict[str, str]) -> None:
    assert d.neighbours_by_mac(d.parse_neigh_json(NEIGH), dev) == expected


@pytest.mark.parametrize("text", ["", "not json", "{}", "[1, 2]", '[{"dst": 5}]'])
def test_parse_neigh_json_tolerates_junk(text: str) -> None:
    assert d.parse_neigh_json(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"type":"local","dst":"127.0.0.5","dev":"lo","prefsrc":"127.0.0.1"}]', "lo"),
        ('[{"dst":"172.24.213.7","dev":"eno2","prefsrc":"172.24.213.1","flags":[]}]', "eno2"),
        ('[{"dst":"8.8.8.8","gateway":"192.0.2.1","dev":"eth0"}]', "eth0"),
        ("[]", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_route_get_json(text: str, expected: str | None) -> None:
    assert d.parse_route_get_json(text) == expected


ARP_SCAN_PLAIN = "10.9.0.2\t02:00:5e:10:00:02\n10.9.0.3\t02:00:5E:10:00:03\n"
ARP_SCAN_FULL = """\
Interface: rki0, type: EN10MB, MAC: 02:00:5e:10:00:01, IPv4: 10.9.0.1
Starting arp-scan 1.10.0 with 256 hosts (https://github.com/royhills/arp-scan)
10.9.0.2\t02:00:5e:10:00:02\t(Unknown: locally administered)
10.9.0.4\t02:00:5e:10:00:02\t(Unknown: locally administered) (DUP: 2)

2 packets received by filter, 0 packets dropped by kernel
Ending arp-scan 1.10.0: 256 hosts scanned in 1.880 seconds (136.17 hosts/sec). 1 responded
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ARP_SCAN_PLAIN, {"02:00:5e:10:00:02": "10.9.0.2", "02:00:5e:10:00:03": "10.9.0.3"}),
        (ARP_SCAN_FULL, {"02:00:5e:10:00:02": "10.9.0.2"}),
        ("10.9.0.2 02:00:5e:10:00:02\n", {"02:00:5e:10:00:02": "10.9.0.2"}),
        ("", {}),
    ],
)
def test_parse_arp_scan(text: str, expected: dict[str, str]) -> None:
    assert d.parse_arp_scan(text) == expected


DNSMASQ_CONF = """\
# dnsmasq.conf rendered by racker
dhcp-range=172.24.213.128,172.24.213.254,255.255.255.0,2m
dhcp-host=aa:bb:cc:dd:ee:01,172.24.213.2,2m
dhcp-host = AA:BB:CC:DD:EE:02 , 172.24.213.3 , 2m
dhcp-host=aa:bb:cc:dd:ee:03,aa:bb:cc:dd:ee:04,172.24.213.4
dhcp-host=id:01:02:03,172.24.213.50
dhcp-host=somehost,172.24.213.51
#dhcp-host=aa:bb:cc:dd:ee:09,172.24.213.9
interface=eno2
"""


def test_parse_dhcp_hosts() -> None:
    assert d.parse_dhcp_hosts(DNSMASQ_CONF) == {
        "aa:bb:cc:dd:ee:01": "172.24.213.2",
        "aa:bb:cc:dd:ee:02": "172.24.213.3",
        "aa:bb:cc:dd:ee:03": "172.24.213.4",
        "aa:bb:cc:dd:ee:04": "172.24.213.4",
    }


HOSTS = """\
127.0.0.1 localhost
# racker
172.24.213.2 lokomotive-controller-0.k8s.localdomain
172.24.213.2 lokomotive.k8s.localdomain lokomotive-etcd0.k8s.localdomain
172.24.213.3 lokomotive-worker-0.k8s.localdomain   # trailing comment
172.24.213.4 LOKOMOTIVE-worker-1.k8s.localdomain
172.24.213.5
"""


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("lokomotive-worker-0.k8s.localdomain", ("172.24.213.3",)),
        ("lokomotive-worker-0", ("172.24.213.3",)),
        ("lokomotive-worker-1.K8S.localdomain", ("172.24.213.4",)),
        ("lokomotive.k8s.localdomain", ("172.24.213.2",)),
        ("lokomotive", ("172.24.213.2",)),
        ("lokomotive-worker", ()),
        ("comment", ()),
    ],
)
def test_ips_for_name(name: str, expected: tuple[str, ...]) -> None:
    assert d.ips_for_name(d.parse_hosts(HOSTS), name) == expected


def test_names_for_ip() -> None:
    entries = d.parse_hosts(HOSTS)
    assert d.names_for_ip(entries, "172.24.213.2") == (
        "lokomotive-controller-0.k8s.localdomain",
        "lokomotive.k8s.localdomain",
        "lokomotive-etcd0.k8s.localdomain",
    )
    assert d.names_for_ip(entries, "172.24.213.5") == ()


def test_macs_for_ip() -> None:
    planned = d.parse_dhcp_hosts(DNSMASQ_CONF)
    assert d.macs_for_ip(planned, "172.24.213.4") == ("aa:bb:cc:dd:ee:03", "aa:bb:cc:dd:ee:04")
    assert d.macs_for_ip(planned, "10.0.0.1") == ()


# --- properties ----------------------------------------------------------------------------------

_macs = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda b: ":".join(f"{x:02x}" for x in b))
_ips = st.ip_addresses(v=4).map(str)


@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    d.parse_leases(text)
    d.parse_neigh_json(text)
    d.parse_route_get_json(text)
    d.parse_arp_scan(text)
    d.parse_dhcp_hosts(text)
    d.parse_hosts(text)


@given(st.lists(st.tuples(st.integers(NOW, NOW + 10_000), _macs, _ips), max_size=20))
def test_leases_round_trip(rows: list[tuple[int, str, str]]) -> None:
    text = "".join(f"{t} {m.upper()} {ip} * *\n" for t, m, ip in rows)
    parsed = d.parse_leases(text)
    assert [(x.expiry, x.mac, x.ip) for x in parsed] == rows
    by_mac = d.leases_by_mac(parsed, NOW)
    assert set(by_mac) == {m for _, m, _ in rows}


@given(st.dictionaries(_macs, _ips, max_size=20))
def test_arp_scan_round_trip(table: dict[str, str]) -> None:
    text = "".join(f"{ip}\t{mac}\n" for mac, ip in table.items())
    assert d.parse_arp_scan(text) == table
