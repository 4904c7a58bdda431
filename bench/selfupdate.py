"""How long `racker update` spends choosing a release on a large index page, and how exposed
the installed racker-serve.service is by `systemd-analyze security --offline` (lower is better).

Prints figures; last line `RESULT k=v ...`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from packaging.version import Version

from bench._common import result_line, timed
from racker import DISTRIBUTION
from racker.app.install import Layout, install
from racker.core.releases import Mode, parse_simple_index, select

FILES = 3000  # PyPI pages of long-lived projects hold a few thousand files


def _page() -> str:
    links = []
    for i in range(FILES // 2):
        v = f"{i // 100}.{(i // 10) % 10}.{i % 10}"
        whl = f"racker_baremetal-{v}-py3-none-any.whl"
        links.append(f'<a href="../../f/{whl}#sha256={"0" * 64}" '
                     f'data-requires-python="&gt;=3.11">{whl}</a><br/>')
        links.append(f'<a href="../../f/racker_baremetal-{v}.tar.gz#sha256={"0" * 64}">'
                     f'racker_baremetal-{v}.tar.gz</a><br/>')
    return "<!DOCTYPE html><html><body>" + "\n".join(links) + "</body></html>"


def main() -> None:
    page = _page()
    rounds = 5
    parse_s = timed(lambda: [parse_simple_index(page, DISTRIBUTION)
                             for _ in range(rounds)]) / rounds
    releases = parse_simple_index(page, DISTRIBUTION)
    select_s = timed(lambda: [select(Mode.UPDATE, Version("7.3.1"), releases,
                                     python=Version("3.11.2")) for _ in range(rounds)]) / rounds
    print(f"index page: {FILES} files, {len(releases)} releases, {len(page) // 1024} KiB")
    print(f"parse: {parse_s * 1000:.1f} ms, select (update): {select_s * 1000:.1f} ms")

    exposure = "n/a"
    analyze = shutil.which("systemd-analyze")
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(venv=Path(sys.prefix), state_dir=Path("/opt/racker-state"),
                        version_file=Path("/opt/racker/RACKER_VERSION"), root=Path(tmp))
        install(layout, "0.0.0")
        if analyze:
            proc = subprocess.run([analyze, "security", "--offline=yes",
                                   str(Path(tmp) / "etc/systemd/system/racker-serve.service")],
                                  capture_output=True, text=True, timeout=60, check=False)
            m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
            exposure = m.group(1) if m else "n/a"
    print(f"racker-serve.service exposure (systemd-analyze security, 0 best .. 10 worst): "
          f"{exposure}")
    print(result_line(index_files=FILES, parse_ms=parse_s * 1000, select_ms=select_s * 1000,
                      unit_exposure=exposure))


if __name__ == "__main__":
    main()
