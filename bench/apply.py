"""`racker apply` planning on a 62-node rack: re-render, every node's Ignition twice (as it
is now, and as racker rendered it), flag files and applied hashes; and `racker node exclude`
plus `include` of one node. Prints figures; the last line is `RESULT …`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.samplerack import write_sample_rack

from bench._common import result_line, timed
from racker.app import nodeops
from racker.app.apply import plan_apply
from racker.app.configuration.create import configure
from racker.model import Options, Provision

NODES = 62
SEVENTH = "52:54:00:00:00:07"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="racker-bench-apply-") as tmp:
        paths = write_sample_rack(Path(tmp), NODES)
        (paths.home / ".ssh").mkdir(parents=True, exist_ok=True)
        paths.ssh_public_key.write_text("ssh-ed25519 AAAAbench bench@racker\n")
        configure(paths, Options(provision=Provision.FLATCAR), render_only=True)
        folder = paths.flatcar_dir
        plan_s = min(timed(lambda: plan_apply(paths, folder)) for _ in range(3))
        print(f"plan_apply, {NODES} nodes: {plan_s:.3f} s (best of 3)")
        exclude_s = timed(lambda: nodeops.exclude(paths, folder, SEVENTH))
        include_s = timed(lambda: nodeops.include(paths, folder, SEVENTH))
        print(f"node exclude: {exclude_s:.3f} s, node include: {include_s:.3f} s")
        print(result_line(nodes=NODES, plan_s=plan_s, exclude_s=exclude_s,
                          include_s=include_s))


if __name__ == "__main__":
    main()
