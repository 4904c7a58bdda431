"""The small test OS QEMU nodes boot: Debian's cloud kernel, static busybox, the virtio modules
and an /init that acts as the Flatcar installer and, on "disk boot", as the installed system.

Built once from Debian packages (fetched with `apt-get download`, unpacked with `dpkg-deb`, never
installed) and cached under ~/.cache/racker-sim. `cpio_newc` and `init_script` are pure.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from racker.errors import RackerError

PACKAGES = ("linux-image-cloud-amd64",)
"""Downloaded and unpacked, never installed. Busybox comes from the installed Debian package
with its shared libraries (the static build's wget crashes in glibc's resolver)."""
MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk")
"""Loaded in this order (each after its dependencies)."""
MARKER = "RACKER-SIM-INSTALLED"


class TestOsError(RackerError):
    """The test OS could not be built."""


@dataclass(frozen=True)
class OsImages:
    kernel: Path
    initrd: Path


def cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A `newc` cpio archive of (path, mode, data) entries; directories have mode 0o040755."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        raw_name = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw_name), 0]
        header = b"070701" + b"".join(f"{f:08x}".encode() for f in fields)
        out += header + raw_name
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def init_script() -> str:
    """/init of the test OS (busybox sh)."""
    modules = " ".join(MODULES)
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
say() {{ echo "racker-testos: $*" > /dev/ttyS0; }}
if grep -q racker.probe /proc/cmdline; then say "probe ok"; poweroff -f; fi
for m in {modules}; do insmod /lib/modules/$m.ko 2>/dev/null; done
ip link set lo up; ip link set eth0 up
say "kernel up, asking for an address"
udhcpc -i eth0 -s /udhcpc.sh -q -f -t 20 -T 2 -n || {{ say "dhcp failed"; poweroff -f; }}
say "address $(ip -4 -o addr show dev eth0 | awk '{{print $4}}')"
marker=$(head -c 512 /dev/vda | head -n 3)
if [ "$(echo "$marker" | head -n 1)" = "{MARKER}" ]; then
  base=$(echo "$marker" | sed -n 2p); mac=$(echo "$marker" | sed -n 3p)
  say "booted from disk: fetching $base/ignition?mac=$mac&os=installed"
  timeout 30 wget -q -O /tmp/ignition.json "$base/ignition?mac=$mac&os=installed" \\
    && say "ignition ok"
  timeout 60 wget -q -O - --header 'Content-Type: application/json' \\
    --post-data '{{"event": "booted"}}' "$base/racker/v1/nodes/$mac/events" && say "reported booted"
  while :; do sleep 3600; done
fi
url=$(tr ' ' '\\n' < /proc/cmdline | sed -n 's/^ignition.config.url=//p')
[ -n "$url" ] || {{ say "no ignition.config.url"; poweroff -f; }}
base=${{url%%/ignition*}}
mac=$(echo "$url" | sed -n 's/.*mac=\\([^&]*\\).*/\\1/p')
say "installer: fetching $url"
timeout 30 wget -q -O /tmp/ignition.json "$url" 2>/tmp/err || {{
  say "ignition fetch failed: $(cat /tmp/err)"; poweroff -f; }}
printf '%s\\n%s\\n%s\\n' "{MARKER}" "$base" "$mac" | dd of=/dev/vda conv=notrunc 2>/dev/null
sync
say "installed; reporting to $base"
timeout 300 wget -q -O - --header 'Content-Type: application/json' \\
  --post-data '{{"event": "installed"}}' "$base/racker/v1/nodes/$mac/events" \\
  && say "report answered"
say "rebooting"
reboot -f
"""


# NOTE: busybox 1.35's `wget -T` crashes (SIGSEGV); the `timeout` applet bounds it instead.
UDHCPC_SCRIPT = """#!/bin/busybox sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface" ;;
esac
"""


def shared_libraries(ldd_output: str) -> list[str]:
    """The library paths in `ldd` output (the vDSO has none). Pure."""
    out = []
    for line in ldd_output.splitlines():
        words = line.split()
        if "=>" in words and len(words) > words.index("=>") + 1:
            path = words[words.index("=>") + 1]
        elif words and words[0].startswith("/"):
            path = words[0]
        else:
            continue
        if path.startswith("/"):
            out.append(path)
    return out


def _run(argv: list[str], cwd: Path) -> None:
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if r.returncode != 0:
        raise TestOsError(f"'{' '.join(argv)}' failed: {r.stderr.strip()[-400:]}",
                          hint="the test OS is built from Debian packages with apt-get download")


def default_cache() -> Path:
    """~/.cache/racker-sim (or $XDG_CACHE_HOME/racker-sim)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "racker-sim"


def build_test_os(cache: Path | None = None) -> OsImages:
    """The test OS kernel and initrd, built on first use."""
    root = (cache or default_cache()) / "testos"
    # The initrd's name carries a digest of its recipe, so a changed /init is rebuilt.
    recipe = init_script() + UDHCPC_SCRIPT + " ".join(PACKAGES) + "dynamic-busybox"
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    done = OsImages(root / "vmlinuz", root / f"initrd-{digest}.gz")
    if done.kernel.exists() and done.initrd.exists():
        return done
    work = root / "build"
    shutil.rmtree(work, ignore_errors=True)
    (work / "debs").mkdir(parents=True)
    os.chmod(work / "debs", 0o755)
    _run(["apt-get", "download", "-q", *PACKAGES], work / "debs")
    meta = next((work / "debs").glob("linux-image-cloud-amd64_*.deb"))
    dep = subprocess.run(["dpkg-deb", "-f", str(meta), "Depends"], capture_output=True,
                         text=True, check=True).stdout.split(",")[0].split()[0]
    _run(["apt-get", "download", "-q", dep], work / "debs")
    for deb in (work / "debs").glob("*.deb"):
        _run(["dpkg-deb", "-x", str(deb), str(work / "root")], work)
    kernel = next((work / "root" / "boot").glob("vmlinuz-*"))
    modules = {p.stem: p for p in (work / "root" / "lib" / "modules").rglob("*.ko")}
    busybox = Path(shutil.which("busybox") or "/usr/bin/busybox")
    libs = shared_libraries(subprocess.run(["ldd", str(busybox)], capture_output=True,
                                           text=True, check=True).stdout)
    dirs = sorted({str(Path(lib).parent).lstrip("/") for lib in libs})
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules",
                                     "usr", "usr/lib", *dirs) if d]
    entries += [(lib.lstrip("/"), 0o100755, Path(lib).read_bytes()) for lib in libs]
    entries += [("bin/busybox", 0o100755, busybox.read_bytes()),
                ("init", 0o100755, init_script().encode()),
                ("udhcpc.sh", 0o100755, UDHCPC_SCRIPT.encode())]
    for m in MODULES:
        entries.append((f"lib/modules/{m}.ko", 0o100644, modules[m].read_bytes()))
    root.mkdir(parents=True, exist_ok=True)
    tmp_initrd = root / "initrd.tmp"
    tmp_initrd.write_bytes(gzip.compress(cpio_newc(entries), 6))
    shutil.copyfile(kernel, root / "vmlinuz.tmp")
    os.replace(root / "vmlinuz.tmp", done.kernel)
    os.replace(tmp_initrd, done.initrd)
    for stale in root.glob("initrd*.gz"):
        if stale != done.initrd:
            stale.unlink()
    (root / "accel").unlink(missing_ok=True)  # probe KVM again with the new images
    shutil.rmtree(work, ignore_errors=True)
    return done
