"""`racker update | upgrade | get VERSION | install | uninstall`: racker's own lifecycle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from racker import __version__
from racker.app import factory
from racker.app.install import (
    UNIT_DIR,
    UNIT_NAME,
    Layout,
    check_root,
    environment_overrides,
    install,
    uninstall,
    with_recorded_paths,
)
from racker.app.lifecycle import (
    ChangeRequest,
    change_version,
    index_file,
    package_index,
    venv_target,
    version_in,
)
from racker.core.releases import Mode
from racker.errors import InputError, Where
from racker.paths import Paths

_CHANGE_FLAGS = {"index": True, "venv": True, "pre": False, "dry-run": False, "force": False,
                 "y": False, "yes": False}
_CHANGE_OPTIONS = """\
  -index URL|DIR  Package index (PEP 503 simple index URL, or a folder of wheels); default:
                  $RACKER_PACKAGE_INDEX, else the first line of <state dir>/package-index
                  (there is no default: 'racker' on PyPI is another project)
  -venv DIR       The virtual environment to change (default: the one running this racker)
  -pre            Consider pre-releases too
  -dry-run        Show what would be installed and stop
  -force          Install even over an editable install from a source checkout"""

USAGE = {
    "update": f"""\
Usage: racker update [OPTIONS]

Installs the newest release of the running release series (same major.minor), compatible with
the deployed cluster configuration. With no version recorded (after 'racker factory reset
-racker-version') it installs the newest release.

{_CHANGE_OPTIONS}""",
    "upgrade": f"""\
Usage: racker upgrade [-y] [OPTIONS]

Installs the newest release of all. A new release series may need changes to the cluster
configuration; racker warns and asks before leaving the running series.

  -y, -yes        Do not ask for confirmation (needed without a terminal)
{_CHANGE_OPTIONS}""",
    "get": f"""\
Usage: racker get VERSION [OPTIONS]

Installs exactly VERSION (e.g. 0.3.1), older or newer than the running one; a series (0.3)
means its newest release.

{_CHANGE_OPTIONS}""",
    "install": """\
Usage: racker install [-root DIR] [-venv DIR] [-bin-dir DIR]

Sets racker up as a service on this management node: the state folders (owner root, no access
for others), the systemd unit racker-serve.service (enabled and started), links to racker and
ipmi in /opt/bin, and the version file. Running it again repairs what differs.

  -root DIR      Write everything under DIR (an image or a mounted system; created when
                 missing) and do not call systemctl
  -venv DIR      The virtual environment racker runs from (default: this one)
  -bin-dir DIR   Where to link the commands (default /opt/bin; empty: no links)""",
    "uninstall": """\
Usage: racker uninstall [-root DIR] [-venv DIR] [-bin-dir DIR] [-purge]

Stops and removes racker-serve.service and racker's links. The state folder is kept unless
-purge is given.

  -root DIR      Work under DIR and do not call systemctl
  -purge         Also remove racker's state folder and version file""",
}

_HELP = ("-h", "-help", "--help", "help")


@dataclass
class Parsed:
    """Flags and positional arguments of one command line."""

    flags: dict[str, str | bool] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        """The value of a flag that takes one; None when it was not given."""
        value = self.flags.get(name)
        return value if isinstance(value, str) else None

    def on(self, *names: str) -> bool:
        """True when any of the boolean flags `names` was given."""
        return any(self.flags.get(n) is True for n in names)


def parse(argv: Sequence[str], spec: dict[str, bool], command: str) -> Parsed:
    """Go-style (`-index URL`, `-index=URL`) and GNU (`--index URL`) flags; `spec` maps each
    flag to whether it takes a value."""
    out = Parsed()
    items = list(argv)
    while items:
        arg = items.pop(0)
        if arg == "--":
            out.args += items
            break
        if not arg.startswith("-") or arg == "-":
            out.args.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in spec:
            raise InputError(f"unknown flag '{arg}'", where=Where(flag=arg),
                             hint=f"see 'racker {command} -h'")
        if not spec[name]:
            if eq:
                raise InputError(f"flag -{name} takes no value", where=Where(flag=arg))
            out.flags[name] = True
            continue
        if not eq:
            if not items:
                raise InputError(f"flag -{name} needs a value", where=Where(flag=arg),
                                 hint=f"see 'racker {command} -h'")
            value = items.pop(0)
        out.flags[name] = value
    return out


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        raise InputError("the upgrade needs a confirmation and there is no terminal to ask",
                         hint="run 'racker upgrade -y' to confirm it in advance")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _change(mode: Mode, argv: Sequence[str]) -> int:
    if any(a in _HELP for a in argv):
        print(USAGE[mode.value])
        return 0
    p = parse(argv, _CHANGE_FLAGS, mode.value)
    wanted: str | None = None
    if mode is Mode.GET:
        if len(p.args) != 1:
            raise InputError("'racker get' takes exactly one VERSION",
                             hint="e.g. 'racker get 0.3.1'; see 'racker get -h'")
        wanted = p.args[0]
    elif p.args:
        raise InputError(f"unexpected argument '{p.args[0]}'", where=Where(flag=p.args[0]),
                         hint=f"'racker {mode.value}' takes only flags; see -h")
    venv = p.text("venv")
    target, own = venv_target(Path(venv).resolve() if venv else None)
    index = package_index(Paths.from_env().state_dir, p.text("index"))
    req = ChangeRequest(mode, wanted, allow_pre=p.on("pre"), assume_yes=p.on("y", "yes"),
                        dry_run=p.on("dry-run"), force=p.on("force"))
    # The version file describes racker's own installation; another venv (-venv) has none
    # unless RACKER_VERSION_FILE names one.
    version_file = (factory.version_file() if own or "RACKER_VERSION_FILE" in os.environ
                    else None)
    return change_version(req, target, index, version_file, _ask,
                          lambda line: print(line, flush=True),
                          restart=_restart_service if own else None)


def _restart_service() -> str | None:
    """Restart racker-serve.service when it is installed, so it runs the new release."""
    if not (UNIT_DIR / UNIT_NAME).exists() or shutil.which("systemctl") is None:
        return None
    proc = subprocess.run(["systemctl", "try-restart", UNIT_NAME], capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        return (f"⚠ Could not restart {UNIT_NAME}: {proc.stderr.strip()[-300:]}; "
                f"run 'systemctl restart {UNIT_NAME}'")
    return f"✓ {UNIT_NAME} restarted (if it was running)"


def update(argv: Sequence[str]) -> int:
    """`racker update`"""
    return _change(Mode.UPDATE, argv)


def upgrade(argv: Sequence[str]) -> int:
    """`racker upgrade`"""
    return _change(Mode.UPGRADE, argv)


def get(argv: Sequence[str]) -> int:
    """`racker get VERSION`"""
    return _change(Mode.GET, argv)


# NOTE: RACKER_PACKAGE_INDEX is not among them: the unit is world-readable and the index URL may
# carry a token; 'racker serve' never installs anything.
_PATH_SETTINGS = ("RACKER_STATE_DIR", "RACKER_OEM_DIR", "RACKER_HOSTS_FILE",
                  "RACKER_VERSION_FILE", "RACKER_SSH_KEY")


def _layout(p: Parsed, create_root: bool = False) -> Layout:
    root = check_root(Path(p.text("root") or "/"), create=create_root)
    venv_text = p.text("venv")
    venv = Path(venv_text) if venv_text else Path(sys.prefix)
    if not venv.is_absolute():
        raise InputError(f"-venv {venv} is not an absolute path", where=Where(flag="-venv"))
    bin_dir = p.text("bin-dir")
    return Layout(venv=venv, state_dir=Paths.from_env().state_dir,
                  version_file=factory.version_file(),
                  bin_dir=Path("/opt/bin") if bin_dir is None else Path(bin_dir) if bin_dir
                  else None,
                  root=root, environment=environment_overrides(os.environ, _PATH_SETTINGS))


def _installed_version(layout: Layout, venv_given: bool) -> str:
    """The racker version in the venv being installed (this racker's unless -venv is given).

    The venv is looked for under -root first, then at its own path (an image build or a test
    may install a venv that is already where the unit will find it)."""
    if not venv_given:
        return __version__
    for python in (layout.host(layout.venv) / "bin" / "python", layout.venv / "bin" / "python"):
        if python.exists():
            version = version_in(python)
            if version is None:
                break
            return version
    raise InputError(f"racker is not installed in the venv {layout.venv}",
                     where=Where(flag="-venv"), hint="install it there with pip first")


def install_cmd(argv: Sequence[str]) -> int:
    """`racker install`"""
    if any(a in _HELP for a in argv):
        print(USAGE["install"])
        return 0
    p = parse(argv, {"root": True, "venv": True, "bin-dir": True}, "install")
    if p.args:
        raise InputError(f"unexpected argument '{p.args[0]}'", where=Where(flag=p.args[0]))
    layout = _layout(p, create_root=True)
    version = _installed_version(layout, p.text("venv") is not None)
    for line in install(layout, version).lines:
        print(line)
    if os.environ.get("RACKER_PACKAGE_INDEX", "").strip():
        print(f"🛈 RACKER_PACKAGE_INDEX was not written into {UNIT_NAME} (readable by every user, "
              "and the service does not need it); for 'racker update' write it into "
              f"{index_file(layout.state_dir)} (mode 0600)")
    return 0


def uninstall_cmd(argv: Sequence[str]) -> int:
    """`racker uninstall`"""
    if any(a in _HELP for a in argv):
        print(USAGE["uninstall"])
        return 0
    p = parse(argv, {"root": True, "venv": True, "bin-dir": True, "purge": False},
              "uninstall")
    if p.args:
        raise InputError(f"unexpected argument '{p.args[0]}'", where=Where(flag=p.args[0]))
    layout = with_recorded_paths(_layout(p), os.environ)  # the paths the install used
    for line in uninstall(layout, purge=p.on("purge")).lines:
        print(line)
    return 0
