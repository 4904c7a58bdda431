"""The test OS build's pure parts: module load order, the initramfs archive, markers, cache."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from racker.sim.nodes import testos_script as ts
from racker.sim.nodes.testos import (
    CpioEntry,
    TestOsError,
    cache_key,
    cache_root,
    cpio_newc,
    initramfs_entries,
    module_load_order,
    module_name,
    parse_modules_dep,
    read_marker,
)

# as depmod writes it for Debian's 6.1 cloud kernel (shortened)
MODULES_DEP = """\
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko
""".replace("\\\n", "")


def names(paths: list[str]) -> list[str]:
    return [module_name(p) for p in paths]


@pytest.mark.parametrize(("path", "name"), [
    ("kernel/drivers/net/virtio_net.ko", "virtio_net"),
    ("kernel/drivers/char/hw_random/virtio-rng.ko", "virtio_rng"),
    ("kernel/drivers/net/virtio_net.ko.xz", "virtio_net"),
    ("virtio.ko", "virtio"),
])
def test_module_name(path: str, name: str) -> None:
    assert module_name(path) == name


def test_parse_modules_dep_keeps_order_and_empty_lists() -> None:
    deps = parse_modules_dep(MODULES_DEP)
    assert deps["kernel/net/core/failover.ko"] == []
    assert deps["kernel/drivers/net/virtio_net.ko"][:2] == [
        "kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko"]


@pytest.mark.parametrize(("roots", "expected"), [
    (["virtio_blk"], ["virtio", "virtio_ring", "virtio_blk"]),
    (["virtio_net"], ["failover", "net_failover", "virtio", "virtio_ring", "virtio_net"]),
    (["virtio_pci", "virtio_net", "virtio_blk"],
     ["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio", "virtio_ring", "virtio_pci",
      "failover", "net_failover", "virtio_net", "virtio_blk"]),
    (["virtio-rng"], ["virtio", "virtio_rng"]),
])
def test_module_load_order(roots: list[str], expected: list[str]) -> None:
    order = names(module_load_order(MODULES_DEP, roots))
    assert order == expected
    deps = parse_modules_dep(MODULES_DEP)
    for path in module_load_order(MODULES_DEP, roots):  # every dependency comes first
        for dep in deps[path]:
            assert names([dep])[0] in order[:order.index(module_name(path))]


def test_module_load_order_unknown_module_and_cycle() -> None:
    with pytest.raises(TestOsError, match="no module e1000"):
        module_load_order(MODULES_DEP, ["e1000"])
    with pytest.raises(TestOsError, match="cycle"):
        module_load_order("a.ko: b.ko\nb.ko: a.ko\n", ["a"])


def parse_cpio(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """An independent newc reader for the round trip."""
    out: list[tuple[str, int, bytes, tuple[int, int]]] = []
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        start = pos + 110
        name = data[start:start + namesize - 1].decode()
        pos = (start + namesize + 3) & ~3
        body = data[pos:pos + filesize]
        pos = (pos + filesize + 3) & ~3
        if name == "TRAILER!!!":
            assert pos == len(data)
            return out
        out.append((name, f[1], body, (f[9], f[10])))


def test_cpio_newc_round_trip() -> None:
    entries = [CpioEntry("bin", 0o040755), CpioEntry("bin/busybox", 0o100755, b"\x7fELF" * 3),
               CpioEntry("dev/console", 0o020600, rdev=(5, 1)),
               CpioEntry("bin/sh", 0o120777, b"busybox"), CpioEntry("e", 0o100644)]
    data = cpio_newc(entries)
    assert len(data) % 4 == 0
    assert parse_cpio(data) == [(e.name, e.mode, e.data, e.rdev) for e in entries]


def test_initramfs_has_init_console_and_modules_in_order() -> None:
    mods = {"virtio.ko": b"m1", "virtio_ring.ko": b"m2", "virtio_net.ko": b"m3"}
    files = {e.name: e for e in initramfs_entries(b"BB", mods)}
    assert files["init"].mode == 0o100755
    assert files["init"].data.startswith(b"#!/bin/sh\n")
    assert files["dev/console"].rdev == (5, 1)
    assert files["etc/modules"].data == b"virtio.ko\nvirtio_ring.ko\nvirtio_net.ko\n"
    assert files["lib/modules/virtio_net.ko"].data == b"m3"
    assert files[ts.LIB_PATH.lstrip("/")].data == ts.LIB.encode()
    assert files[ts.DHCP_HOOK_PATH.lstrip("/")].mode == 0o100755


def test_init_script_has_no_placeholders_left() -> None:
    text = ts.init_script()
    assert "__" not in text
    assert f". {ts.LIB_PATH}" in text and f"-s {ts.DHCP_HOOK_PATH}" in text
    assert f"'{ts.MARKER} %s %s\\n'" in text


@pytest.mark.parametrize(("sector", "expected"), [
    (b"racker-installed 52-54-00-00-00-01 http://10.0.0.1:8080/ignition?mac=x&os=installed\n"
     + b"\0" * 400, ("52-54-00-00-00-01", "http://10.0.0.1:8080/ignition?mac=x&os=installed")),
    (b"\0" * 512, None),
    (b"racker-installed onlymac\n", None),
    (b"\xeb\x63\x90GRUB" + b"\0" * 500, None),
])
def test_read_marker(sector: bytes, expected: tuple[str, str] | None) -> None:
    assert read_marker(sector) == expected


def test_cache_key_is_stable_and_covers_the_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache_key()
    assert key == cache_key() and len(key) == 16
    monkeypatch.setattr(ts, "LIB", ts.LIB + "# changed\n")
    assert cache_key() != key


def test_cache_root() -> None:
    assert cache_root({"RACKER_SIM_CACHE": "/x/c", "HOME": "/h"}) == Path("/x/c")
    assert cache_root({"HOME": "/h"}) == Path("/h/.cache/racker-sim")


def test_newc_header_fields() -> None:
    data = cpio_newc([CpioEntry("a", 0o100644, b"xyz")])
    fields = struct.unpack("6s" + "8s" * 13, data[:110])
    assert fields[0] == b"070701"
    assert int(fields[2], 16) == 0o100644 and int(fields[7], 16) == 3
    assert int(fields[12], 16) == 2  # "a\0"
