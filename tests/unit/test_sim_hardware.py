"""A lite node's reported hardware goes through racker's own parser as a real one would."""

from __future__ import annotations

from racker.core.hardware import guid_matches, parse_hardware
from racker.sim.nodes.hardware import lite_inventory, smbios_uuid


def test_lite_inventory_per_node_type() -> None:
    uuid = smbios_uuid("02:aa:bb:cc:01:00")
    worker = parse_hardware(lite_inventory(uuid, "02:aa:bb:cc:01:00", "02:aa:bb:cc:01:02",
                                           "worker"))
    storage = parse_hardware(lite_inventory(uuid, "02:aa:bb:cc:01:00", "02:aa:bb:cc:01:02",
                                            "storage"))
    other = parse_hardware(lite_inventory(uuid, "02:aa:bb:cc:02:00", "", "sim"))
    assert worker.uuid == uuid and worker.model == "PowerEdge R640"
    assert (worker.cpu_cores, worker.cpu_threads, worker.memory_bytes) == (20, 40, 192 << 30)
    assert [d.name for d in worker.disks] == ["sda", "sdb"]
    assert len(storage.disks) == 7 and sum(d.rotational for d in storage.disks) == 6
    assert all(d.by_path and d.by_id for d in storage.disks)
    assert [(n.mac, n.link) for n in worker.nics] == [("02:aa:bb:cc:01:00", True),
                                                      ("02:aa:bb:cc:01:02", True)]
    assert [n.mac for n in other.nics] == ["02:aa:bb:cc:02:00"]  # no secondary NIC
    assert other.serial != worker.serial  # serials differ per server
    assert other.memory_bytes == 32 << 30


def test_smbios_uuid_is_what_the_vbmc_answers() -> None:
    import uuid as uuidlib

    u = smbios_uuid("02:aa:bb:cc:01:00")
    assert u == smbios_uuid("02:aa:bb:cc:01:00") != smbios_uuid("02:aa:bb:cc:02:00")
    assert guid_matches(uuidlib.UUID(u).bytes_le, u)  # the vBMC's byte order
