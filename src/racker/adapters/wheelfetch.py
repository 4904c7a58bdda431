"""Bring the chosen racker wheel into a private folder and check its sha256 before pip sees it.

`racker update` installs as root, so the file pip installs must be the file the index vouches
for: it is downloaded (or copied) into a folder only root can write to, hashed while it is
written, and compared with the `#sha256=` the index publishes for it. pip then installs that
very file, so nothing can swap it between the check and the installation.

A `--find-links` folder publishes no hashes. There the wheel is checked against a `SHA256SUMS`
file in the folder (the output of `sha256sum *.whl`) when there is one; otherwise its hash is
computed and shown, and the operator is told that it was not checked against anything.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from racker.adapters.packageindex import INDEX_TIMEOUT_S, PackageIndex
from racker.core.releases import DistFile, redact_url
from racker.errors import RackerError

SUMS_FILE = "SHA256SUMS"
DOWNLOAD_TIMEOUT_S = 300.0
_CHUNK = 1 << 16
_SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


@dataclass(frozen=True)
class Fetched:
    """The verified wheel in the private folder, and a line for the operator."""

    path: Path
    sha256: str
    note: str


def fetch_wheel(index: PackageIndex, wheel: DistFile, folder: Path,
                client: httpx.Client | None = None) -> Fetched:
    """Copy or download `wheel` into `folder` (private to this process) and verify its sha256;
    RackerError, with the file removed, when it does not match or cannot be fetched."""
    name = _safe_name(wheel.filename)
    dest = folder / name
    if index.find_links:
        digest = _copy(Path(index.location) / name, dest)
        return Fetched(dest, digest, _check_sums(Path(index.location), name, digest, dest))
    if wheel.sha256 is None:  # choose_wheel refuses these already; never install unverified
        raise RackerError(f"the index publishes no sha256 for {name}",
                          hint="nothing was installed")
    scheme = urlsplit(wheel.url).scheme
    index_scheme = urlsplit(index.location).scheme
    if scheme == "file" and index_scheme == "file":
        digest = _copy(Path(unquote(urlsplit(wheel.url).path)), dest)
    elif scheme in ("http", "https") and index_scheme in ("http", "https"):
        digest = _download(wheel.url, dest, client)
    else:
        raise RackerError(f"the index links {name} to a {scheme}:// URL",
                          hint=f"an {index_scheme}:// index must link its files over "
                               f"{index_scheme}://; nothing was installed")
    if digest != wheel.sha256:
        dest.unlink(missing_ok=True)
        raise RackerError(
            f"{name} does not match the sha256 that {index} publishes for it "
            f"(published {wheel.sha256}, downloaded file {digest})",
            hint="the file was changed after it was indexed, or the index is wrong; nothing "
                 "was installed")
    return Fetched(dest, digest, f"✓ {name}: sha256 {digest} matches the index")


def _safe_name(filename: str) -> str:
    """The wheel's file name, refused when it could leave the private folder."""
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename:
        raise RackerError(f"'{filename}' is not a wheel file name",
                          hint="check the package index; nothing was installed") from None
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise RackerError(f"refusing the file name '{filename}'", hint="check the package index")
    return filename


def _copy(source: Path, dest: Path) -> str:
    h = hashlib.sha256()
    try:
        with source.open("rb") as src, dest.open("xb") as out:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
    except OSError as err:
        dest.unlink(missing_ok=True)
        raise RackerError(f"cannot read {source}: {err.strerror}",
                          hint="check the package index folder") from None
    return h.hexdigest()


def _download(url: str, dest: Path, client: httpx.Client | None) -> str:
    h = hashlib.sha256()
    own = client is None
    # NOTE: credentials in the URL (https://user:token@…) become basic auth; httpx drops them
    # on a redirect to another host.
    http = client or httpx.Client(timeout=httpx.Timeout(DOWNLOAD_TIMEOUT_S,
                                                        connect=INDEX_TIMEOUT_S),
                                  follow_redirects=True)
    try:
        with http.stream("GET", url) as resp, dest.open("xb") as out:
            if resp.status_code != 200:
                raise RackerError(f"downloading {redact_url(url)} answered HTTP "
                                  f"{resp.status_code}", hint="check the package index")
            for chunk in resp.iter_bytes(_CHUNK):
                h.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as err:
        dest.unlink(missing_ok=True)
        raise RackerError(f"cannot download {redact_url(url)}: {type(err).__name__}: "
                          f"{redact_url(str(err))}", hint="check the network and the index"
                          ) from None
    except RackerError:
        dest.unlink(missing_ok=True)
        raise
    finally:
        if own:
            http.close()
    return h.hexdigest()


def _check_sums(folder: Path, name: str, digest: str, dest: Path) -> str:
    sums = folder / SUMS_FILE
    try:
        text = sums.read_text()
    except FileNotFoundError:
        return (f"🛈 {name}: sha256 {digest} (computed; {folder} has no {SUMS_FILE} to check "
                "it against)")
    except OSError as err:
        dest.unlink(missing_ok=True)
        raise RackerError(f"cannot read {sums}: {err.strerror}") from None
    listed = {m.group(2).strip(): m.group(1).lower()
              for line in text.splitlines() if (m := _SUMS_LINE.fullmatch(line.strip()))}
    if listed.get(name) == digest:
        return f"✓ {name}: sha256 {digest} matches {sums}"
    dest.unlink(missing_ok=True)
    if name not in listed:
        raise RackerError(f"{sums} lists no sha256 for {name}",
                          hint=f"add it ('sha256sum {name} >> {SUMS_FILE}' in the folder) or "
                               "remove the stale file; nothing was installed")
    raise RackerError(f"{name} does not match its sha256 in {sums} (listed {listed[name]}, "
                      f"file {digest})", hint="the file was changed; nothing was installed")
