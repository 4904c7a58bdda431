"""Pure parts of the QEMU nodes: the test OS initramfs, its /init, the QEMU command line."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from racker.sim.node import BootDevice
from racker.sim.qemu import qemu_argv
from racker.sim.testos import MARKER, MODULES, OsImages, cpio_newc, init_script, shared_libraries


def _parse_cpio(data: bytes) -> list[tuple[str, int, bytes]]:
    out: list[tuple[str, int, bytes]] = []
    i = 0
    while True:
        assert data[i:i + 6] == b"070701"
        fields = [int(data[i + 6 + 8 * k:i + 14 + 8 * k], 16) for k in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[i + 110:i + 110 + namesize - 1].decode()
        i += 110 + namesize
        i += -i % 4
        body = data[i:i + size]
        i += size
        i += -i % 4
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, body))


def test_cpio_newc_round_trip_and_alignment() -> None:
    entries = [("bin", 0o040755, b""), ("bin/busybox", 0o100755, b"\x7fELF" + b"x" * 5),
               ("init", 0o100755, b"#!/bin/sh\n")]
    data = cpio_newc(entries)
    assert len(data) % 4 == 0
    assert _parse_cpio(data) == entries
    assert struct.unpack("6s", data[:6])[0] == b"070701"


def test_init_loads_modules_in_dependency_order_and_reports() -> None:
    text = init_script()
    assert text.startswith("#!/bin/busybox sh\n")
    assert " ".join(MODULES) in text
    assert MODULES.index("virtio_ring") < MODULES.index("virtio") < MODULES.index("virtio_net")
    assert MODULES.index("net_failover") < MODULES.index("virtio_net")
    assert MARKER in text and '"event": "installed"' in text and '"event": "booted"' in text
    assert not re.search(r"wget[^\n]* -T ", text)  # busybox 1.35 crashes on it


def test_shared_libraries_from_ldd() -> None:
    out = ("\tlinux-vdso.so.1 (0x00007ffd)\n"
           "\tlibresolv.so.2 => /lib/x86_64-linux-gnu/libresolv.so.2 (0x00007f)\n"
           "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n"
           "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n")
    assert shared_libraries(out) == ["/lib/x86_64-linux-gnu/libresolv.so.2",
                                     "/lib/x86_64-linux-gnu/libc.so.6",
                                     "/lib64/ld-linux-x86-64.so.2"]


@pytest.mark.parametrize(("device", "kernel"), [(BootDevice.PXE, False), (BootDevice.DISK, True)])
def test_qemu_argv(device: BootDevice, kernel: bool) -> None:
    os_ = OsImages(Path("/c/vmlinuz"), Path("/c/initrd.gz"))
    argv = qemu_argv(name="node1", mac="02:00:00:00:01:00", tap="q1", disk=Path("/d/n1.img"),
                     device=device, testos=os_)
    joined = " ".join(argv)
    assert "ifname=q1,script=no,downscript=no" in joined
    assert "mac=02:00:00:00:01:00" in joined and "-no-reboot" in argv
    assert ("-kernel" in argv) is kernel
    assert "file=/d/n1.img,if=virtio,format=raw" in joined
