"""Render the largest rack the /24 layout allows, for both provision types, and time it.

Each run starts from the rack's files (nodes.csv, credentials, interfaces) in a temporary
folder and does everything `racker bootstrap -render-only` does: load and check the inventory,
plan, render the configuration folder, write it, dnsmasq.conf and the hosts entries.
Goal: under 0.3 s per provision type. The median of several runs is reported.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.samplerack import write_sample_rack

from bench._common import result_line, spread
from racker.app.configuration.create import configure
from racker.model import Options, Provision, StorageProvider

NODES = 62
RUNS = 7
OPTIONS = {
    Provision.FLATCAR: Options(provision=Provision.FLATCAR),
    Provision.LOKOMOTIVE: Options(provision=Provision.LOKOMOTIVE, num_controllers=3,
                                  web_ui=True, storage_provider=StorageProvider.ROOK),
}


def one_run(provision: Provision) -> tuple[float, int]:
    """Seconds for one full render-only pipeline, and the number of files written."""
    with tempfile.TemporaryDirectory(prefix="racker-bench-") as tmp:
        paths = write_sample_rack(Path(tmp), NODES)
        start = time.perf_counter()
        result = configure(paths, OPTIONS[provision], render_only=True)
        elapsed = time.perf_counter() - start
        assert len(result.plan.nodes) == NODES
        return elapsed, len(result.files)


def main() -> int:
    figures: dict[str, float] = {}
    for provision in (Provision.FLATCAR, Provision.LOKOMOTIVE):
        runs = [one_run(provision) for _ in range(RUNS)]
        median, text = spread([t for t, _ in runs])
        figures[provision.value] = median
        print(f"{provision.value}: {NODES} nodes, {runs[0][1]} files + dnsmasq.conf + hosts; "
              f"{text} (goal < 0.3 s)")
    print(result_line(nodes=NODES, flatcar_s=figures["flatcar"],
                      lokomotive_s=figures["lokomotive"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
