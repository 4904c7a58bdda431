"""Which racker release `racker update`, `upgrade` and `get VERSION` install (pure, no I/O).

The reference shipped racker as a container image whose tag named a release series (`0.3`):
`update` pulled the same tag again (newer builds of the running series), `upgrade` pulled
`latest` (possibly incompatible: configurations may need changes), `get VERSION` pulled exactly
that tag, older or newer (docs/usage/updating.md: "Upgrading / downgrading to a particular
version"). Racker is now a Python distribution in its own virtual environment, so the same
promises are kept with PEP 440 versions:

- a *series* is `major.minor`; `update` picks the newest release of the running series,
- `upgrade` picks the newest release of all,
- `get X.Y.Z` picks exactly that release (downgrades allowed, that is its purpose);
  `get X.Y` picks the newest release of series X.Y, as the reference's series tags did,
- `update` and `upgrade` never downgrade; pre-releases only with `allow_pre`, `get` naming one,
  or as the next pre-release of the same release a pre-release runs (1.0.2a1 → 1.0.2rc1),
- with no version recorded (after `racker factory reset -racker-version`) `update` installs the
  newest release, as the reference's first update pulled `latest`,
- only wheels are installed (an sdist would run its setup.py as root), and only a wheel whose
  sha256 the index publishes (`#sha256=` in its link): `choose_wheel` picks that file.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from racker.core import redact
from racker.errors import InputError, RackerError, Where

UPGRADE_WARNING = (
    "Upgrading racker to a new release series can bring new versions of its tools (lokoctl, "
    "terraform, Flatcar configurations) that are incompatible with the ones currently deployed: "
    "the cluster configuration (e.g. ~/lokomotive/baremetal.lokocfg) may have to be changed by "
    "hand to fit the new version. Upgrade only when no cluster is deployed yet, or when it has "
    "been wiped out to start over with the newest racker. 'racker get VERSION' goes back.")


_SHA256 = re.compile(r"sha256=([0-9a-fA-F]{64})")


class Mode(enum.Enum):
    """The three ways of choosing a release."""

    UPDATE = "update"
    UPGRADE = "upgrade"
    GET = "get"


@dataclass(frozen=True)
class Release:
    """One installable release found on the package index."""

    version: Version
    yanked: bool = False
    requires_python: str | None = None
    wheel: bool = True
    """False when the release has source archives only (racker never builds them)."""


@dataclass(frozen=True)
class DistFile:
    """One file of the project on the index: a wheel or a source archive."""

    filename: str
    url: str
    """Absolute URL (or, for a folder of wheels, the file's path)."""
    version: Version
    sha256: str | None = None
    """The hash the index publishes in the link's `#sha256=` fragment (lower case)."""
    yanked: bool = False
    requires_python: str | None = None

    @property
    def is_wheel(self) -> bool:
        """True for a `.whl` file."""
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class Selection:
    """What to install (`target`), or None with the reason in `message`."""

    target: Version | None
    message: str
    leaves_series: bool = False
    """True when the target is in another series than the running release (upgrade warning)."""
    downgrade: bool = False


def series(v: Version) -> tuple[int, int]:
    """The release series `(major, minor)` of a version."""
    rel = (*v.release, 0)
    return rel[0], rel[1]


def series_text(v: Version) -> str:
    """`major.minor` of a version, for messages."""
    major, minor = series(v)
    return f"{major}.{minor}"


def parse_version(text: str, *, flag: str | None = None) -> Version:
    """A PEP 440 version from operator input; InputError with a hint when it is not one."""
    try:
        return Version(text.strip().removeprefix("v"))
    except InvalidVersion:
        raise InputError(f"'{text}' is not a version", where=Where(flag=flag),
                         hint="give a version like 1.2.3 or a series like 1.2") from None


def release_from_filename(filename: str, project: str) -> Version | None:
    """The version in a wheel or sdist file name of `project`; None for other files."""
    name = unquote(filename.rsplit("/", 1)[-1].split("#", 1)[0])
    try:
        if name.endswith(".whl"):
            dist, version, _build, _tags = parse_wheel_filename(name)
        elif name.endswith((".tar.gz", ".zip")):
            dist, version = parse_sdist_filename(name)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return version if dist == canonicalize_name(project) else None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self._attrs: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._attrs is not None:
            self.found.append(("".join(self._text).strip(), self._attrs))
            self._attrs = None


def parse_simple_files(html: str, project: str, page_url: str = "") -> list[DistFile]:
    """Files of `project` on a PEP 503 project page (`<index>/<project>/`), their links made
    absolute against `page_url` and their `#sha256=` hash taken from the link."""
    parser = _Anchors()
    parser.feed(html)
    files: list[DistFile] = []
    for _text, attrs in parser.found:
        href = attrs.get("href") or ""
        path = unquote(urlsplit(href).path)
        filename = path.rsplit("/", 1)[-1]
        # NOTE: the file name comes from the link, never from the anchor text: the text is only
        # a label, and the link is what gets downloaded.
        version = release_from_filename(filename, project)
        if version is None:
            continue
        digest = _SHA256.fullmatch(urlsplit(href).fragment)
        files.append(DistFile(filename, urljoin(page_url, href.split("#", 1)[0]), version,
                              sha256=digest.group(1).lower() if digest else None,
                              yanked="data-yanked" in attrs,
                              requires_python=attrs.get("data-requires-python") or None))
    return files


def files_from_filenames(names: Iterable[str], project: str, folder: str) -> list[DistFile]:
    """Files of `project` among the file names of a `--find-links` folder (no hashes: a folder
    publishes none)."""
    return [DistFile(n, f"{folder.rstrip('/')}/{n}", v) for n in sorted(names)
            if (v := release_from_filename(n, project)) is not None]


def releases_of(files: Iterable[DistFile]) -> list[Release]:
    """One release per version: yanked only when every file of it is yanked (PEP 592), its
    Requires-Python taken from its files, `wheel` when it has a pure-Python wheel."""
    by_version: dict[Version, list[DistFile]] = {}
    for f in files:
        by_version.setdefault(f.version, []).append(f)
    out = []
    for version, group in sorted(by_version.items()):
        live = [f for f in group if not f.yanked] or group
        requires = next((f.requires_python for f in live if f.requires_python), None)
        out.append(Release(version, yanked=all(f.yanked for f in group),
                           requires_python=requires,
                           wheel=any(_pure_wheel(f.filename) for f in group)))
    return out


def parse_simple_index(html: str, project: str) -> list[Release]:
    """Releases of `project` on a PEP 503 project page (`<index>/<project>/`)."""
    return releases_of(parse_simple_files(html, project))


def releases_from_filenames(names: Iterable[str], project: str) -> list[Release]:
    """Releases of `project` among the file names of a `--find-links` folder."""
    return releases_of(files_from_filenames(names, project, "."))


def _pure_wheel(filename: str) -> bool:
    """A wheel that runs on any Python 3 platform (racker is pure Python; a platform wheel of
    it would be a build error or somebody else's file)."""
    try:
        _name, _version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return False
    return any(_runs_pure(tag) for tag in tags)


def _runs_pure(tag: Tag, python: Version | None = None) -> bool:
    if tag.abi != "none" or tag.platform != "any":
        return False
    if tag.interpreter == "py3":
        return True
    m = re.fullmatch(r"py3(\d+)", tag.interpreter)
    if m is None:
        return False
    return python is None or int(m.group(1)) <= python.minor


def choose_wheel(files: Sequence[DistFile], version: Version, *, python: Version | None,
                 need_hash: bool, index: str) -> DistFile:
    """The wheel of `version` to install: pure Python, runs on `python`, not yanked unless every
    candidate is (an exact `get` may ask for a yanked release). With `need_hash` (an index, not
    a folder) its link must carry a sha256. RackerError naming the release otherwise."""
    mine = [f for f in files if f.version == version]
    wheels = [f for f in mine if f.is_wheel and _runs_on(Release(version, requires_python=
                                                                  f.requires_python), python)
              and any(_runs_pure(t, python) for t in parse_wheel_filename(f.filename)[3])]
    if not wheels:
        have = ", ".join(f.filename for f in mine) or "no files"
        raise RackerError(
            f"racker {version} has no wheel for Python {python or '3'} on {index} ({have})",
            hint="racker installs wheels only: building a source archive would run its setup.py "
                 "as root; publish the wheel (python3 -m pip wheel --no-deps .) on the index")
    wheels.sort(key=lambda f: (not f.yanked, parse_wheel_filename(f.filename)[2], f.filename))
    best = wheels[-1]
    if need_hash and best.sha256 is None:
        raise RackerError(
            f"the index publishes no sha256 for {best.filename} (racker {version}) on {index}",
            hint="racker installs only files it can verify: the index's link must end in "
                 "#sha256=<hash of the file> (PEP 503); nothing was installed")
    return best


def _runs_on(rel: Release, python: Version | None) -> bool:
    if rel.requires_python is None or python is None:
        return True
    try:
        return SpecifierSet(rel.requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True  # a broken index entry must not hide a release; pip decides at install


def format_versions(versions: Sequence[Version], limit: int = 20) -> str:
    """The newest `limit` versions, newest first, for messages."""
    shown = sorted(versions, reverse=True)[:limit]
    text = ", ".join(str(v) for v in shown)
    more = len(versions) - len(shown)
    return text + (f" (and {more} older)" if more > 0 else "") if shown else "none"


def redact_url(text: str) -> str:
    """`text` (a URL or a line mentioning URLs) without user names, passwords or tokens."""
    # NOTE: parsed by racker.core.redact: a regex here let passwords with '/' or '@' and query
    # tokens through (issue 16, item 10).
    return redact.redact_url(text)


def select(mode: Mode, running: Version | None, releases: Sequence[Release], *,
           wanted: str | None = None, allow_pre: bool = False, python: Version | None = None,
           index: str = "the package index") -> Selection:
    """Choose the release to install; raises RackerError for what must be refused.

    `running` is the installed version (None when none is recorded), `releases` what the index
    offers, `wanted` the VERSION of `racker get`, `python` the target interpreter's version
    (releases whose Requires-Python excludes it are left out), `index` names the index in
    messages.
    """
    usable = [r for r in releases if _runs_on(r, python)]
    if mode is Mode.GET:
        return _select_get(running, usable, releases, wanted, allow_pre, index)
    candidates = [r.version for r in usable if not r.yanked and r.wheel
                  and (allow_pre or not r.version.is_prerelease
                       or (running is not None and running.is_prerelease
                           and r.version.base_version == running.base_version
                           and r.version > running))]
    if mode is Mode.UPDATE and running is not None:
        candidates = [v for v in candidates if series(v) == series(running)]
    if not candidates:
        where = (f"of series {series_text(running)} " if mode is Mode.UPDATE and running
                 else "")
        offered = [r.version for r in releases]
        raise RackerError(
            f"no release {where}of racker found on {index}",
            hint=(f"the index offers: {format_versions(offered)}" if offered
                  else "check the configured package index (RACKER_PACKAGE_INDEX)")
            + ("; 'racker upgrade' moves to a newer series"
               if mode is Mode.UPDATE and any(running is not None and v > running
                                             for v in offered) else ""))
    newest = max(candidates)
    if running is None:
        return Selection(newest, f"Install racker {newest} (the newest release)")
    if newest <= running:
        scope = (f"the newest release of series {series_text(running)}"
                 if mode is Mode.UPDATE else "the newest release")
        if newest == running:
            return Selection(None, f"racker {running} is already {scope}; nothing to do")
        return Selection(None, f"racker {running} is newer than {scope} on {index} "
                               f"({newest}); nothing to do (use 'racker get {newest}' to go "
                               "back to it)")
    return Selection(newest, f"{mode.value.capitalize()} racker {running} → {newest}",
                     leaves_series=series(newest) != series(running))


def _select_get(running: Version | None, usable: Sequence[Release],
                offered: Sequence[Release], wanted: str | None, allow_pre: bool,
                index: str) -> Selection:
    if wanted is None:
        raise InputError("'racker get' needs the VERSION to install",
                         hint="e.g. 'racker get 0.3.1', or 'racker get 0.3' for the newest 0.3.x")
    spec = parse_version(wanted, flag="VERSION")
    is_series = len(wanted.strip().removeprefix("v").split(".")) == 2 and not (
        spec.is_prerelease or spec.is_postrelease or spec.local)
    if is_series:
        pool = [r.version for r in usable if not r.yanked and series(r.version) == series(spec)
                and r.wheel and (allow_pre or not r.version.is_prerelease)]
    else:
        # NOTE: an exact request may name a yanked or pre-release version on purpose
        # (going back to what ran before): PEP 592 lets `==` pins install yanked files.
        pool = [r.version for r in usable if r.version == spec]
        if pool and not any(r.wheel for r in usable if r.version == spec):
            raise RackerError(f"racker {spec} is on {index} only as a source archive",
                              hint="racker installs wheels only: building a source archive "
                                   "would run its setup.py as root; publish the wheel of "
                                   f"{spec} on the index")
    if not pool:
        what = f"series {series_text(spec)}" if is_series else f"version {spec}"
        available = [r.version for r in offered]
        raise InputError(f"racker {what} was not found on {index}",
                         where=Where(flag="VERSION"),
                         hint=f"available versions: {format_versions(available)}")
    target = max(pool)
    if running is not None and target == running:
        return Selection(None, f"racker {running} is already installed; nothing to do")
    downgrade = running is not None and target < running
    verb = "Downgrade" if downgrade else "Get"
    return Selection(target, f"{verb} racker {running or 'unknown'} → {target}",
                     leaves_series=running is None or series(target) != series(running),
                     downgrade=downgrade)
