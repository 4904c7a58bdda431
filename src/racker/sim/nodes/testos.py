"""The QEMU nodes' test OS: a Debian cloud kernel and a busybox initramfs, built once and cached.

The kernel comes from Debian's `linux-image-cloud-amd64` and busybox from `busybox-static`; both
are downloaded with `apt-get download` and unpacked with `dpkg-deb -x` into a temporary
directory (nothing is installed on the host). The virtio drivers are modules in that kernel, so
the ones the test OS needs are copied into the initramfs with their dependencies, in load order.
The result lives in `~/.cache/racker-sim/testos-<hash>/` (or under `RACKER_SIM_CACHE`), the hash
covering everything this module puts in; concurrent builders race harmlessly (rename wins).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from racker.errors import RackerError
from racker.sim.mirror.build import SigningKey, build_release
from racker.sim.nodes import testos_script as ts

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
ROOT_MODULES = ("virtio_pci", "virtio_net", "virtio_blk", "qemu_fw_cfg")
"""What the test OS loads; their dependencies come from modules.dep."""
BUILD_FORMAT = "1"
"""Bump when the build changes in a way the hash of the inputs would not see."""
CACHE_ENV = "RACKER_SIM_CACHE"

KERNEL_FILE = "vmlinuz"
INITRD_FILE = "initrd.cpio.gz"
INFO_FILE = "testos.txt"
MIRROR_KERNEL = "flatcar_production_pxe.vmlinuz"
MIRROR_INITRD = "flatcar_production_pxe_image.cpio.gz"
MIRROR_IMAGE = "flatcar_production_image.bin.bz2"


class TestOsError(RackerError):
    """The test OS could not be built."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class TestOs:
    """A built test OS."""

    __test__ = False

    directory: Path
    kernel_version: str

    @property
    def kernel(self) -> Path:
        return self.directory / KERNEL_FILE

    @property
    def initrd(self) -> Path:
        return self.directory / INITRD_FILE


# --- pure parts -----------------------------------------------------------------------------


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """`modules.dep` as module path → the paths it depends on (in the file's order)."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        path, sep, rest = line.partition(":")
        if sep and path.strip():
            deps[path.strip()] = rest.split()
    return deps


def module_name(path: str) -> str:
    """`kernel/drivers/net/virtio_net.ko[.xz]` → `virtio_net` (dashes read as underscores)."""
    base = path.rsplit("/", 1)[-1]
    return base.split(".ko", 1)[0].replace("-", "_")


def module_load_order(dep_text: str, roots: Sequence[str]) -> list[str]:
    """Paths of the modules `roots` need, each after everything it depends on.

    modules.dep lists a module's full dependency closure, deepest last; a depth-first walk that
    emits a module after its dependencies gives an order `insmod` accepts.
    """
    deps = parse_modules_dep(dep_text)
    by_name = {module_name(p): p for p in deps}
    order: list[str] = []
    seen: set[str] = set()

    def visit(path: str, stack: tuple[str, ...]) -> None:
        if path in seen:
            return
        if path in stack:
            raise TestOsError(f"modules.dep has a dependency cycle through {path}")
        for dep in deps.get(path, []):
            visit(dep, (*stack, path))
        seen.add(path)
        order.append(path)

    for root in roots:
        path = by_name.get(root.replace("-", "_"))
        if path is None:
            raise TestOsError(f"the kernel has no module {root}",
                              hint="it may be built in; drop it from ROOT_MODULES")
        visit(path, ())
    return order


@dataclass(frozen=True)
class CpioEntry:
    """One member of a newc cpio archive."""

    name: str
    mode: int
    """Full st_mode (type bits included)."""
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _newc_header(ino: int, e: CpioEntry, name: bytes) -> bytes:
    fields = (ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name), 0)
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def cpio_newc(entries: Iterable[CpioEntry]) -> bytes:
    """A newc ("070701") cpio archive, as the kernel unpacks an initramfs; owner root."""
    out = bytearray()
    for ino, e in enumerate([*entries, CpioEntry("TRAILER!!!", 0)], start=1):
        name = e.name.encode() + b"\0"
        header = _newc_header(ino if e.name != "TRAILER!!!" else 0, e, name)
        out += header + name
        out += _pad4(len(header) + len(name))
        out += e.data + _pad4(len(e.data))
    return bytes(out)


def initramfs_entries(busybox: bytes, modules: Mapping[str, bytes]) -> list[CpioEntry]:
    """The test OS's files: busybox, /init, its helpers, the modules in load order."""
    d, f, x = 0o040755, 0o100644, 0o100755
    entries = [CpioEntry(p, d) for p in ("bin", "dev", "etc", "lib", "lib/modules", "proc",
                                         "sys", "tmp", "mnt")]
    entries += [
        CpioEntry("dev/console", 0o020600, rdev=(5, 1)),
        CpioEntry("bin/busybox", x, busybox),
        CpioEntry("bin/sh", 0o120777, b"busybox"),
        CpioEntry("init", x, ts.init_script().encode()),
        CpioEntry(ts.LIB_PATH.lstrip("/"), f, ts.LIB.encode()),
        CpioEntry(ts.DHCP_HOOK_PATH.lstrip("/"), x, ts.DHCP_HOOK.encode()),
        CpioEntry("etc/modules", f, "".join(f"{n}\n" for n in modules).encode()),
    ]
    entries += [CpioEntry(f"lib/modules/{n}", f, data) for n, data in modules.items()]
    return entries


def cache_key() -> str:
    """Hash of everything that decides the build (packages, modules, scripts, format)."""
    h = hashlib.sha256()
    for part in (BUILD_FORMAT, KERNEL_PACKAGE, BUSYBOX_PACKAGE, *ROOT_MODULES, ts.init_script(),
                 ts.LIB, ts.DHCP_HOOK):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """`$RACKER_SIM_CACHE`, else `~/.cache/racker-sim`."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    return Path(env.get("HOME") or Path.home()) / ".cache" / "racker-sim"


def read_marker(first_sector: bytes) -> tuple[str, str] | None:
    """(MAC, installed Ignition URL) from a disk's first sector, or None when not installed."""
    line = first_sector.split(b"\n", 1)[0].replace(b"\0", b"").decode("ascii", "replace")
    words = line.split()
    if len(words) >= 3 and words[0] == ts.MARKER:
        return words[1], words[2]
    return None


# --- building (I/O) --------------------------------------------------------------------------


def _run(argv: Sequence[str], cwd: Path | None = None) -> str:
    try:
        r = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=600,
                           check=False)
    except FileNotFoundError as e:
        raise TestOsError(f"{argv[0]} is not installed",
                          hint="the test OS build needs apt-get, dpkg-deb and depmod") from e
    if r.returncode != 0:
        raise TestOsError(f"'{' '.join(argv)}' failed: {r.stderr.strip()[-800:]}",
                          hint="the test OS is built from Debian packages; check apt sources "
                               "and network access to the Debian mirror")
    return r.stdout


def _apt_download(packages: Sequence[str], into: Path) -> list[Path]:
    # NOTE: as root apt drops privileges to _apt for downloads, which cannot write to a
    # root-owned temp dir; downloading as root is fine for a file we only unpack.
    _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *packages], cwd=into)
    return sorted(into.glob("*.deb"))


def _kernel_package(into: Path) -> Path:
    """Download the metapackage's versioned kernel image package; return its .deb."""
    meta_dir = into / "meta"
    meta_dir.mkdir()
    (meta,) = _apt_download([KERNEL_PACKAGE], meta_dir)
    depends = _run(["dpkg-deb", "-f", str(meta), "Depends"])
    image = next((d.strip().split()[0] for d in depends.split(",")
                  if d.strip().startswith("linux-image-")), None)
    if image is None:
        raise TestOsError(f"{KERNEL_PACKAGE} depends on no linux-image package ({depends!r})")
    kdir = into / "kernel"
    kdir.mkdir()
    (deb,) = _apt_download([image], kdir)
    return deb


def build(target: Path, work: Path) -> TestOs:
    """Build the test OS into `target` (which must not exist yet), using `work` as scratch."""
    kdeb = _kernel_package(work)
    bdir = work / "busybox"
    bdir.mkdir()
    (bdeb,) = _apt_download([BUSYBOX_PACKAGE], bdir)
    root = work / "root"
    for deb in (kdeb, bdeb):
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise TestOsError(f"{kdeb.name} holds no /boot/vmlinuz-*")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    mod_root = next(p for p in (root / "lib" / "modules" / version,
                                root / "usr" / "lib" / "modules" / version) if p.is_dir())
    if not (mod_root / "modules.dep").exists():
        # The package leaves modules.dep to its postinst; make it here without installing.
        _run(["depmod", "-b", str(mod_root.parent.parent.parent), version])
    order = module_load_order((mod_root / "modules.dep").read_text(), ROOT_MODULES)
    modules = {module_name(p) + ".ko": (mod_root / p).read_bytes() for p in order}
    if any(p.endswith((".xz", ".zst", ".gz")) for p in order):
        raise TestOsError("the kernel's modules are compressed; busybox insmod needs plain .ko")
    busybox = (root / "bin" / "busybox").read_bytes()
    initrd = gzip.compress(cpio_newc(initramfs_entries(busybox, modules)), 9, mtime=0)
    stage = work / "out"
    stage.mkdir()
    shutil.copyfile(kernels[-1], stage / KERNEL_FILE)
    (stage / INITRD_FILE).write_bytes(initrd)
    (stage / INFO_FILE).write_text(f"kernel {version}\nmodules {' '.join(modules)}\n"
                                   f"from {kdeb.name} {bdeb.name}\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(stage, target)
    except OSError:
        if not (target / INITRD_FILE).exists():
            raise
    return load(target)


def load(directory: Path) -> TestOs:
    """A built test OS from its directory."""
    info = (directory / INFO_FILE).read_text().splitlines()
    version = next((line.split()[1] for line in info if line.startswith("kernel ")), "?")
    return TestOs(directory, version)


def ensure_testos(root: Path | None = None) -> TestOs:
    """The cached test OS, built first when there is none (needs apt access once)."""
    base = root if root is not None else cache_root()
    target = base / f"testos-{cache_key()}"
    if (target / INFO_FILE).exists():
        return load(target)
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".testos-build-", dir=base) as tmp:
        return build(target, Path(tmp))


def mirror_contents(testos: TestOs) -> dict[str, bytes]:
    """The release files a Flatcar-layout mirror holds, made of the test OS.

    The "OS image" is small on purpose: the installer downloads it but never writes it out.
    """
    image = b"racker-sim test OS image; the test OS installs by writing a marker\n"
    return {MIRROR_KERNEL: testos.kernel.read_bytes(), MIRROR_INITRD: testos.initrd.read_bytes(),
            MIRROR_IMAGE: bz2.compress(image * 64)}


def publish_testos(root: Path, key: SigningKey, testos: TestOs, *, channel: str = "stable",
                   version: str = "9999.0.0") -> Path:
    """Put the test OS into the simulator's Flatcar-layout mirror at `root` as one release."""
    return build_release(root, key, channel=channel, version=version,
                         contents=mirror_contents(testos))
