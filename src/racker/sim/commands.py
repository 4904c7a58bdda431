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
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from racker.core.suggest import did_you_mean
from racker.errors import InputError, Where
from racker.sim import rack, state
from racker.sim.daemon import BMC_SLOW_DELAY
from racker.sim.mirror import serve as mirrorserve
from racker.sim.net import forward
from racker.sim.net.netns import Runner
from racker.sim.net.topology import check_rack_name
from racker.sim.nodes.testos import ensure_testos, mirror_contents

FAULTS: dict[str, str] = {
    "no-pxe": "the node's firmware does not network-boot: it never asks for a DHCP lease "
              "(racker fails it at stage dhcp)",
    "dhcp-lost": "every DHCP answer to the node is lost on the way (stage dhcp)",
    "installer-fails": "flatcar-install fails; the installer reports install-failed with its "
                       "journal and stays up (stage install, failed at once)",
    "ignition-fails": "the installed system stops at its first boot with an Ignition error "
                      "on its console (emergency shell; stage boot)",
    "no-boot-report": "the installed node boots but its booted report is lost (stage boot; "
                      "lite nodes only)",
    "bmc-down": "the BMC answers no IPMI packet (stage bmc; status shows it unreachable)",
    "bmc-slow": f"the BMC answers every packet {BMC_SLOW_DELAY:g} s late (timeouts, retries)",
    "bmc-bad-credentials": "the BMC rejects racker's user and password (stage bmc)",
    "bmc-no-session": "the BMC answers but opens no session (stage bmc)",
    "boot-flag-lost": "the BMC forgets its boot device at every power cycle, as some firmware "
                      "does (racker sets disk boot again on each boot report)",
    "bmc-lossy": "the BMC drops about 30 % of the datagrams it receives (racker's retries)",
    "bmc-hangs-at-install": "the BMC stops answering IPMI when the node's installer reports "
                            "installed (lite nodes; stage install fails and says so)",
    "bmc-cert-changed": "the BMC's Redfish side presents a new certificate (stage bmc: the pin "
                        "check, until 'racker bmc trust-cert NODE'; --clear keeps it)",
    "redfish-settings-only": "the Redfish BMC takes a boot override only through "
                             "@Redfish.Settings (racker uses the Settings URI)",
    "net-lossy": "5 % of the node's DHCP and TFTP datagrams are lost on its link (lite nodes; "
                 "TCP hides loss from HTTP)",
}
"""Every fault kind of `racker-sim fault` with what it does (the help and the docs list them)."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # NOTE: no abbreviations: `--generat 3` must be a mistake that is named, not a rack
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """argparse's message as an InputError, with a "did you mean" for a mistyped flag and
        what each missing positional argument is."""
        hint = f"see '{self.prog} -h'"
        if message.startswith("unrecognized arguments: "):
            word = message.split(": ", 1)[1].split()[0]
            guess = did_you_mean(word, [o for a in self._actions for o in a.option_strings])
            if guess:
                hint = f"{guess} ({hint})"
        elif message.startswith("the following arguments are required: "):
            names = message.split(": ", 1)[1].split(", ")
            told = [f"{a.metavar or a.dest}: {a.help}" for a in self._actions
                    if not a.option_strings and (a.metavar or a.dest) in names and a.help]
            hint = "; ".join([*told, hint])
        raise InputError(message, hint=hint)


_NAME_HELP = "the rack (default: the only rack of RACKER_SIM_DIR, else 'rack')"
_NODE_HELP = "the server: node1, node2, … (as 'racker-sim status' lists them) or one of its MACs"


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
                   help="generate a nodes.csv of N servers plus the management node")
    p.add_argument("--types", default="", help="node types for --generate, e.g. a,b,c")
    p.add_argument("--nodes", choices=("lite", "qemu"), default="lite",
                   help="node hosts: lite processes (default) or QEMU VMs booting a test OS")
    p.add_argument("--firmware", choices=("uefi", "bios"), default="uefi",
                   help="QEMU nodes' firmware: uefi (OVMF, UEFI PXE to ipxe.efi; default) or "
                        "bios (SeaBIOS with the legacy iPXE ROM)")
    p.add_argument("--name", help=f"rack name (default {state.DEFAULT_RACK})")
    p.add_argument("--disk-dir", type=Path,
                   help="folder for the QEMU nodes' virtual disks (default: the rack's state)")
    p.add_argument("--mgmt-ip", help="address/prefix to put on the management node's "
                                     "secondary NIC (default: none, racker sets it)")
    p.add_argument("--miscabled", action="append", default=[], metavar="NODE",
                   help="swap the cables of this server's two NICs (its name, e.g. node3, or "
                        "its primary MAC; repeatable): it PXE boots from its secondary MAC, "
                        "for racker's cabling check to find")
    p.add_argument("--no-inventory", action="store_true",
                   help="give the management node the credentials but no nodes.csv (for "
                        "'racker factory discover'; the rack's own is kept as sim-nodes.csv)")
    p.add_argument("--replace", action="store_true",
                   help="destroy a rack of the same name first (without it, creating over a "
                        "running rack is refused; rack names are global on a machine)")
    p.add_argument("--bmc", choices=state.BMC_CHOICES, default="ipmi",
                   help="what the BMCs speak: ipmi (default), redfish (HTTPS on port 443 of "
                        "the BMC's address, IPMI over LAN off), both, or mixed (odd nodes "
                        "Redfish-only, even ones IPMI-only)")
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
    topo = state.with_bmc_protocols(
        dataclasses.replace(topo, node_kind=a.nodes, disk_dir=disk_dir, firmware=a.firmware),
        a.bmc)
    topo = state.miscable(topo, a.miscabled)
    _require_root()
    mirror_files: dict[str, bytes] | None = None
    if a.nodes == "qemu":
        # Built once and cached; here so that a failure shows before anything is built. QEMU
        # nodes boot it from the rack's mirror in place of Flatcar's PXE kernel and initrd.
        mirror_files = mirror_contents(ensure_testos())
    rd = state.rack_dir(name)
    if not a.replace:
        rack.check_free(rd, name)
    started = time.monotonic()
    rack.create(rd, topo, csv_text, Runner(), a.mgmt_ip, inventory=not a.no_inventory)
    mirrorserve.start(rd.root, topo.mgmt_ns, mirror_files)
    print(f"created rack {name}: {len(topo.servers)} nodes, management namespace "
          f"{topo.mgmt_ns}, state in {rd.root} ({time.monotonic() - started:.1f} s)")
    print(f"  run racker there: racker-sim exec {name} -- racker ...")
    return 0


def cmd_destroy(argv: Sequence[str]) -> int:
    """`racker-sim destroy [NAME]`"""
    p = _Parser(prog="racker-sim destroy", description="Remove a simulated rack completely.")
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="the rack (default: the only rack of RACKER_SIM_DIR)")
    a = p.parse_args(list(argv))
    _require_root()
    name = _rack_name(a.name)
    rd = state.rack_dir(name)
    if not rack.exists(rd, name):
        raise InputError(f"there is no rack {name} (in RACKER_SIM_DIR {rd.root.parent}, nor "
                         "its network namespaces)",
                         hint=f"the racks of this RACKER_SIM_DIR are the folders of "
                              f"{rd.root.parent}; rack names are global on a machine")
    n = rack.destroy(rd, name, Runner())
    print(f"destroyed rack {name} ({n} namespaces removed)")
    return 0


def cmd_status(argv: Sequence[str]) -> int:
    """`racker-sim status [--name NAME] [--json]`"""
    p = _Parser(prog="racker-sim status", description="Show a simulated rack.")
    p.add_argument("--name", help=_NAME_HELP)
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
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="the rack (default: the only rack of RACKER_SIM_DIR)")
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
    env["PATH"] = state.path_with_first(env.get("PATH", ""), own_bin_dir())
    os.execvpe("ip", ["ip", "netns", "exec", t.mgmt_ns, *cmd], env)
    return 127  # not reached


def own_bin_dir() -> str:
    """The folder racker-sim's own console scripts (racker, ipmi, racker-sim) were installed
    in: a virtual environment's `bin` works without being activated."""
    # NOTE: not dirname(sys.argv[0]): under `sudo` or a symlink that can be anywhere, while the
    # scripts folder is where pip put racker's entry points beside racker-sim's.
    return sysconfig.get_path("scripts")


def cmd_fault(argv: Sequence[str]) -> int:
    """`racker-sim fault NODE KIND [--clear]`"""
    p = _Parser(prog="racker-sim fault", description="Inject or clear a fault.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="fault kinds:\n" + "\n".join(f"  {k:20} {v}" for k, v in FAULTS.items()))
    p.add_argument("node", metavar="NODE", help=_NODE_HELP)
    p.add_argument("kind", metavar="KIND", choices=list(FAULTS),
                   help="the fault (listed below)")
    p.add_argument("--clear", action="store_true", help="repair it instead")
    p.add_argument("--name", help=_NAME_HELP)
    a = p.parse_args(list(argv))
    rd = state.rack_dir(_rack_name(a.name))
    server = rack.find_server(state.load_topology(rd), a.node, rd)
    answer = rack.request(rd, {"op": "fault", "node": server.name, "kind": a.kind,
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
    p.add_argument("node", metavar="NODE", help=_NODE_HELP)
    p.add_argument("--name", help=_NAME_HELP)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    a = p.parse_args(list(argv))
    rd = state.rack_dir(_rack_name(a.name))
    server = rack.find_server(state.load_topology(rd), a.node, rd)
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
