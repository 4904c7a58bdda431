"""The simulator's Flatcar release mirror, served over HTTP inside the rack.

`racker-sim create` lays out a signed release tree in the rack's folder and serves it from the
management node's namespace on 127.0.0.1:8099 (loopback of that namespace only); `racker-sim
exec` points racker at it with its ordinary settings (`RACKER_FLATCAR_BASE_URL`,
`RACKER_FLATCAR_KEY`), so racker's real download-and-verify path runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.sim.mirror.build import sim_release

PORT = 8099
ENV_FILE = "mirror.env.json"


def cache_dir() -> Path:
    """Where the test signing key is kept across racks (`RACKER_SIM_CACHE`)."""
    default = Path(os.environ.get("HOME", "/root")) / ".cache" / "racker-sim"
    return Path(os.environ.get("RACKER_SIM_CACHE", str(default)))


def start(rack_root: Path, mgmt_ns: str, contents: dict[str, bytes] | None = None) -> None:
    """Build the release tree and start its HTTP server in `mgmt_ns` (detached)."""
    root = rack_root / "mirror"
    _, key = sim_release(cache_dir(), root, contents)
    log = (rack_root / "mirror.log").open("wb")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", mgmt_ns, sys.executable, "-m", "http.server", "--bind",
         "127.0.0.1", "--directory", str(root), str(PORT)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    write_atomic(rack_root / "mirror.pid", f"{proc.pid}\n")
    write_atomic(rack_root / ENV_FILE, json.dumps({
        "RACKER_FLATCAR_BASE_URL": f"http://127.0.0.1:{PORT}/stable/amd64-usr",
        "RACKER_FLATCAR_KEY": str(key.public_key),
    }) + "\n")


def exec_env(rack_root: Path) -> dict[str, str]:
    """The settings that point racker at the rack's mirror (none before `start`)."""
    try:
        data = json.loads((rack_root / ENV_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()}
