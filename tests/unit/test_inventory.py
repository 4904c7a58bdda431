"""nodes.csv parsing: layouts, normalisation, the management row and every error's place."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racker.adapters.fs.rackmeta import load_inventory, read_machine_macs
from racker.core.inventory import HEADER, OLD_HEADER, check_nodes_csv, parse_nodes_csv
from racker.core.macs import parse_mac
from racker.errors import InputError, RackerError
from racker.model import Inventory
from racker.paths import Paths
from tests.rackfixtures import nodes_csv_text, write_rack

MACHINE = {"lo": "00:00:00:00:00:00", "eth0": "00:11:22:33:44:00", "eth1": "00:11:22:33:44:30",
           "eth2": "00:11:22:33:44:77"}
MGMT = "00:11:22:33:44:00, 00:11:22:33:44:01, 00:11:22:33:44:30, small, mgmt node"
N1 = "00:11:22:33:44:10, 00:11:22:33:44:11, 00:11:22:33:44:40, small, controller"
N2 = "00:11:22:33:44:20, 00:11:22:33:44:21, 00:11:22:33:44:50, large, worker"
DOC_EXAMPLE = f"{HEADER}\n{MGMT}\n{N1}\n{N2}\n"


def parse(text: str, machine: dict[str, str] | None = None) -> Inventory:
    return parse_nodes_csv(text, "nodes.csv", MACHINE if machine is None else machine)


def test_documented_example() -> None:
    inv = parse(DOC_EXAMPLE)
    assert inv.management.primary_mac == "00:11:22:33:44:00"
    assert inv.pxe_interface == "eth1"
    assert [n.primary_mac for n in inv.nodes] == ["00:11:22:33:44:10", "00:11:22:33:44:20"]
    n = inv.nodes[1]
    assert (n.bmc_mac, n.secondary_mac, n.node_type, n.comment, n.line) == (
        "00:11:22:33:44:21", "00:11:22:33:44:50", "large", "worker", 4)
    assert inv.node_types == ("small", "large")


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        # spaces around fields, empty type and comment
        ("  00:11:22:33:44:10 ,00:11:22:33:44:11,   00:11:22:33:44:40 , , ",
         ("00:11:22:33:44:10", "00:11:22:33:44:11", "00:11:22:33:44:40", "", "")),
        # upper case and hyphens are normalised
        ("00-11-22-33-44-1A, 00:11:22:33:44:1B, 00-11-22-33-44-4A, big, x",
         ("00:11:22:33:44:1a", "00:11:22:33:44:1b", "00:11:22:33:44:4a", "big", "x")),
        # commas in the comment belong to the comment
        ("00:11:22:33:44:10, 00:11:22:33:44:11, 00:11:22:33:44:40, t, rack 2, slot 3",
         ("00:11:22:33:44:10", "00:11:22:33:44:11", "00:11:22:33:44:40", "t", "rack 2, slot 3")),
        # no secondary MAC (optional for nodes), short row without type and comment
        ("00:11:22:33:44:10, 00:11:22:33:44:11",
         ("00:11:22:33:44:10", "00:11:22:33:44:11", None, "", "")),
        ("00:11:22:33:44:10, 00:11:22:33:44:11, , gpu,",
         ("00:11:22:33:44:10", "00:11:22:33:44:11", None, "gpu", "")),
        # double-quoted fields as spreadsheets export them
        ('"00:11:22:33:44:10","00:11:22:33:44:11","","gpu","rack 2, slot 3"',
         ("00:11:22:33:44:10", "00:11:22:33:44:11", None, "gpu", "rack 2, slot 3")),
    ],
)
def test_row_forms(row: str, expect: tuple[str, str, str | None, str, str]) -> None:
    inv = parse(f"{HEADER}\n{MGMT}\n{row}\n")
    n = inv.nodes[0]
    assert (n.primary_mac, n.bmc_mac, n.secondary_mac, n.node_type, n.comment) == expect


def test_crlf_bom_and_blank_lines() -> None:
    text = "\ufeff" + DOC_EXAMPLE.replace("\n", "\r\n") + "\r\n\r\n"
    inv = parse(text)
    assert len(inv.nodes) == 2 and inv.nodes[0].comment == "controller"


def test_old_four_column_layout() -> None:
    # the management row is found by its primary MAC, but it has no secondary MAC column
    text = (f"{OLD_HEADER}\n00:11:22:33:44:00, 00:11:22:33:44:01, small, mgmt\n"
            "00:11:22:33:44:10, 00:11:22:33:44:11, large, worker, with, commas\n")
    inv, problems = check_nodes_csv(text, "nodes.csv", MACHINE)
    assert inv is None
    assert len(problems) == 1
    assert "no Secondary MAC" in problems[0].message
    assert problems[0].hint is not None and HEADER in problems[0].hint


def test_old_layout_nodes_parse_when_management_row_found_by_secondary() -> None:
    # a four-column file cannot name the PXE interface; the same rows in five columns can
    five = (f"{HEADER}\n00:11:22:33:44:00, 00:11:22:33:44:01, 00:11:22:33:44:30, , m\n"
            "00:11:22:33:44:10, 00:11:22:33:44:11, , large, worker, with, commas\n")
    n = parse(five).nodes[0]
    assert (n.node_type, n.comment, n.secondary_mac) == ("large", "worker, with, commas", None)


def test_management_found_by_secondary_mac_only() -> None:
    inv = parse(DOC_EXAMPLE, {"enp1s0": "00:11:22:33:44:30", "wlan0": "aa:aa:aa:aa:aa:aa"})
    assert inv.pxe_interface == "enp1s0"
    assert inv.management.line == 2


def test_management_row_need_not_be_first() -> None:
    text = f"{HEADER}\n{N2}\n{N1}\n{MGMT}\n"
    inv = parse(text)
    assert inv.management.line == 4
    assert [n.line for n in inv.nodes] == [2, 3]


# (text, line, column, words that must be in the message)
BAD = [
    ("", 1, None, "empty"),
    ("\n\n  \n", 1, None, "empty"),
    (f"{MGMT}\n{N1}\n", 1, 1, "header"),
    (f"{HEADER}\n", 1, None, "no row"),
    (f"{HEADER}\n{MGMT}\nxx:11:22:33:44:10, 00:11:22:33:44:11, , ,\n", 3, 1,
     'Primary MAC address "xx:11:22:33:44:10" is not a MAC'),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10,   00:11:22:33:44:1, , ,\n", 3, 22,
     "BMC MAC address"),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10, 00:11:22:33:44:11, 00:11:22:33:44, , \n", 3, 39,
     "Secondary MAC address"),
    (f"{HEADER}\n{MGMT}\n, 00:11:22:33:44:11, , ,\n", 3, 1, "Primary MAC address is missing"),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10\n", 3, 18, "BMC MAC address is missing"),
    (f'{HEADER}\n{MGMT}\n"00:11:22:33:44:10", "00:11:22:33:44:1x", , ,\n', 3, 23,
     "BMC MAC address"),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10, , , ,\n", 3, 19, "BMC MAC address is missing"),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10, 00:11:22:33:44:11, , 00:11:22:33:44:99, c\n", 3, 41,
     "looks like a MAC"),
    (f"{OLD_HEADER}\n{MGMT}\n", 2, 39, "looks like a MAC"),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10, 00:11:22:33:44:01, , ,\n", 3, 20, "appears twice"),
    (f"{HEADER}\n{MGMT}\n{N1}\n{N1.upper()}\n", 4, 1, "appears twice"),
    (f"{HEADER}\n{MGMT}\n00-11-22-33-44-30, 00:11:22:33:44:41, , ,\n", 3, 1, "appears twice"),
    (f"{HEADER}\n00:11:22:33:44:00, 00:11:22:33:44:01, , , mgmt\n{N1}\n", 2, 38,
     "no Secondary MAC"),
    (f"{HEADER}\n{MGMT}\n00:11:22:33:44:10, 00:11:22:33:44:11, 00:11:22:33:44:77, ,\n", 3, 1,
     "second row"),
    (f"{HEADER}\n00:11:22:33:44:00, 00:11:22:33:44:01, 00:11:22:33:44:31, , m\n", 2, 39,
     "not the address of any interface"),
]


@pytest.mark.parametrize(("text", "line", "column", "words"), BAD)
def test_bad_input_names_file_line_column(text: str, line: int, column: int | None,
                                          words: str) -> None:
    with pytest.raises(InputError) as e:
        parse(text)
    err = e.value
    assert err.where is not None
    assert err.where.file == "nodes.csv"
    assert (err.where.line, err.where.column) == (line, column)
    assert words in err.message
    assert err.hint
    place = f"nodes.csv:{line}" + (f":{column}" if column else "")
    assert str(err).startswith(place + ":")


def test_no_row_for_this_machine_lists_its_macs() -> None:
    with pytest.raises(InputError) as e:
        parse(DOC_EXAMPLE, {"eth7": "AA:BB:CC:DD:EE:FF", "lo": "00:00:00:00:00:00"})
    assert "eth7 aa:bb:cc:dd:ee:ff" in e.value.message
    assert "lo" not in e.value.message.split("has:")[1]
    assert e.value.where is not None and e.value.where.file == "nodes.csv"


def test_several_problems_are_collected() -> None:
    text = (f"{HEADER}\n{MGMT}\nzz, 00:11:22:33:44:11, , ,\n"
            "00:11:22:33:44:20, 00:11:22:33:44:2, , ,\n, 00:11:22:33:44:31, , ,\n")
    _, problems = check_nodes_csv(text, "nodes.csv", MACHINE)
    assert [(p.where.line if p.where else None) for p in problems] == [3, 4, 5]
    with pytest.raises(InputError) as e:
        parse(text)
    assert e.value.hint is not None and "2 more problem(s)" in e.value.hint


def test_header_with_mac_has_column_of_the_mac() -> None:
    text = f"Primary, BMC 00:11:22:33:44:55\n{MGMT}\n"
    with pytest.raises(InputError) as e:
        parse(text)
    assert e.value.where is not None and e.value.where.column == 14
    assert e.value.hint is not None and HEADER in e.value.hint


def test_fixture_rack_and_loader(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 5, types=("small", "large"))
    inv = load_inventory(Paths.from_env(env))
    assert inv.pxe_interface == "eth1"
    assert len(inv.nodes) == 5
    assert inv.node_types == ("small", "large")
    assert read_machine_macs(Path(env["RACKER_SYS_CLASS_NET"]))["eth0"] == "02:00:00:00:00:00"


def test_loader_missing_file(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 1)
    (tmp_path / "oem" / "nodes.csv").unlink()
    with pytest.raises(InputError) as e:
        load_inventory(Paths.from_env(env))
    assert e.value.where is not None and str(e.value.where.file).endswith("oem/nodes.csv")
    assert "missing" in e.value.message


def test_loader_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    env = write_rack(tmp_path, 1)
    p = tmp_path / "oem" / "nodes.csv"
    p.write_bytes(nodes_csv_text(1).encode() + b"00:11:22:33:44:aa, x\xff\n")
    with pytest.raises(InputError) as e:
        load_inventory(Paths.from_env(env))
    assert e.value.where is not None
    assert (e.value.where.line, e.value.where.column) == (4, 21)


_cell = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["00:11:22:33:44:00", "00:11:22:33:44:30", "00:11:22:33:44:10", "",
                     "AA-BB-CC-DD-EE-FF", "small", " , ", "\r"]),
)
_row = st.lists(_cell, max_size=7).map(",".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_row, max_size=8), st.booleans())
def test_arbitrary_input_raises_only_racker_errors(rows: list[str], header: bool) -> None:
    text = "\n".join(([HEADER] if header else []) + rows)
    _parse_or_racker_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_racker_errors(text: str) -> None:
    _parse_or_racker_error(text)


def _parse_or_racker_error(text: str) -> None:
    """Either a consistent Inventory or a RackerError with a place; nothing else."""
    try:
        inv = parse(text)
    except RackerError as e:
        assert e.where is not None and e.where.file == "nodes.csv"
        return
    macs = [m for n in (inv.management, *inv.nodes) for m in n.macs]
    assert len(macs) == len(set(macs))
    assert all(parse_mac(m) == m for m in macs)
    assert inv.pxe_interface in MACHINE
