"""Use case: change the installed racker version (`racker update`, `upgrade`, `get VERSION`).

Wires the pure choice (`racker.core.releases`) to the package index, pip and the target venv
(`racker.adapters.packageindex`), and records the installed version in the version file that
`racker factory reset -racker-version` removes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from racker.adapters.fs.atomic import write_atomic
from racker.adapters.packageindex import (
    INDEX_FILE_NAME,
    PackageIndex,
    Runner,
    Target,
    configured_index,
    list_files,
    pip_install,
    probe,
)
from racker.adapters.wheelfetch import fetch_wheel
from racker.core.releases import (
    UPGRADE_WARNING,
    Mode,
    choose_wheel,
    releases_of,
    select,
    series_text,
)
from racker.errors import InputError, RackerError, Where


@dataclass(frozen=True)
class ChangeRequest:
    """What the operator asked for."""

    mode: Mode
    wanted: str | None = None
    allow_pre: bool = False
    assume_yes: bool = False
    dry_run: bool = False
    force: bool = False
    """Install even over an editable (source checkout) installation."""


def recorded_version(version_file: Path) -> str | None:
    """The version in the version file; None when there is none (e.g. after a factory reset)."""
    try:
        text = version_file.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RackerError(f"cannot read racker's version file: {err.strerror}",
                          where=Where(file=str(version_file)),
                          hint="run the command with sudo") from None
    return text or None


def record_version(version_file: Path, version: str) -> None:
    """Write the installed version to the version file."""
    write_atomic(version_file, version + "\n", mode=0o644)


def change_version(req: ChangeRequest, target: Target, index: PackageIndex,
                   version_file: Path | None, ask: Callable[[str], bool],
                   out: Callable[[str], None], *, env: Mapping[str, str] | None = None,
                   run: Runner = subprocess.run, client: httpx.Client | None = None,
                   restart: Callable[[], str | None] | None = None) -> int:
    """Choose a release and its wheel, confirm an upgrade to another series, fetch the wheel and
    check its sha256, install that file with pip, verify the result and record it; then call
    `restart` (restarts the running service, returns a line to show).
    Returns the exit code; refusals raise RackerError."""
    installed = probe(target, run=run)
    if installed.editable and not req.force:
        raise InputError(f"racker in {target.prefix} is an editable install from a source "
                         "checkout; installing a release would replace it",
                         hint="update the checkout with git instead, or pass -force")
    running = installed.version
    if (req.mode is Mode.UPDATE and version_file is not None
            and recorded_version(version_file) is None):
        out(f"No racker version is recorded in {version_file} (reset by 'racker factory "
            "reset -racker-version'); updating to the newest release")
        running = None
    files = list_files(index, target.project, client=client)
    sel = select(req.mode, running, releases_of(files), wanted=req.wanted,
                 allow_pre=req.allow_pre, python=installed.python, index=str(index))
    out(sel.message)
    if sel.target is None:
        return 0
    # Before asking anything: a release that cannot be verified is refused outright.
    wheel = choose_wheel(files, sel.target, python=installed.python,
                         need_hash=not index.find_links, index=str(index))
    if req.mode is Mode.UPGRADE and sel.leaves_series and running is not None:
        out(f"⚠ {UPGRADE_WARNING}")
        if not req.assume_yes and not ask(
                f"Upgrade racker from series {series_text(running)} to "
                f"{series_text(sel.target)}?"):
            out("× Upgrade not confirmed; nothing was changed.")
            return 1
    elif req.mode is Mode.GET and sel.leaves_series and running is not None:
        out(f"🛈 racker {sel.target} is of another release series than {running}: the "
            "cluster configuration may need changes to fit its tools")
    if req.dry_run:
        out(f"Dry run: would install racker {sel.target} ({wheel.filename}) into "
            f"{target.prefix} from {index}")
        return 0
    out(f"Installing racker {sel.target} into {target.prefix} with pip from {index} …")
    with tempfile.TemporaryDirectory(prefix="racker-update-") as tmp:  # mode 0700
        fetched = fetch_wheel(index, wheel, Path(tmp), client=client)
        out(fetched.note)
        pip_install(target, fetched.path, sel.target, index, env=env, run=run)
    now = probe(target, run=run).version
    if now != sel.target:
        raise RackerError(f"pip finished but {target.prefix} holds racker {now}, not "
                          f"{sel.target}", hint="run the command again; check pip's settings")
    if version_file is not None:
        try:
            record_version(version_file, str(now))
        except OSError as err:
            out(f"⚠ Could not record the version in {version_file}: {err.strerror}")
    out(f"✓ racker {now} installed in {target.prefix}")
    if restart is not None and (line := restart()):
        out(line)
    return 0


def venv_target(venv: Path | None) -> tuple[Target, bool]:
    """The virtual environment to change (`-venv`, else racker's own) and whether it is
    racker's own."""
    target = Target.of_venv(venv)
    return target, target.prefix.resolve() == Path(sys.prefix).resolve()


def package_index(state_dir: Path, flag: str | None) -> PackageIndex:
    """Where releases come from: `-index`, else RACKER_PACKAGE_INDEX, else the package-index
    file in the state folder (RackerError saying how to set one when there is none)."""
    return configured_index(state_dir, flag)


def index_file(state_dir: Path) -> Path:
    """The file that names the package index for `racker update` (mode 0600: it may hold a
    token)."""
    return state_dir / INDEX_FILE_NAME


def version_in(python: Path) -> str | None:
    """The racker version installed for the interpreter `python`, if any."""
    version = probe(Target(python)).version
    return None if version is None else str(version)
