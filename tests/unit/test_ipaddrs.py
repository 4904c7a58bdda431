"""`-ip-addrs`: the documented INI format, gateway/dns reuse, and errors with line numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.core.ipaddrs import parse_ip_addr_sections, parse_ip_addrs
from racker.errors import InputError, RackerError
from racker.model import StaticAddress

M1, M2, M3, M4 = (f"aa:bb:cc:dd:ee:0{i}" for i in range(1, 5))


def sa(mac: str, addr: str, gw: str, dns: str) -> StaticAddress:
    return StaticAddress(secondary_mac=mac, address=addr, gateway=gw, dns=dns)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("DHCP", {}),
        ("  DHCP\n", {}),
        ("", {}),
        ("# only a comment\n", {}),
        # the documented example
        (f"[{M1}]\nip_addr = 11.22.33.44/22\ngateway = 11.22.33.1\ndns = 1.2.3.4\n",
         {M1: sa(M1, "11.22.33.44/22", "11.22.33.1", "1.2.3.4")}),
        # MAC in any case and with hyphens, spaces around keys and values, CRLF
        ("[AA-BB-CC-DD-EE-01]\r\n  ip_addr=11.22.33.44/24 \r\nGATEWAY =11.22.33.1\r\ndns= 8.8.8.8",
         {M1: sa(M1, "11.22.33.44/24", "11.22.33.1", "8.8.8.8")}),
        # a section without ip_addr is ignored entirely, its gateway and dns too
        (f"[{M1}]\ngateway = 9.9.9.9\ndns = 9.9.9.9\n"
         f"[{M2}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n",
         {M2: sa(M2, "10.0.0.2/24", "10.0.0.1", "1.1.1.1")}),
        # later sections reuse the last gateway/dns; an override is reused onward
        (f"[{M1}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n"
         f"# comment between\n[{M2}]\nip_addr = 10.0.0.3/24\n"
         f"[{M3}]\nip_addr = 10.0.1.4/24\ngateway = 10.0.1.1\n"
         f"[{M4}]\n# comment inside\nip_addr = 10.0.1.5/24\n",
         {M1: sa(M1, "10.0.0.2/24", "10.0.0.1", "1.1.1.1"),
          M2: sa(M2, "10.0.0.3/24", "10.0.0.1", "1.1.1.1"),
          M3: sa(M3, "10.0.1.4/24", "10.0.1.1", "1.1.1.1"),
          M4: sa(M4, "10.0.1.5/24", "10.0.1.1", "1.1.1.1")}),
        # an empty section between does not reset the reuse
        (f"[{M1}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n[{M2}]\n"
         f"[{M3}]\nip_addr = 10.0.0.4/32\n",
         {M1: sa(M1, "10.0.0.2/24", "10.0.0.1", "1.1.1.1"),
          M3: sa(M3, "10.0.0.4/32", "10.0.0.1", "1.1.1.1")}),
    ],
)
def test_parse(text: str, expect: dict[str, StaticAddress]) -> None:
    assert parse_ip_addrs(text, "-ip-addrs") == expect


def test_sections_keep_their_place() -> None:
    secs = parse_ip_addr_sections(
        f"# x\n\n  [ {M1} ]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n", "f")
    assert [(s.line, s.column, s.address.secondary_mac) for s in secs] == [(3, 5, M1)]


HEAD = f"[{M1}]\n"
FULL = f"[{M1}]\nip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1\n"

# (text, line, column, words in the message, words in the hint)
BAD = [
    ("[not-a-mac]\nip_addr = 10.0.0.2/24\n", 1, 2, "not a MAC", "secondary MAC"),
    (f"[{M1}\n", 1, 1, "must end with ']'", "[aa:bb"),
    ("ip_addr = 10.0.0.2/24\n", 1, 1, "before any [MAC] section", "section header"),
    (HEAD + "address = 10.0.0.2/24\n", 2, 1, 'unknown setting "address"', "ip_addr, gateway"),
    (HEAD + "ip_addr 10.0.0.2/24\n", 2, 1, "expected", "format"),
    (HEAD + "ip_addr = 10.0.0.2\ngateway = 10.0.0.1\ndns = 1.1.1.1\n", 2, 11,
     "not an IPv4 address with a subnet size", "A.B.C.D/N"),
    (HEAD + "ip_addr = 10.0.0.300/24\n", 2, 11, "not an IPv4", "A.B.C.D/N"),
    (HEAD + "ip_addr =   10.0.0.2/33\n", 2, 13, "not an IPv4", "A.B.C.D/N"),
    (HEAD + "ip_addr = 10.0.0.2/255.255.255.0\n", 2, 11, "not an IPv4", "A.B.C.D/N"),
    (HEAD + "ip_addr = 10.0.0.0/24\n", 2, 11, "network or broadcast", "host address"),
    (HEAD + "ip_addr = 10.0.0.2/24 # office\n", 2, 11, "not an IPv4", "own line"),
    (HEAD + "ip_addr = 10.0.0.2/24\ngateway = 10.0.0.1, 10.0.0.254\n", 3, 11,
     "gateway", "one address"),
    (HEAD + "ip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\ndns = 1.1.1.1 8.8.8.8\n", 4, 7,
     "dns", "one address"),
    (HEAD + "ip_addr = 10.0.0.2/24\nip_addr = 10.0.0.3/24\n", 3, 1, "set twice", "once"),
    (HEAD + "dns =\n", 2, 6, "no value", "format"),
    (HEAD + "ip_addr = 10.0.0.2/24\ndns = 1.1.1.1\n", 1, 2, "no gateway", "gateway and dns"),
    (HEAD + "ip_addr = 10.0.0.2/24\ngateway = 10.0.0.1\n", 1, 2, "no dns", "gateway and dns"),
    (f"[{M2}]\ngateway = 10.0.0.1\ndns = 1.1.1.1\n[{M1}]\nip_addr = 10.0.0.2/24\n", 4, 2,
     "no gateway and no dns", "gateway and dns"),
    (FULL + f"[{M1.upper()}]\n", 5, 2, "appears twice", "merge"),
]


@pytest.mark.parametrize(("text", "line", "column", "words", "hint"), BAD)
def test_bad_input(text: str, line: int, column: int, words: str, hint: str) -> None:
    with pytest.raises(InputError) as e:
        parse_ip_addrs(text, "-ip-addrs")
    err = e.value
    assert err.where is not None
    assert (err.where.file, err.where.line, err.where.column) == ("-ip-addrs", line, column)
    assert words in err.message
    assert err.hint is not None and hint in err.hint
    assert str(err).startswith(f"-ip-addrs:{line}:{column}: ")


_line = st.one_of(
    st.text(max_size=30),
    st.sampled_from([f"[{M1}]", f"[{M2}]", "ip_addr = 10.0.0.2/24", "gateway = 10.0.0.1",
                     "dns = 1.1.1.1", "# c", "", "ip_addr=", "[", "="]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=10))
def test_arbitrary_input_raises_only_racker_errors(lines: list[str]) -> None:
    try:
        out = parse_ip_addrs("\n".join(lines), "-ip-addrs")
    except RackerError as e:
        assert e.where is not None and e.where.line is not None
        return
    for mac, addr in out.items():
        assert addr.secondary_mac == mac
        assert addr.gateway and addr.dns and "/" in addr.address
