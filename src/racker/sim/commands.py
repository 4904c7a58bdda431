"""The `racker-sim` subcommands create, destroy, status, exec, fault and console.

Each `cmd_*` takes the arguments after the subcommand and returns an exit code; `racker-sim`
(racker.cli.sim) lists them in its command table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from racker.errors import InputError, Where
from racker.sim import rack, state
from racker.sim.daemon import BMC_FAULTS
from racker.sim.mirror import serve as mirrorserve
from racker.sim.net import forward
from racker.sim.net.netns import Runner
from racker.sim.net.topology import check_rack_name
from racker.sim.nodes.lite import NODE_FAULTS
from racker.sim.nodes.testos import ensure_testos, mirror_contents


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message, hint=f"see '{self.prog} -h'")


def _rack_name(given: str | None) -> str:
    """The rack to act on: the given name, else the only rack there is, else `rack`."""
    if given:
        return check_rack_name(given)
    base = state.base_dir()
    racks = sorted(p.name for p in base.iterdir() if (p / "rack.json").exists()) \
        if base.is_dir() else []
    return racks[0] if len(racks) == 1 else state.DEFAULT_RACK


def _require_root() -> None:
    if os.geteuid() != 0:
        raise InputError("racker-sim needs root (it creates network namespaces)",
                         hint="run it with sudo")


def cmd_create(argv: Sequence[str]) -> int:
    """`racker-sim create NODES_CSV MGMT_MAC` or `racker-sim create --generate N`."""
    p = _Parser(prog="racker-sim create", description="Create a simulated rack.")
    p.add_argument("nodes_csv", nargs="?", help="nodes.csv of the rack")
    p.add_argument("mgmt_mac", nargs="?", help="a MAC of the management node's row")
    p.add_argument("--generate", type=int, metavar="N",
                   help="generate a nodes.csv with a management node and N nodes")
    p.add_argument("--types", default="", help="node types for --generate, e.g. a,b,c")
    p.add_argument("--nodes", choices=("lite", "qemu"), default="lite",
                   help="node hosts: lite processes (default) or QEMU VMs booting a test OS")
    p.add_argument("--name", help=f"rack name (default {state.DEFAULT_RACK})")
    p.add_argument("--disk-dir", type=Path,
                   help="folder for the QEMU nodes' virtual disks (default: the rack's state)")
    p.add_argument("--mgmt-ip", help="address/prefix to put on the management node's "
                                     "secondary NIC (default: none, racker sets it)")
    a = p.parse_args(list(argv))
    name = check_rack_name(a.name or state.DEFAULT_RACK)
    if a.generate is not None:
        if a.nodes_csv or a.mgmt_mac:
            raise InputError("give either NODES_CSV MGMT_MAC or --generate N, not both",
                             where=Where(flag="--generate"))
        types = tuple(x.strip() for x in a.types.split(",") if x.strip())
        topo = state.generate_topology(name, a.generate, types)
        csv_text = state.render_nodes_csv(topo)
    elif a.nodes_csv and a.mgmt_mac:
        topo, csv_text = rack.topology_from_csv(Path(a.nodes_csv), a.mgmt_mac, name)
    else:
        raise InputError("missing NODES_CSV MGMT_MAC (or --generate N)",
                         hint="see 'racker-sim create -h'")
    disk_dir = ""
    if a.disk_dir is not None:
        if not a.disk_dir.is_dir():
            raise InputError(f"{a.disk_dir} is not a folder", where=Where(flag="--disk-dir"))
        disk_dir = str(a.disk_dir.resolve())
    topo = dataclasses.replace(topo, node_kind=a.nodes, disk_dir=disk_dir)
    _require_root()
    mirror_files: dict[str, bytes] | None = None
    if a.nodes == "qemu":
        # Built once and cached; here so that a failure shows before anything is built. QEMU
        # nodes boot it from the rack's mirror in place of Flatcar's PXE kernel and initrd.
        mirror_files = mirror_contents(ensure_testos())
    rd = state.rack_dir(name)
    started = time.monotonic()
    rack.create(rd, topo, csv_text, Runner(), a.mgmt_ip)
    mirrorserve.start(rd.root, topo.mgmt_ns, mirror_files)
    print(f"created rack {name}: {len(topo.servers)} nodes, management namespace "
          f"{topo.mgmt_ns}, state in {rd.root} ({time.monotonic() - started:.1f} s)")
    print(f"  run racker there: racker-sim exec {name} -- racker ...")
    return 0


def cmd_destroy(argv: Sequence[str]) -> int:
    """`racker-sim destroy [NAME]`"""
    p = _Parser(prog="racker-sim destroy", description="Remove a simulated rack completely.")
    p.add_argument("name", nargs="?")
    a = p.parse_args(list(argv))
    _require_root()
    name = _rack_name(a.name)
    rd = state.rack_dir(name)
    n = rack.destroy(rd, name, Runner())
    print(f"destroyed rack {name} ({n} namespaces removed)")
    return 0


def cmd_status(argv: Sequence[str]) -> int:
    """`racker-sim status [--name NAME] [--json]`"""
    p = _Parser(prog="racker-sim status", description="Show a simulated rack.")
    p.add_argument("--name")
    p.add_argument("--json", action="store_true", help="print JSON")
    a = p.parse_args(list(argv))
    info = rack.status(state.rack_dir(_rack_name(a.name)))
    print(json.dumps(info, indent=2) if a.json else rack.format_status(info))
    return 0


def cmd_forward(argv: Sequence[str]) -> int:
    """`racker-sim forward [NAME] [--port 8081] [--listen 127.0.0.1:PORT]`"""
    p = _Parser(prog="racker-sim forward",
                description="Relay a TCP port of the host's loopback to the same port on the "
                            "simulated management node's loopback (e.g. racker's dashboard), "
                            "in the foreground until Ctrl-C.")
    p.add_argument("name", nargs="?")
    p.add_argument("--port", type=int, default=8081,
                   help="the port inside the management namespace (8081: racker's dashboard)")
    p.add_argument("--listen", default=None, metavar="ADDR:PORT",
                   help="where to listen on the host (default 127.0.0.1 and the same port)")
    a = p.parse_args(list(argv))
    _require_root()
    t = state.load_topology(state.rack_dir(_rack_name(a.name)))
    host, _, port = (a.listen or f"127.0.0.1:{a.port}").rpartition(":")
    if not port.isdigit() or not host:
        raise InputError(f"--listen must be ADDR:PORT, not {a.listen!r}", where=Where(
            flag="--listen"), hint="e.g. 127.0.0.1:8081")
    print(f"forwarding http://{host}:{port}/ to port {a.port} of {t.mgmt_ns}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forward.relay(t.mgmt_ns, a.port, host, int(port)))
    return 0


def cmd_exec(argv: Sequence[str]) -> int:
    """`racker-sim exec [NAME] -- CMD…` in the management namespace with racker's paths."""
    args = list(argv)
    if "--" not in args:
        raise InputError("missing '--' before the command",
                         hint="racker-sim exec [NAME] -- racker status")
    cut = args.index("--")
    head, cmd = args[:cut], args[cut + 1:]
    if len(head) > 1 or not cmd:
        raise InputError("usage: racker-sim exec [NAME] -- CMD [ARGS...]")
    _require_root()
    rd = state.rack_dir(_rack_name(head[0] if head else None))
    t = state.load_topology(rd)
    env = {**os.environ, **mirrorserve.exec_env(rd.root), **rd.exec_env()}
    os.execvpe("ip", ["ip", "netns", "exec", t.mgmt_ns, *cmd], env)
    return 127  # not reached


def cmd_fault(argv: Sequence[str]) -> int:
    """`racker-sim fault NODE KIND [--clear]`"""
    p = _Parser(prog="racker-sim fault", description="Inject or clear a fault.")
    p.add_argument("node")
    p.add_argument("kind", choices=NODE_FAULTS + BMC_FAULTS)
    p.add_argument("--clear", action="store_true")
    p.add_argument("--name")
    a = p.parse_args(list(argv))
    rd = state.rack_dir(_rack_name(a.name))
    rack.find_server(state.load_topology(rd), a.node)
    answer = rack.request(rd, {"op": "fault", "node": a.node, "kind": a.kind,
                               "clear": a.clear})
    if "error" in answer:
        raise rack.SimError(answer["error"], where=Where(node=a.node), hint=answer.get("hint"))
    verb = "cleared" if a.clear else "set"
    print(f"{verb} {a.kind} on {answer['node']}; active faults: "
          f"{', '.join(answer['faults']) or 'none'}")
    return 0


def cmd_console(argv: Sequence[str]) -> int:
    """`racker-sim console NODE [--follow]`: the node's timeline."""
    p = _Parser(prog="racker-sim console", description="Show a node's timeline.")
    p.add_argument("node")
    p.add_argument("--name")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    a = p.parse_args(list(argv))
    rd = state.rack_dir(_rack_name(a.name))
    server = rack.find_server(state.load_topology(rd), a.node)
    path = rd.timeline(server)
    shown = 0
    while True:
        entries = list(state.read_timeline(path))
        for e in entries[shown:]:
            print(json.dumps(e) if a.json else state.format_entry(e), flush=True)
        shown = len(entries)
        if not a.follow:
            return 0
        time.sleep(0.5)
