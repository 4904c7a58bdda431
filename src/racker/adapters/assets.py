"""Flatcar release assets: download (or copy), verify against the image signing key, install.

Layout under the assets dir, as the reference cached it and as `flatcar-install -b` expects:
`flatcar/<VERSION>/{version.txt, flatcar_production_pxe.vmlinuz, …, *.sig}` and
`flatcar/current` → `<VERSION>`. A version is installed whole or not at all: files land in a
partial folder, every signature is checked, then one rename and one symlink swap publish it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Protocol

import httpx

from racker.errors import RackerError, Where

IMAGE_FILES = (
    "flatcar_production_pxe.vmlinuz",
    "flatcar_production_pxe_image.cpio.gz",
    "flatcar_production_image.bin.bz2",
)
VERSION_FILE = "version.txt"
FLATCAR_KEY_FINGERPRINT = "F88CFEDEFF29A5B4D9523864E25D9AED0593B34A"
COMPLETE_MARKER = ".complete"


class AssetError(RackerError):
    """Assets could not be fetched or did not verify."""


def bundled_key() -> Path:
    """The Flatcar image signing public key shipped with racker."""
    return Path(str(files("racker") / "data" / "flatcar-image-signing-key.asc"))


def parse_version_txt(text: str) -> dict[str, str]:
    """`KEY=value` lines of version.txt."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key:
            out[key] = value.strip()
    return out


class Source(Protocol):
    """Where release files come from: the release server, a mirror, or a local folder."""

    def describe(self, version: str, name: str) -> str: ...

    def fetch(self, version: str, name: str, dest: Path) -> None: ...


@functools.cache
def _client(timeout: float) -> httpx.Client:
    """One client for every download of the process. NOTE: a client per download built a TLS
    context each time (about 17 ms of CPU for the system's CA bundle), seven per bootstrap."""
    return httpx.Client(timeout=timeout, follow_redirects=True)


@dataclass
class HttpSource:
    """A release server or mirror laid out as `<base>/<version>/<file>`."""

    base_url: str
    timeout: float = 30.0
    retries: int = 3

    def describe(self, version: str, name: str) -> str:
        return f"{self.base_url}/{version}/{name}"

    def fetch(self, version: str, name: str, dest: Path) -> None:
        url = self.describe(version, name)
        last: Exception | None = None
        for _ in range(self.retries):
            try:
                with _client(self.timeout).stream("GET", url) as r:
                    if r.status_code == 404:
                        raise AssetError(f"{url} does not exist",
                                         hint="check the channel and version (or the mirror URL)")
                    r.raise_for_status()
                    with dest.open("wb") as f:
                        for chunk in r.iter_bytes(1 << 20):
                            f.write(chunk)
                return
            except httpx.HTTPError as e:
                last = e
        raise AssetError(f"cannot download {url}: {last}",
                         hint="check the network of the management node, or use --assets-from DIR")


@dataclass
class DirSource:
    """A local folder holding the release files (for racks without internet access)."""

    root: Path

    def _path(self, version: str, name: str) -> Path:
        nested = self.root / version / name
        return nested if nested.exists() else self.root / name

    def describe(self, version: str, name: str) -> str:
        return str(self._path(version, name))

    def fetch(self, version: str, name: str, dest: Path) -> None:
        src = self._path(version, name)
        if not src.is_file():
            raise AssetError(f"{name} is missing", where=Where(file=str(src)),
                             hint="the folder needs the Flatcar release files and their .sig files")
        shutil.copyfile(src, dest)


class Verifier:
    """Checks detached signatures with gpg against one key, in a keyring of its own."""

    def __init__(self, key_file: Path, fingerprint: str | None = FLATCAR_KEY_FINGERPRINT):
        self.key_file = key_file
        self._home = Path(tempfile.mkdtemp(prefix="racker-gpg-"))
        try:
            self.fingerprint = self._load(key_file, fingerprint)
        except BaseException:
            self.close()
            raise

    def _load(self, key_file: Path, fingerprint: str | None) -> str:
        os.chmod(self._home, 0o700)
        imported = self._gpg("--import", str(key_file))
        if imported.returncode != 0:
            raise AssetError("cannot import the signing key", where=Where(file=str(key_file)),
                             hint=imported.stderr.strip()[-300:])
        listing = self._gpg("--list-keys", "--with-colons").stdout
        primaries = [line.split(":")[9] for line in _after_pub(listing)]
        if not primaries:
            raise AssetError("the file holds no public key", where=Where(file=str(key_file)))
        if fingerprint is not None and fingerprint not in primaries:
            raise AssetError(f"the key is not {fingerprint}", where=Where(file=str(key_file)),
                             hint="use the Flatcar image signing key or pass its fingerprint")
        return fingerprint or primaries[0]

    def _gpg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["gpg", "--homedir", str(self._home), "--batch", "--no-tty", "--quiet", *args],
            capture_output=True, text=True, check=False,
        )

    def verify(self, data: Path, sig: Path, shown_as: str) -> None:
        """Raise AssetError unless `sig` is a good signature of `data` by the key."""
        r = self._gpg("--status-fd", "1", "--verify", str(sig), str(data))
        for line in r.stdout.splitlines():
            parts = line.split()
            # VALIDSIG <signing fpr> … <primary fpr>: a (sub)key of the trusted primary signed it
            if parts[:2] == ["[GNUPG:]", "VALIDSIG"] and parts[-1] == self.fingerprint:
                return
        raise AssetError(f"bad or missing signature for {shown_as}",
                         hint="the download may be corrupt or tampered with; it was not installed")

    def close(self) -> None:
        stop_gpg_agent(self._home)
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_gpg_agent(home: Path) -> None:
    """Stop the gpg-agent that gpg started for `home` (it outlives gpg and the folder)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"],
                       capture_output=True, timeout=10, check=False)


def _after_pub(colons: str) -> list[str]:
    """The `fpr` lines that directly follow `pub` lines (primary key fingerprints)."""
    lines = colons.splitlines()
    return [b for a, b in itertools.pairwise(lines)
            if a.startswith("pub:") and b.startswith("fpr:")]


@dataclass(frozen=True)
class Installed:
    version: str
    path: Path
    fetched: bool
    """False when that version was already installed and nothing was downloaded."""


Progress = Callable[[str], None]


def install_flatcar(assets_dir: Path, source: Source, *, version: str = "current",
                    key_file: Path | None = None,
                    fingerprint: str | None = FLATCAR_KEY_FINGERPRINT,
                    progress: Progress = lambda _msg: None) -> Installed:
    """Make `<assets>/flatcar/<V>` hold verified release files and point `current` at it.
    A filesystem that is full or read-only is an AssetError naming the path; the partial
    download is removed and the assets published before stay as they were."""
    try:
        return _install_flatcar(assets_dir, source, version=version, key_file=key_file,
                                fingerprint=fingerprint, progress=progress)
    except OSError as e:
        where = e.filename or assets_dir
        raise AssetError(f"cannot write the Flatcar assets: {e.strerror or e}",
                         where=Where(file=str(where)),
                         hint="free space on the state folder's filesystem (RACKER_STATE_DIR) "
                              "or make it writable, then run the command again") from None


def _install_flatcar(
    assets_dir: Path,
    source: Source,
    *,
    version: str = "current",
    key_file: Path | None = None,
    fingerprint: str | None = FLATCAR_KEY_FINGERPRINT,
    progress: Progress = lambda _msg: None,
) -> Installed:
    root = assets_dir / "flatcar"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    try:
        with Verifier(key_file or bundled_key(), fingerprint) as verifier:
            source.fetch(version, VERSION_FILE, work / VERSION_FILE)
            info = parse_version_txt((work / VERSION_FILE).read_text(errors="replace"))
            resolved = info.get("FLATCAR_VERSION")
            if not resolved or "/" in resolved or resolved.startswith("."):
                raise AssetError("version.txt has no usable FLATCAR_VERSION",
                                 where=Where(file=source.describe(version, VERSION_FILE)))
            if version == "current":
                _refuse_rollback(root, resolved, source.describe(version, VERSION_FILE))
            final = root / resolved
            if (final / COMPLETE_MARKER).exists():
                _link_current(root, resolved)
                progress(f"Flatcar {resolved} is already installed")
                return Installed(resolved, final, fetched=False)
            for name in IMAGE_FILES:
                progress(f"fetching {name}")
                source.fetch(version, name, work / name)
                source.fetch(version, name + ".sig", work / (name + ".sig"))
                verifier.verify(work / name, work / (name + ".sig"),
                                source.describe(version, name))
            (work / COMPLETE_MARKER).write_text(resolved + "\n")
            os.chmod(work, 0o755)
            if final.exists():
                shutil.rmtree(final)  # an incomplete earlier attempt
            os.rename(work, final)
        _link_current(root, resolved)
        progress(f"Flatcar {resolved} installed")
        return Installed(resolved, final, fetched=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def release_number(version: str) -> tuple[int, ...] | None:
    """`3510.2.6` → (3510, 2, 6); None for anything that is not a release number."""
    if re.fullmatch(r"[0-9]+(\.[0-9]+)*", version) is None:
        return None
    return tuple(int(part) for part in version.split("."))


def _refuse_rollback(root: Path, offered: str, shown_as: str) -> None:
    """AssetError when the source's `current` is older than the release racker serves now.

    NOTE: version.txt is not signed, and every old release is validly signed: a hostile or
    stale mirror could otherwise roll the nodes back to a release with known holes. Going back
    on purpose takes a pinned version.
    """
    current = root / "current"
    if not current.is_symlink():
        return
    cached = os.readlink(current)
    if not (root / cached / COMPLETE_MARKER).exists():
        return
    new, old = release_number(offered), release_number(cached)
    if old is None:
        return
    if new is None or new < old:
        raise AssetError(
            f"the source's current Flatcar release is {offered}, older than {cached} which "
            "racker serves now", where=Where(file=shown_as),
            hint="a mirror may not take the nodes back to an older release; to go back on "
                 f"purpose, pin it: RACKER_FLATCAR_VERSION={offered}")


def _link_current(root: Path, version: str) -> None:
    """Point `current` at `version` with one rename, so readers never see it missing."""
    tmp = root / f".current-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    os.replace(tmp, root / "current")
