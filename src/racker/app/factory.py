"""`racker factory`: check the rack metadata, reset racker, create the management SSH key.

These are the steps of preparing a rack before it is handed to its operator (the reference's
docs/management_node.md): fill in `/usr/share/oem/{nodes.csv,ipmi_user,ipmi_password}`, create
an SSH key, check everything, and reset the version information so that the first
`racker update` pulls the newest version.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.credentials import load_credentials
from racker.adapters.fs.rackmeta import read_machine_macs, read_nodes_csv_text, read_pxe_file
from racker.core.inventory import HEADER, check_nodes_csv
from racker.core.plan import number_addresses
from racker.errors import InputError, RackerError, Where
from racker.model import Inventory
from racker.paths import Paths

DEFAULT_VERSION_FILE = "/opt/racker/RACKER_VERSION"
"""Where the installed racker version is recorded (`racker update` reads it)."""


def version_file(env: Mapping[str, str] | None = None) -> Path:
    """The racker version file, overridable by `RACKER_VERSION_FILE`."""
    e = os.environ if env is None else env
    return Path(e.get("RACKER_VERSION_FILE", DEFAULT_VERSION_FILE))


@dataclass(frozen=True)
class CheckResult:
    """What `racker factory check` found: the confirmations and the problems."""

    items: tuple[str | RackerError, ...]
    """In order: `✓` lines for what is valid, `🛈` lines with the node-type counts, problems."""

    @property
    def lines(self) -> tuple[str, ...]:
        """The confirmation and information lines."""
        return tuple(i for i in self.items if isinstance(i, str))

    @property
    def problems(self) -> tuple[RackerError, ...]:
        """Every problem found, in the order found."""
        return tuple(i for i in self.items if isinstance(i, RackerError))

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def node_type_lines(inventory: Inventory) -> list[str]:
    """The node-type summary: how many nodes (management node not counted) have each type."""
    counts = Counter(n.node_type for n in inventory.nodes)
    if not any(t for t in counts):
        return ["🛈 No different node types configured"]
    out = [f"🛈 {len(counts)} node types configured:"]
    out += [f'  {counts[t]} "{t}"' for t in sorted(counts)]
    return out


def check(paths: Paths) -> CheckResult:
    """Check the credential files and nodes.csv, collecting every problem found."""
    items: list[str | RackerError] = []
    try:
        load_credentials(paths)
        items.append(f"✓ {paths.ipmi_user_file} and {paths.ipmi_password_file} look valid")
    except RackerError as e:
        items.append(e)
    try:
        text = read_nodes_csv_text(paths.nodes_csv)
    except RackerError as e:
        items.append(e)
        return CheckResult(tuple(items))
    try:
        pxe_file = read_pxe_file(paths)
    except RackerError as e:
        items.append(e)
        return CheckResult(tuple(items))
    inventory, found = check_nodes_csv(text, paths.nodes_csv,
                                       read_machine_macs(paths.sys_class_net), pxe_file)
    items += found
    if inventory is not None:
        try:  # a rack too large for the internal /24 is a nodes.csv problem too
            number_addresses("0.0.0", inventory.nodes, str(paths.nodes_csv))
        except RackerError as e:
            items.append(e)
            return CheckResult(tuple(items))
        items.append(f"✓ {paths.nodes_csv} looks valid")
        items.append(f"🛈 PXE interface: {inventory.pxe_interface}, "
                     f"{len(inventory.nodes)} nodes besides the management node")
        items += node_type_lines(inventory)
    return CheckResult(tuple(items))


@dataclass(frozen=True)
class ResetRequest:
    """What `racker factory reset` was asked to do."""

    racker_version: bool = False
    nodes: bool = False
    confirm: bool = False


def _removable(path: Path, paths: Paths) -> bool:
    """Refuse to delete `/`, a home folder or anything that holds the rack metadata."""
    p = path.resolve()
    protected = {Path("/"), paths.home.resolve(), Path.home().resolve()}
    if p in protected or len(p.parts) < 3:
        return False
    return not any(q == p or p in q.parents
                   for q in (paths.oem_dir.resolve(), paths.home.resolve()))


def reset(req: ResetRequest, paths: Paths, version: Path,
          ask: Callable[[str], bool], out: Callable[[str], None]) -> int:
    """`racker factory reset`: describe, ask "Are you sure?" unless confirmed, then reset.

    Returns the exit code. Nothing is touched unless confirmed.
    """
    if not req.confirm:
        if req.racker_version:
            try:
                current = version.read_text().strip()
            except OSError:
                current = ""
            out("This will reset the version information from racker (currently "
                f"{current or 'none is set'})")
        if req.nodes:
            out(f"This will reset the nodes file ({paths.nodes_csv}) and remove "
                f"{paths.state_dir}")
        if not ask("Are you sure?"):
            out("× Reset not confirmed; doing nothing.")
            return 0
    if req.nodes and not _removable(paths.state_dir, paths):
        raise InputError(f"refusing to remove {paths.state_dir}: it is not a racker state "
                         "folder", where=Where(file=str(paths.state_dir)),
                         hint="check RACKER_STATE_DIR")
    if req.racker_version:
        try:
            version.unlink(missing_ok=True)
        except OSError as e:
            raise RackerError(f"failed to reset racker's version: {e.strerror}",
                              where=Where(file=str(version)),
                              hint="run the command with sudo") from None
        out("✓ Racker version reset (you can run 'racker update' to update it)")
    if req.nodes:
        try:
            write_atomic(paths.nodes_csv, HEADER + "\n", mode=0o644)
        except OSError as e:
            raise RackerError(f"failed to reset the nodes file: {e.strerror}",
                              where=Where(file=str(paths.nodes_csv)),
                              hint="run the command with sudo") from None
        try:
            shutil.rmtree(paths.state_dir)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise RackerError(f"failed to remove racker's state: {e.strerror}",
                              where=Where(file=str(paths.state_dir)),
                              hint="run the command with sudo") from None
        out(f"✓ Nodes file reset ({paths.nodes_csv})")
        kept = [d for d in (paths.lokomotive_dir, paths.flatcar_dir) if d.exists()]
        if kept:
            out("🛈 Kept the configuration folders " + ", ".join(map(str, kept))
                + "; remove them by hand when they are no longer needed")
    return 0


@dataclass(frozen=True)
class SshKey:
    """A key pair gen_ssh_key made: what may be shown, and where the private key is."""

    private_key: Path
    public_key: str
    """The `.pub` line: type, key and comment."""
    fingerprint: str
    """`SHA256:...`, as `ssh-keygen -l` shows it."""


def gen_ssh_key(key: Path, run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run
                ) -> SshKey:
    """Create the management key `key` and `key.pub` without a passphrase (ed25519; RSA 4096
    only for a key named `id_rsa`); its path, public key and fingerprint.

    An existing key is never overwritten: it may be the one operators already log in with.
    The private key is not returned: it is read only when the operator asks to see it.
    """
    pub = Path(f"{key}.pub")
    if key.exists() or pub.exists():
        raise InputError("an SSH key already exists; not overwriting it", where=Where(
            file=str(key)), hint=f"print it with 'cat {key}', or remove {key} and {pub} "
                                 "first to create a new one")
    if key.parent.name == ".ssh":
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    else:
        key.parent.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise RackerError("ssh-keygen is not installed",
                          hint="install it (Debian package openssh-client)")
    # NOTE: the type is explicit (older ssh-keygen defaults to RSA); a key named id_rsa (set
    # with RACKER_SSH_KEY) gets what its name says
    kind = ["-t", "rsa", "-b", "4096"] if key.name == "id_rsa" else ["-t", "ed25519"]
    # -q: no randomart on the terminal
    proc = run([exe, "-q", *kind, "-N", "", "-f", str(key)], stdin=subprocess.DEVNULL,
               check=False)
    if proc.returncode != 0 or not key.exists() or not pub.exists():
        raise RackerError(f"ssh-keygen failed (exit code {proc.returncode})",
                          where=Where(file=str(key)))
    public = pub.read_text().strip()
    return SshKey(private_key=key, public_key=public, fingerprint=fingerprint(public))


def fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint of a `.pub` line, as `ssh-keygen -l` shows it (pure)."""
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, ValueError):
        return "(unknown: not an OpenSSH public key)"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
