"""The outside world of `racker update/upgrade/get`: the package index, pip, the target venv.

Three thin adapters: where the package index is configured, which releases it offers (a PEP 503
simple index over HTTP or `file://`, or a `--find-links` folder), and a Python environment
(`Target`) that is probed and installed into with `python -m pip`. The target is a parameter so
tests work on a throwaway venv and never on racker's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from racker import DISTRIBUTION
from racker.core.releases import (
    DistFile,
    Release,
    files_from_filenames,
    parse_simple_files,
    redact_url,
    releases_of,
)
from racker.errors import InputError, RackerError, Where

DEFAULT_PROJECT = DISTRIBUTION
INDEX_FILE_NAME = "package-index"
"""`<state dir>/package-index`: one line naming the index URL or a find-links folder."""

PIP_TIMEOUT_S = 900.0
INDEX_TIMEOUT_S = 15.0

Runner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class PackageIndex:
    """Where releases come from: a simple index URL, or a local folder of wheels."""

    location: str
    find_links: bool
    source: str
    """Which setting named it (for messages): a flag, the environment or a file."""

    def __str__(self) -> str:
        return redact_url(self.location)


def _index_from_text(text: str, source: str) -> PackageIndex:
    value = text.strip()
    if "://" not in value:
        folder = Path(value)
        if not folder.is_dir():
            raise InputError(f"the package index folder {value} does not exist",
                             where=Where(file=source) if source.startswith("/") else
                             Where(flag=source),
                             hint="name an http(s):// simple index or a folder of wheels")
        return PackageIndex(str(folder.resolve()), True, source)
    scheme = urlsplit(value).scheme
    if scheme not in ("http", "https", "file"):
        raise InputError(f"unsupported package index URL scheme '{scheme}'",
                         where=Where(flag=source), hint="use http://, https:// or file://")
    if scheme == "http" and redact_url(value) != value:
        # NOTE: user info or a query token: over plain HTTP anyone on the path reads it (and
        # could then publish "releases" racker installs as root)
        raise InputError(f"the package index {redact_url(value)} would send its credentials "
                         "over plain HTTP", where=_where(source),
                         hint="use the https:// URL of the index, or one without credentials")
    return PackageIndex(value, False, source)


def _where(source: str) -> Where:
    if source.startswith("/"):
        return Where(file=source)
    return Where(variable=source) if source.isupper() else Where(flag=source)


def _no_index(path: Path) -> RackerError:
    # NOTE: no default to PyPI: "racker" there is somebody else's project, and racker-baremetal
    # is not published there (yet). Whoever could register it would get root on every rack.
    return RackerError(
        "no package index is configured for racker's releases",
        hint=f"name the index that holds the {DISTRIBUTION} releases with -index URL|DIR, the "
             f"environment variable RACKER_PACKAGE_INDEX, or one line in {path} (e.g. "
             f"'echo https://pypi.example.internal/simple/ | sudo install -m 0600 /dev/stdin "
             f"{path}'); a folder of wheels works too")


def configured_index(state_dir: Path, flag: str | None = None,
                     env: Mapping[str, str] | None = None) -> PackageIndex:
    """The package index: `--index`, else `RACKER_PACKAGE_INDEX`, else
    `<state dir>/package-index`; RackerError saying how to configure one when none is."""
    e = os.environ if env is None else env
    if flag:
        return _index_from_text(flag, "-index")
    if e.get("RACKER_PACKAGE_INDEX", "").strip():
        return _index_from_text(e["RACKER_PACKAGE_INDEX"], "RACKER_PACKAGE_INDEX")
    path = state_dir / INDEX_FILE_NAME
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines()]
    except FileNotFoundError:
        raise _no_index(path) from None
    except OSError as err:
        raise RackerError(f"cannot read the package index setting: {err.strerror}",
                          where=Where(file=str(path)), hint="run the command with sudo") from None
    values = [ln for ln in lines if ln and not ln.startswith("#")]
    if not values:
        raise _no_index(path)
    return _index_from_text(values[0], str(path))


def list_releases(index: PackageIndex, project: str = DEFAULT_PROJECT,
                  client: httpx.Client | None = None) -> list[Release]:
    """Every release of `project` the index offers; RackerError naming the index when it cannot
    be read."""
    return releases_of(list_files(index, project, client))


def list_files(index: PackageIndex, project: str = DEFAULT_PROJECT,
               client: httpx.Client | None = None) -> list[DistFile]:
    """Every file of `project` the index offers, with the sha256 it publishes for each;
    RackerError naming the index when it cannot be read."""
    name = canonicalize_name(project)
    if index.find_links:
        try:
            return files_from_filenames(os.listdir(index.location), project, index.location)
        except OSError as err:
            raise RackerError(f"cannot read the package folder {index}: {err.strerror}",
                              hint=f"set by {index.source}") from None
    if urlsplit(index.location).scheme == "file":
        return _list_file_index(index, name, project)
    url = index.location.rstrip("/") + f"/{name}/"
    own = client is None
    http = client or httpx.Client(timeout=INDEX_TIMEOUT_S, follow_redirects=True)
    try:
        resp = http.get(url, headers={"Accept": "text/html"})
    except httpx.HTTPError as err:
        raise RackerError(f"the package index {redact_url(url)} is unreachable: "
                          f"{type(err).__name__}: {redact_url(str(err))}",
                          hint=f"check the network and the index set by {index.source} "
                               "(RACKER_PACKAGE_INDEX, -index, or the package-index file "
                               "in racker's state folder)") from None
    finally:
        if own:
            http.close()
    if resp.status_code == 404:
        return []
    if resp.status_code != 200:
        raise RackerError(f"the package index {redact_url(url)} answered HTTP "
                          f"{resp.status_code}", hint=f"check the index set by {index.source}")
    # NOTE: links are resolved against the URL asked for (it carries the credentials, which a
    # redirected URL may not), as pip does for an index without redirects.
    return parse_simple_files(resp.text, project, url)


def _list_file_index(index: PackageIndex, name: str, project: str) -> list[DistFile]:
    folder = Path(unquote(urlsplit(index.location).path)) / name
    page = folder / "index.html"
    try:
        if page.is_file():
            return parse_simple_files(page.read_text(), project, page.parent.as_uri() + "/")
        # A bare folder publishes no hashes: listed, but choose_wheel refuses to install them.
        return files_from_filenames(os.listdir(folder), project, folder.as_uri())
    except FileNotFoundError:
        if not folder.parent.is_dir():
            raise RackerError(f"the package index {index} does not exist",
                              hint=f"check the index set by {index.source}") from None
        return []
    except OSError as err:
        raise RackerError(f"cannot read the package index {index}: {err.strerror}") from None


_PROBE = """\
import json, platform, sys
from importlib import metadata
out = {"python": platform.python_version(), "version": None, "editable": False}
try:
    dist = metadata.distribution(sys.argv[1])
    out["version"] = dist.version
    url = dist.read_text("direct_url.json")
    if url:
        out["editable"] = bool(json.loads(url).get("dir_info", {}).get("editable"))
except metadata.PackageNotFoundError:
    pass
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Installed:
    """What a target environment holds."""

    python: Version
    version: Version | None
    editable: bool


@dataclass(frozen=True)
class Target:
    """A Python environment racker is installed into (its own venv unless told otherwise)."""

    python: Path
    project: str = DEFAULT_PROJECT

    @classmethod
    def of_venv(cls, venv: Path | None, project: str = DEFAULT_PROJECT) -> Target:
        """The venv at `venv`, or the one running this racker."""
        if venv is None:
            return cls(Path(sys.executable), project)
        python = venv / "bin" / "python"
        if not python.exists():
            raise InputError(f"{venv} is not a Python virtual environment (no bin/python)",
                             where=Where(flag="-venv"), hint="name the venv's folder")
        return cls(python, project)

    @property
    def prefix(self) -> Path:
        """The environment's folder."""
        return self.python.parent.parent


def probe(target: Target, run: Runner = subprocess.run) -> Installed:
    """Ask the target's Python which version of the project it has installed."""
    try:
        # -I: PYTHONPATH and the user's site-packages must not change what the root process
        # sees or runs.
        proc = run([str(target.python), "-I", "-c", _PROBE, target.project], capture_output=True,
                   text=True, timeout=60, check=False)
    except OSError as err:
        raise RackerError(f"cannot run {target.python}: {err.strerror}") from None
    if proc.returncode != 0:
        raise RackerError(f"{target.python} failed to report the installed racker: "
                          f"{proc.stderr.strip()[-300:]}")
    data = json.loads(proc.stdout)
    try:
        version = Version(data["version"]) if data["version"] else None
    except InvalidVersion:
        version = None
    return Installed(Version(data["python"]), version, bool(data["editable"]))


def pip_command(target: Target, wheel: Path, index: PackageIndex,
                env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of the pip that installs the verified `wheel` file (pure).

    pip runs as root, so nothing of the caller's pip set-up may steer it: every `PIP_*`
    variable is dropped and `PIP_CONFIG_FILE=/dev/null` makes pip skip every pip.conf (global,
    user, site; `--isolated` would skip only the user's and also drop `PIP_INDEX_URL`). The only
    index is racker's, given through `PIP_INDEX_URL` and not argv, as it may carry a token.
    The wheel's dependencies are still resolved (`--no-deps` would leave a release that needs a
    new dependency broken), from that index alone, and as wheels only: no setup.py runs.
    """
    child = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    child["PIP_CONFIG_FILE"] = os.devnull
    argv = [str(target.python), "-I", "-m", "pip", "install", "--disable-pip-version-check",
            "--no-input", "-q", "--only-binary=:all:"]
    if index.find_links:
        argv += ["--no-index", "--find-links", index.location]
    else:
        child["PIP_INDEX_URL"] = index.location
    argv.append(str(wheel))
    return argv, child


def pip_install(target: Target, wheel: Path, version: Version, index: PackageIndex,
                env: Mapping[str, str] | None = None, run: Runner = subprocess.run) -> None:
    """Install the verified `wheel` file (racker `version`) into the target environment, its
    dependencies from `index` (see `pip_command`)."""
    argv, child = pip_command(target, wheel, index, os.environ if env is None else env)
    try:
        proc = run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=child,
                   check=False)
    except subprocess.TimeoutExpired:
        raise RackerError(f"pip did not finish installing racker {version} within "
                          f"{PIP_TIMEOUT_S:.0f} s", hint=f"check the package index {index}"
                          ) from None
    except OSError as err:
        raise RackerError(f"cannot run {target.python}: {err.strerror}") from None
    if proc.returncode != 0:
        tail = "\n    ".join(redact_url(ln) for ln in proc.stderr.strip().splitlines()[-8:])
        raise RackerError(f"pip failed to install racker {version} into {target.prefix}:\n"
                          f"    {tail}", hint=f"the package index is {index} "
                          f"(set by {index.source}); racker {version} was not installed")
