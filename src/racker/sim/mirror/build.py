"""A Flatcar-layout release mirror for the simulator, signed with a test key made once.

`<root>/<channel>/amd64-usr/<version>/{version.txt, flatcar_production_pxe.vmlinuz, …}` plus a
detached `.sig` for every file, and `current` → `<version>`, as the Flatcar release server lays
it out. Racker is pointed at it through its ordinary base-URL and signing-key settings, so its
real download-and-verify path runs.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from racker.adapters.assets import stop_gpg_agent
from racker.errors import RackerError

KEY_UID = "racker-sim test signing key <sim@racker.invalid>"


@dataclass(frozen=True)
class SigningKey:
    home: Path
    """GnuPG home holding the secret key."""
    public_key: Path
    fingerprint: str


def _gpg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--no-tty", "--quiet", *args],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RackerError(f"gpg {args[0]} failed: {r.stderr.strip()[-300:]}")
    return r


def sim_signing_key(cache_dir: Path) -> SigningKey:
    """The simulator's signing key, generated on first use and kept in `cache_dir`."""
    home = cache_dir / "gnupg"
    public = cache_dir / "test-signing-key.asc"
    if not public.exists():
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        try:
            _gpg(home, "--passphrase", "", "--quick-gen-key", KEY_UID, "ed25519", "sign",
                 "never")
            exported = _gpg(home, "--armor", "--export", KEY_UID).stdout
        finally:
            stop_gpg_agent(home)
        tmp = public.with_suffix(".tmp")
        tmp.write_text(exported)
        os.replace(tmp, public)
    colons = _gpg(home, "--list-keys", "--with-colons", KEY_UID).stdout
    fpr = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))
    return SigningKey(home, public, fpr)


def build_release(
    root: Path, key: SigningKey, *, channel: str, version: str, contents: dict[str, bytes]
) -> Path:
    """Write one release (files + signatures + version.txt) and point `current` at it."""
    board = root / channel / "amd64-usr"
    rel = board / version
    rel.mkdir(parents=True, exist_ok=True)
    all_files = {"version.txt": f"FLATCAR_VERSION={version}\nFLATCAR_BUILD={version}\n".encode(),
                 **contents}
    try:
        for name, data in all_files.items():
            (rel / name).write_bytes(data)
            sig = rel / f"{name}.sig"
            sig.unlink(missing_ok=True)
            _gpg(key.home, "--local-user", key.fingerprint, "--detach-sign",
                 "--output", str(sig), str(rel / name))
    finally:
        stop_gpg_agent(key.home)
    current = board / "current"
    tmp = board / ".current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    os.replace(tmp, current)
    return rel


IMAGE_NAMES = ("flatcar_production_pxe.vmlinuz", "flatcar_production_pxe_image.cpio.gz",
               "flatcar_production_image.bin.bz2")
SIM_VERSION = "9999.0.0"


def sim_release(cache_dir: Path, root: Path, contents: dict[str, bytes] | None = None
                ) -> tuple[Path, SigningKey]:
    """The simulator's stable release (lite nodes only need small stand-in images).

    Returns the release folder and the signing key.
    """
    key = sim_signing_key(cache_dir)
    files = contents or {n: n.encode() * 200 for n in IMAGE_NAMES}
    return build_release(root, key, channel="stable", version=SIM_VERSION,
                         contents=files), key
