from __future__ import annotations

import uuid

from racker.core.discover import (
    FoundBmc,
    FoundServer,
    Row,
    node_type_of,
    nodes_csv,
    pair,
    secondary_of,
    summary,
)
from racker.core.hardware import Disk, Hardware, Nic
from racker.core.inventory import parse_nodes_csv


def server(i: int, uuid_text: str | None = None) -> FoundServer:
    u = uuid_text or str(uuid.UUID(int=0x1000 + i))
    hw = Hardware(u, "Dell Inc.", "PowerEdge R640", f"SN{i}", cpu_cores=20,
                  memory_bytes=192 << 30, disks=(Disk("sda", 480 << 30), Disk("sdb", 1 << 40)),
                  nics=(Nic("eno1", f"02:00:00:00:{i:02x}:00", link=True),
                        Nic("eno2", f"02:00:00:00:{i:02x}:02", link=True)))
    return FoundServer(f"02:00:00:00:{i:02x}:00", hw)


def bmc(i: int, order: str = "le") -> FoundBmc:
    u = uuid.UUID(int=0x1000 + i)
    return FoundBmc(f"02:00:00:00:{i:02x}:01", f"172.24.213.{130 + i}",
                    u.bytes_le if order == "le" else u.bytes)


def test_pairs_by_uuid_whatever_the_guid_byte_order() -> None:
    p = pair([bmc(2, "be"), bmc(1)], [server(2), server(1)])
    assert p.failures == ()
    assert p.rows == (
        Row("02:00:00:00:01:00", "02:00:00:00:01:01", "02:00:00:00:01:02",
            "poweredge-r640-20c-192g-2d", "Dell Inc. PowerEdge R640 serial SN1 192.0 GiB"),
        Row("02:00:00:00:02:00", "02:00:00:00:02:01", "02:00:00:00:02:02",
            "poweredge-r640-20c-192g-2d", "Dell Inc. PowerEdge R640 serial SN2 192.0 GiB"))


def test_failures_name_the_bmc_or_server_and_why() -> None:
    refused = FoundBmc("02:00:00:00:09:01", "172.24.213.139",
                       error="authentication failed (check ipmi_user and ipmi_password)")
    p = pair([bmc(1), bmc(2), refused], [server(1), server(3)])
    assert [r.primary for r in p.rows] == ["02:00:00:00:01:00"]
    assert p.failures[0].startswith("BMC 02:00:00:00:09:01 (172.24.213.139): authentication")
    assert "server 02:00:00:00:03:00: no BMC answers its SMBIOS UUID" in p.failures[1]
    assert p.failures[2].startswith("BMC 02:00:00:00:02:01 (172.24.213.132): its server never "
                                    "reported")
    lines = summary(p)
    assert lines[0].split() == ["Primary", "MAC", "BMC", "MAC", "Secondary", "MAC", "Node",
                                "type"]
    assert "Not paired (3):" in lines and lines[-1].startswith("  × BMC 02:00:00:00:02:01")


def test_secondary_prefers_a_nic_with_link() -> None:
    hw = Hardware(None, nics=(Nic("eno1", "02:00:00:00:00:00", link=True),
                              Nic("eno2", "02:00:00:00:00:02"),
                              Nic("eno3", "02:00:00:00:00:03", link=True)))
    assert secondary_of(hw, "02:00:00:00:00:00") == "02:00:00:00:00:03"
    assert secondary_of(Hardware(None, nics=hw.nics[:2]), "02:00:00:00:00:00") == \
        "02:00:00:00:00:02"
    assert secondary_of(Hardware(None, nics=hw.nics[:1]), "02:00:00:00:00:00") == ""
    assert node_type_of(Hardware(None)) == "server-0c-0g-0d"


def test_the_proposal_is_a_nodes_csv_racker_reads() -> None:
    mgmt = Row("02:00:00:00:00:10", "02:00:00:00:00:11", "02:00:00:00:00:12", "mgmt",
               "management node")
    text = nodes_csv(mgmt, pair([bmc(1), bmc(2)], [server(1), server(2)]))
    inv = parse_nodes_csv(text, "nodes.csv", {"eth1": "02:00:00:00:00:12"})
    assert inv.management.primary_mac == "02:00:00:00:00:10"
    assert [(n.primary_mac, n.bmc_mac, n.secondary_mac) for n in inv.nodes] == [
        ("02:00:00:00:01:00", "02:00:00:00:01:01", "02:00:00:00:01:02"),
        ("02:00:00:00:02:00", "02:00:00:00:02:01", "02:00:00:00:02:02")]
