"""`racker install` / `racker uninstall`: racker as a service on the management node.

The reference's installer container unpacked racker into `/opt/racker`, linked its commands into
`/opt/bin` (on the PATH of Flatcar) and linked systemd units for its services. Racker's services
now run inside `racker serve`, so installing means: the state folders with safe owners and
modes, one unit `racker-serve.service`, the links in `/opt/bin`, the version file, and (on the
live system only) `systemctl daemon-reload` and `enable --now`. Everything is idempotent;
`uninstall` removes the unit and the links and keeps the state unless asked to purge it.

Paths in a `Layout` are as the installed system sees them; `root` is where that system is
mounted (`/` normally, a folder for image builds and tests).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.statemarker import MARKER_NAME, MARKER_TEXT, is_marked, marker
from racker.errors import InputError, RackerError, ServiceError, Where

UNIT_NAME = "racker-serve.service"
UNIT_DIR = Path("/etc/systemd/system")
ENV_FILE = Path("/etc/default/racker")
COMMANDS_LINKED = ("racker", "ipmi")
NEVER_CARRIED = frozenset({"RACKER_PACKAGE_INDEX"})
"""Settings never written into the unit: the unit is world-readable (0644) and the package index
URL may carry a token; `racker serve` does not use it anyway."""

Runner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Layout:
    """Where racker is installed, as seen by the installed system."""

    venv: Path
    state_dir: Path
    version_file: Path
    bin_dir: Path | None = Path("/opt/bin")
    root: Path = Path("/")
    environment: tuple[tuple[str, str], ...] = ()
    """`Environment=` settings of the unit: the path overrides in force at install time."""

    def host(self, path: Path) -> Path:
        """`path` of the installed system as reachable from here (under `root`)."""
        return self.root / path.relative_to("/") if path.is_absolute() else self.root / path

    @property
    def live(self) -> bool:
        """True when installing onto the running system (systemctl is called)."""
        return self.root.resolve() == Path("/")

    @property
    def unit_path(self) -> Path:
        """The unit file as seen by the installed system."""
        return UNIT_DIR / UNIT_NAME


@dataclass(frozen=True)
class Dir:
    """A folder racker needs, with its mode (owner root:root)."""

    path: Path
    mode: int


def state_dirs(state_dir: Path) -> tuple[Dir, ...]:
    """The state folders: the state itself and dnsmasq's files may hold secrets (leases, the
    database, Ignition with credentials), the boot assets are public images."""
    return (Dir(state_dir, 0o750), Dir(state_dir / "dnsmasq", 0o750),
            Dir(state_dir / "assets", 0o755))


def check_unit_value(name: str, value: str) -> str:
    """`value` unchanged; InputError naming `name` when it holds a control character.

    systemd reads a unit line by line: a newline in a value would start a directive of its own
    (e.g. `ExecStartPre=` running as root), so no control character may reach the unit."""
    bad = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise InputError(f"{name} holds a control character (U+{ord(bad):04X}); racker will not "
                         "write it into the systemd unit",
                         hint=f"give {name} a value of one line of printable characters and run "
                              "'racker install' again")
    return value


def _specifiers(value: str) -> str:
    """`%` is systemd's specifier prefix (`%h`, `%n`); `%%` is a literal percent sign."""
    return value.replace("%", "%%")


def _quote(value: str) -> str:
    """A value for a systemd `Environment=` assignment."""
    escaped = _specifiers(value.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{escaped}"' if any(c in value for c in ' \t"\\') else escaped


def _unquote(text: str) -> str:
    """The inverse of `_quote` (pure)."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == "%" and text[i + 1:i + 2] == "%":
            i += 1
        out.append(c)
        i += 1
    return "".join(out)


def recorded_environment(unit_text: str) -> dict[str, str]:
    """The `Environment=` settings an installed unit records (pure): what the install ran with."""
    found: dict[str, str] = {}
    for line in unit_text.splitlines():
        if line.startswith("Environment="):
            name, sep, value = _unquote(line.removeprefix("Environment=")).partition("=")
            if sep:
                found[name] = value
    return found


def with_recorded_paths(layout: Layout, env: Mapping[str, str]) -> Layout:
    """`layout` with the state folder and version file the installed unit records, for the
    settings not given again in `env` (uninstall -purge finds a RACKER_STATE_DIR install)."""
    try:
        recorded = recorded_environment(layout.host(layout.unit_path).read_text())
    except (OSError, UnicodeDecodeError):
        return layout
    state = recorded.get("RACKER_STATE_DIR") if not env.get("RACKER_STATE_DIR") else None
    version = (recorded.get("RACKER_VERSION_FILE") if not env.get("RACKER_VERSION_FILE")
               else None)
    return dataclasses.replace(layout, state_dir=Path(state) if state else layout.state_dir,
                               version_file=Path(version) if version else layout.version_file)


def _exec_path(path: Path) -> str:
    """An executable's path as the first word of `ExecStart=`: always quoted, with `\\`, `"`,
    `%` (specifiers) and `$` (environment variable expansion) escaped."""
    text = check_unit_value("-venv", str(path))
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{_specifiers(escaped)}"'


HOME = Path("/root")
"""The service's home (root's, as systemd gives no HOME to a unit without User=)."""


HOMES = (Path("/home"), HOME, Path("/run/user"))
"""What `ProtectHome=tmpfs` hides behind an empty read-only tmpfs."""


def _hidden(path: Path) -> bool:
    """True for a path under a home folder, which the unit must bind to be reachable."""
    return any(path == h or h in path.parents for h in HOMES)


def _unit_paths(paths: list[tuple[str, Path]]) -> str:
    """Paths as one value of a `*Paths=` directive: each quoted, `-` for the optional ones."""
    out = []
    for optional, path in paths:
        text = check_unit_value("a path of the unit", str(path))
        escaped = _specifiers(text.replace("\\", "\\\\").replace('"', '\\"'))
        out.append(f'"{optional}{escaped}"')
    return " ".join(out)


def _mount_paths(layout: Layout) -> str:
    """The unit's `ReadWritePaths=`, `BindPaths=` and `BindReadOnlyPaths=` lines.

    Written to: the state folder, the hosts file, the configuration folders. Read under a
    home folder: the venv (when installed there) and the SSH public keys the nodes' configs
    carry, never the private keys. A path under a home folder is bound into the unit's empty
    home (`ProtectHome=tmpfs`); any other stays where it is, writable where listed."""
    env = dict(layout.environment)
    hosts = Path(env.get("RACKER_HOSTS_FILE", "/etc/hosts"))
    written = [("", layout.state_dir), ("-", hosts), ("-", HOME / "flatcar-container-linux"),
               ("-", HOME / "lokomotive")]
    key = env.get("RACKER_SSH_KEY")
    keys = [Path(f"{key}.pub")] if key else [HOME / ".ssh/id_ed25519.pub",
                                             HOME / ".ssh/id_rsa.pub"]
    read = [("", layout.venv), *(("-", k) for k in keys)]
    if env.get("RACKER_OEM_DIR"):
        read.append(("-", Path(env["RACKER_OEM_DIR"])))
    lines = []
    for directive, paths in (("ReadWritePaths", [p for p in written if not _hidden(p[1])]),
                             ("BindPaths", [p for p in written if _hidden(p[1])]),
                             ("BindReadOnlyPaths", [p for p in read if _hidden(p[1])])):
        if paths:
            lines.append(f"{directive}={_unit_paths(paths)}")
    return "\n".join(lines)


def render_serve_unit(layout: Layout) -> str:
    """The `racker-serve.service` unit (pure); InputError for a value that cannot go into it."""
    env = "".join(f"Environment={_quote(f'{k}={check_unit_value(k, v)}')}\n"
                  for k, v in layout.environment if k not in NEVER_CARRIED)
    return f"""\
# Installed by 'racker install'; 'racker uninstall' removes it. Local settings (RACKER_* paths)
# go into {ENV_FILE}, not into this file.
[Unit]
Description=Racker: DHCP, PXE and boot server for the rack's provisioning network
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
ExecStart={_exec_path(layout.venv / 'bin' / 'racker')} serve
Restart=always
RestartSec=5
TimeoutStopSec=30
EnvironmentFile=-{ENV_FILE}
{env}UMask=0077
# Only what DHCP/PXE need: dnsmasq's raw and packet sockets, ports 67/69 and the interface's
# address (NET_*), its switch to its own user once bound (SETUID, SETGID; racker signals it
# from a helper run as that user, so no CAP_KILL).
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET
NoNewPrivileges=yes
# The whole file system read-only but racker's state, the hosts file it keeps entries in and
# the configuration folders it writes flag files into ("-": those that exist). The home folders
# are an empty read-only tmpfs: what racker uses there is bound in, the configuration folders
# writable, the SSH public keys read-only (the private keys stay out of reach).
ProtectSystem=strict
ProtectHome=tmpfs
{_mount_paths(layout)}
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
# racker sees only its own processes and dnsmasq's pids it started (it waits for them; it does
# not read their /proc entries inside the service), and no other /proc file
ProtectProc=invisible
ProcSubset=pid
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallFilter=@system-service
SystemCallFilter=~@resources
SystemCallErrorNumber=EPERM
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
"""


@dataclass
class Report:
    """What install/uninstall did, line by line, for the operator."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        """Append one line of the report."""
        self.lines.append(line)


def _ensure_dir(d: Dir, layout: Layout, report: Report) -> None:
    path = layout.host(d.path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise InputError(f"{path} exists and is not a folder", where=Where(file=str(path)),
                         hint="move it away and run 'racker install' again")
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    st = path.stat()
    changed = []
    if stat.S_IMODE(st.st_mode) != d.mode:
        os.chmod(path, d.mode)
        changed.append(f"mode {d.mode:04o}")
    # NOTE: only root can give files away; a test or image build run as a user keeps its own.
    if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
        os.chown(path, 0, 0)
        changed.append("owner root:root")
    if created:
        report.add(f"✓ Created {d.path} (mode {d.mode:04o})")
    elif changed:
        report.add(f"✓ Fixed {d.path}: " + ", ".join(changed))


def _write_if_changed(path: Path, text: str, mode: int, shown: Path, report: Report) -> None:
    try:
        same = path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == mode
    except (FileNotFoundError, NotADirectoryError):
        same = False
    if not same:
        write_atomic(path, text, mode=mode)
        report.add(f"✓ Wrote {shown}")


def _link(layout: Layout, name: str, report: Report) -> None:
    assert layout.bin_dir is not None
    link = layout.host(layout.bin_dir / name)
    dest = layout.venv / "bin" / name
    if link.is_symlink():
        if Path(os.readlink(link)) == dest:
            return
        link.unlink()
    elif link.exists():
        report.add(f"⚠ Left {layout.bin_dir / name} alone: it is not a link racker made")
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(dest)
    report.add(f"✓ Linked {layout.bin_dir / name} → {dest}")


def _systemctl(run: Runner, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return run(["systemctl", *args], capture_output=True, text=True, timeout=120,
                   check=False)
    except OSError as err:
        raise ServiceError(f"cannot run systemctl: {err.strerror}",
                           hint="racker install needs systemd; use --root DIR to only "
                                "write the files") from None


def _denied(err: OSError, command: str) -> RackerError:
    return RackerError(f"{command} failed: {err.strerror}",
                       where=Where(file=err.filename) if err.filename else None,
                       hint=f"run 'sudo racker {command}'")


def install(layout: Layout, version: str, run: Runner = subprocess.run) -> Report:
    """Create the folders, write the unit, the links and the version file; on the live system
    reload systemd and enable and start the unit."""
    try:
        return _install(layout, version, run)
    except OSError as err:
        raise _denied(err, "install") from None


def _install(layout: Layout, version: str, run: Runner) -> Report:
    if not layout.venv.is_absolute():
        raise InputError("the venv must be an absolute path", where=Where(flag="-venv"))
    report = Report()
    for d in state_dirs(layout.state_dir):
        _ensure_dir(d, layout, report)
    _write_if_changed(layout.host(marker(layout.state_dir)), MARKER_TEXT, 0o644,
                      marker(layout.state_dir), report)
    _write_if_changed(layout.host(layout.unit_path), render_serve_unit(layout), 0o644,
                      layout.unit_path, report)
    if layout.bin_dir is not None:
        for name in COMMANDS_LINKED:
            _link(layout, name, report)
    _write_if_changed(layout.host(layout.version_file), version + "\n", 0o644,
                      layout.version_file, report)
    if layout.live:
        for args in (("daemon-reload",), ("enable", "--now", UNIT_NAME)):
            proc = _systemctl(run, *args)
            if proc.returncode != 0:
                raise ServiceError(f"systemctl {' '.join(args)} failed: "
                                   f"{proc.stderr.strip()[-400:]}",
                                   hint=f"see 'journalctl -u {UNIT_NAME}'")
        report.add(f"✓ {UNIT_NAME} enabled and started")
    else:
        report.add(f"🛈 Files written under {layout.root}; systemctl was not called")
    if len(report.lines) == 1 and not layout.live:
        report.lines.insert(0, "✓ Racker is installed; nothing changed")
    return report


def _removable_state(path: Path) -> bool:
    """Refuse to purge `/`, top-level folders, a home folder or a folder without the marker."""
    p = path.resolve()
    return len(p.parts) >= 3 and p != Path.home().resolve() and is_marked(p)


def uninstall(layout: Layout, purge: bool = False, run: Runner = subprocess.run) -> Report:
    """Stop and disable the unit (live system), remove it and racker's links; with `purge`
    also the state folder and the version file."""
    try:
        return _uninstall(layout, purge, run)
    except OSError as err:
        raise _denied(err, "uninstall") from None


def _uninstall(layout: Layout, purge: bool, run: Runner) -> Report:
    # Checked before anything is removed: a refused purge leaves the installation as it was.
    if purge and layout.host(layout.state_dir).exists() and not _removable_state(
            layout.host(layout.state_dir)):
        raise InputError(f"refusing to remove {layout.state_dir}: it is not a racker state "
                         f"folder (it has no {MARKER_NAME} file)",
                         where=Where(file=str(layout.state_dir)),
                         hint="check RACKER_STATE_DIR; 'racker install' marks the state folder "
                         "of an older installation")
    report = Report()
    unit = layout.host(layout.unit_path)
    if layout.live and unit.exists():
        proc = _systemctl(run, "disable", "--now", UNIT_NAME)
        if proc.returncode != 0:
            report.add(f"⚠ systemctl disable --now {UNIT_NAME} failed: "
                       f"{proc.stderr.strip()[-300:]}")
        else:
            report.add(f"✓ {UNIT_NAME} stopped and disabled")
    if unit.exists():
        unit.unlink()
        report.add(f"✓ Removed {layout.unit_path}")
        if layout.live:
            _systemctl(run, "daemon-reload")
    if layout.bin_dir is not None:
        for name in COMMANDS_LINKED:
            link = layout.host(layout.bin_dir / name)
            if link.is_symlink() and Path(os.readlink(link)) == layout.venv / "bin" / name:
                link.unlink()
                report.add(f"✓ Removed the link {layout.bin_dir / name}")
    if purge:
        state = layout.host(layout.state_dir)
        if state.exists():
            shutil.rmtree(state)
            report.add(f"✓ Removed racker's state {layout.state_dir}")
        version = layout.host(layout.version_file)
        if version.exists():
            version.unlink()
            report.add(f"✓ Removed {layout.version_file}")
    elif layout.host(layout.state_dir).exists():
        report.add(f"🛈 Kept racker's state in {layout.state_dir} (remove it with -purge)")
    if not report.lines:
        report.add("✓ Racker is not installed; nothing to remove")
    return report


def environment_overrides(env: Mapping[str, str], names: Sequence[str]
                          ) -> tuple[tuple[str, str], ...]:
    """The `RACKER_*` path settings in force, to carry into the unit; never a setting of
    NEVER_CARRIED, and InputError naming the setting for a value with a control character."""
    return tuple((n, check_unit_value(n, env[n])) for n in names
                 if env.get(n) and n not in NEVER_CARRIED)


def check_root(root: Path, create: bool = False) -> Path:
    """`-root` must be a folder; with `create` (install) a missing one is made first."""
    if create and not root.exists() and not root.is_symlink():
        try:
            root.mkdir(mode=0o755, parents=True)
        except OSError as e:
            raise InputError(f"{root} cannot be created: {e.strerror}",
                             where=Where(flag="-root")) from None
    if not root.is_dir():
        raise InputError(f"{root} is not a folder", where=Where(flag="-root"),
                         hint="give an existing folder (install creates a missing one), or "
                              "leave -root out to work on this system")
    return root.resolve()
