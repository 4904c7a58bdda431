"""Build the final Ignition config of every node of the largest rack (62 nodes) and time it.

The configuration folders are rendered once (`racker bootstrap -render-only`, both provision
types); then each run reads every node's snippets from the folder, translates and merges them
(`racker ignition NODE_NAME` for all nodes) and serialises the JSON. The median is reported.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.samplerack import write_sample_rack

from bench._common import result_line, spread
from racker.adapters.fs.node_ignition import find_config_folder, node_ignition
from racker.app.configuration.create import configure
from racker.core.render import config_folder
from racker.model import Options, Provision
from racker.paths import Paths

NODES = 62
RUNS = 7


def one_run(paths: Paths, provision: Provision) -> tuple[float, int]:
    """Seconds to build every node's Ignition JSON from the folder, and the bytes produced."""
    start = time.perf_counter()
    folder = find_config_folder(config_folder(paths, provision), paths)
    size = sum(len(node_ignition(folder, name, paths).to_json()) for name in folder.snippets)
    assert len(folder.snippets) == NODES
    return time.perf_counter() - start, size


def main() -> int:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="racker-bench-ign-") as tmp:
        for provision in (Provision.FLATCAR, Provision.LOKOMOTIVE):
            paths = write_sample_rack(Path(tmp) / provision.value, NODES)
            (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
            paths.ssh_public_key.write_text("ssh-ed25519 AAAAC3Nza bench@mgmt\n")
            configure(paths, Options(provision=provision, num_controllers=3), render_only=True)
            runs = [one_run(paths, provision) for _ in range(RUNS)]
            median, text = spread([t for t, _ in runs])
            figures[provision.value] = median
            print(f"{provision.value}: {NODES} nodes, {runs[0][1]} bytes of Ignition JSON; "
                  f"{text} ({median / NODES * 1000:.2f} ms per node at the median)")
    print(result_line(nodes=NODES, flatcar_s=figures["flatcar"],
                      lokomotive_s=figures["lokomotive"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
