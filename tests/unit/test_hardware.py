from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racker.core.hardware import (
    Disk,
    Hardware,
    Nic,
    describe,
    guid_matches,
    guid_readings,
    guid_text,
    hardware_from_json,
    human_bytes,
    normalise_uuid,
    parse_hardware,
    summary,
)
from racker.errors import InputError

RAW = {
    "system": {"uuid": "4C4C4544-0042-3510-8052-B4C04F333132", "vendor": "Dell Inc.",
               "model": "PowerEdge R640", "serial": "To Be Filled By O.E.M."},
    "cpu": {"model": "Intel(R) Xeon(R) Gold 6130", "cores": 16, "threads": 32},
    "memory": {"blocks": 1536, "block_size_hex": "8000000", "total_kb": 196000000},
    "lsblk": {"blockdevices": [
        {"name": "sdb", "size": 4000787030016, "model": "ST4000NM", "serial": "Z1Z2",
         "rota": True, "type": "disk"},
        {"name": "sda", "size": "480103981056", "model": "SSDSC2KB", "serial": "PHYS",
         "rota": "0", "type": "disk"},
        {"name": "loop0", "size": 1000, "type": "loop"},
        {"name": "sr0", "size": 1000, "type": "rom"},
    ]},
    "links": [
        {"ifname": "lo", "address": "00:00:00:00:00:00", "link_type": "loopback"},
        {"ifname": "eno1", "address": "AA:BB:CC:00:00:02", "link_type": "ether",
         "operstate": "UP"},
        {"ifname": "eno2", "address": "aa:bb:cc:00:00:03", "link_type": "ether",
         "operstate": "DOWN"},
        {"ifname": "docker0", "address": "02:42:00:00:00:01", "link_type": "ether"},
    ],
    "nics": [{"name": "eno1", "driver": "ixgbe", "speed": "10000", "carrier": "1"},
             {"name": "eno2", "driver": "ixgbe", "speed": "", "carrier": "0"}],
    "disk_links": [
        {"link": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1", "target": "/dev/sda"},
        {"link": "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4", "target": "/dev/sda"},
        {"link": "/dev/disk/by-id/ata-ST4000NM_Z1Z2", "target": "/dev/sdb"},
    ],
}


def test_parse_normalises_the_raw_document() -> None:
    hw = parse_hardware(RAW)
    assert hw.uuid == "4c4c4544-0042-3510-8052-b4c04f333132"
    assert (hw.vendor, hw.model, hw.serial) == ("Dell Inc.", "PowerEdge R640", "")
    assert (hw.cpu_cores, hw.cpu_threads, hw.memory_bytes) == (16, 32, 192 << 30)
    assert hw.disks == (
        Disk("sda", 480103981056, "SSDSC2KB", "PHYS", False,
             ("/dev/disk/by-path/pci-0000:00:1f.2-ata-1",),
             ("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",)),
        Disk("sdb", 4000787030016, "ST4000NM", "Z1Z2", True, (),
             ("/dev/disk/by-id/ata-ST4000NM_Z1Z2",)))
    # only NICs with a device (the collector's list): not docker0
    assert hw.nics == (Nic("eno1", "aa:bb:cc:00:00:02", "ixgbe", 10000, True),
                       Nic("eno2", "aa:bb:cc:00:00:03", "ixgbe", None, False))
    assert hw.nic("aa:bb:cc:00:00:03") == hw.nics[1]


def test_round_trip_through_the_store_form() -> None:
    hw = parse_hardware(RAW)
    assert hardware_from_json(hw.as_json()) == hw


def test_memory_falls_back_to_memtotal() -> None:
    hw = parse_hardware({"memory": {"blocks": 0, "block_size_hex": "", "total_kb": 1024}})
    assert hw.memory_bytes == 1 << 20


def test_nics_without_a_collector_list_take_every_ethernet_link() -> None:
    hw = parse_hardware({"links": RAW["links"]})
    assert [n.name for n in hw.nics] == ["docker0", "eno1", "eno2"]
    assert [n.link for n in hw.nics] == [False, True, False]


@pytest.mark.parametrize(("raw", "field"), [
    ([], "JSON object"),
    ({"lsblk": {"blockdevices": "sda"}}, "lsblk.blockdevices"),
    ({"lsblk": {"blockdevices": [{"name": "sda", "size": "big", "type": "disk"}]}},
     "lsblk.blockdevices[0].size"),
    ({"links": {"eno1": 1}}, "links"),
    ({"cpu": {"threads": True}}, "cpu.threads"),
])
def test_bad_documents_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(InputError) as e:
        parse_hardware(raw)
    assert field in e.value.message


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4)
                    | st.dictionaries(st.sampled_from(
                        ["system", "cpu", "memory", "lsblk", "blockdevices", "links", "nics",
                         "disk_links", "name", "size", "type", "ifname", "address", "uuid",
                         "link_type", "blocks", "block_size_hex", "threads", "link",
                         "target"]), c, max_size=6), max_leaves=30))
def test_any_document_parses_or_is_an_input_error(raw: object) -> None:
    try:
        hw = parse_hardware(raw)
    except InputError:
        return
    assert hardware_from_json(hw.as_json()) == hw


@pytest.mark.parametrize(("text", "want"), [
    ("4C4C4544-0042-3510-8052-B4C04F333132", "4c4c4544-0042-3510-8052-b4c04f333132"),
    ("4c4c454400423510 8052b4c04f333132", None),
    ("00000000-0000-0000-0000-000000000000", None),
    ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", None),
    ("Not Settable", None),
    (None, None),
])
def test_normalise_uuid(text: object, want: str | None) -> None:
    assert normalise_uuid(text) == want


def test_guid_matches_every_encoding() -> None:
    u = uuid.UUID("4c4c4544-0042-3510-8052-b4c04f333132")
    assert guid_matches(u.bytes_le, str(u)) and guid_matches(u.bytes, str(u).upper())
    assert guid_matches(u.bytes[::-1], str(u))  # the IPMI specification's order
    assert guid_text(u.bytes_le) == str(u)  # version 3: the SMBIOS reading is plausible
    assert guid_text(b"\x01" * 3) == "010101"
    other = uuid.UUID("4c4c4544-0042-3510-8052-b4c04f333133")
    assert not guid_matches(other.bytes_le, str(u))
    assert not guid_matches(b"\x00" * 15, str(u))
    assert not guid_matches(u.bytes_le, "")
    assert guid_readings(b"") == {}


def test_human_lines() -> None:
    hw = parse_hardware(RAW)
    assert human_bytes(512) == "512 B" and human_bytes(3 << 40) == "3.0 TiB"
    assert summary(hw) == ("Dell Inc. PowerEdge R640, 16 cores, 192.0 GiB, 2 disks "
                           "(4.1 TiB), 2 NICs")
    lines = describe(hw)
    assert "UUID:     4c4c4544-0042-3510-8052-b4c04f333132" in lines
    assert any("sda" in line and "SSD" in line for line in lines)
    assert any("eno1" in line and "10000 Mb/s" in line and "link up" in line for line in lines)
    assert describe(Hardware(None))[1] == "UUID:     - (none reported)"
