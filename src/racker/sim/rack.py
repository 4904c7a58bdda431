"""Use cases of `racker-sim`: create, destroy, status, fault, exec, console of one rack."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from racker.adapters.fs import rackmeta
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.procs import running
from racker.core import discovery, inventory
from racker.core.layout import load_layout
from racker.core.macs import parse_mac
from racker.errors import InputError, RackerError, Where
from racker.sim import state
from racker.sim.net.netns import Runner, list_netns, netns_pids
from racker.sim.net.topology import (
    PREFIX,
    SimServer,
    Topology,
    create_commands,
    destroy_commands,
    rack_namespaces,
    sys_class_net,
)
from racker.sim.nodes.qemu import uefi_vars_of

DAEMON_START_TIMEOUT = 60.0


class SimError(RackerError):
    """The simulator could not do what was asked."""


def _machine_macs(text: str, mac: str) -> dict[str, str]:
    """The simulated management node's interfaces: eth0 primary, eth1 secondary MAC of the row
    that holds `mac`. Only picks the row; racker.core.inventory validates the whole file."""
    for line in text.splitlines():
        fields = [parse_mac(f) for f in line.split(",")[:3]]
        if mac in fields:
            primary, secondary = fields[0], fields[2] if len(fields) > 2 else None
            return {k: v for k, v in (("eth0", primary), ("eth1", secondary)) if v}
    return {}


def topology_from_csv(path: Path, mgmt_mac: str, rack: str) -> tuple[Topology, str]:
    """Read nodes.csv with racker's own reader and parser; the topology and the file's text."""
    mac = parse_mac(mgmt_mac)
    if mac is None:
        raise InputError(f"'{mgmt_mac}' is not a MAC address", where=Where(flag="MGMT_MAC"))
    text = rackmeta.read_nodes_csv_text(path)
    machine = _machine_macs(text, mac)
    if not machine:
        raise InputError(f"MGMT_MAC {mac} is not in {path}: no row of it has this MAC",
                         where=Where(file=str(path)),
                         hint="give a MAC of the management node's row (its primary, BMC or "
                              "secondary MAC) as MGMT_MAC")
    inv = inventory.parse_nodes_csv(text, path, machine)
    mgmt = inv.management
    if mgmt.secondary_mac is None:  # the inventory requires it; kept for the type checker
        raise InputError("the management row has no secondary MAC", where=Where(file=str(path)))
    servers = tuple(SimServer(i, n.primary_mac, n.bmc_mac, n.node_type,
                              secondary_mac=n.secondary_mac or "")
                    for i, n in enumerate(inv.nodes, start=1))
    return Topology(rack, mgmt.primary_mac, mgmt.secondary_mac, servers), text


def _prepare_files(rd: state.RackDir, t: Topology, nodes_csv: str,
                   inventory: bool = True) -> None:
    rd.root.mkdir(parents=True, exist_ok=True)
    os.chmod(rd.root, 0o700)
    write_atomic(rd.rack_json, state.topology_to_json(t))
    state.write_oem(rd, nodes_csv, inventory=inventory)
    state.write_sys_class_net(rd, t, sys_class_net(t))
    if not rd.hosts.exists():
        write_atomic(rd.hosts, "127.0.0.1\tlocalhost\n")
    for d in (rd.racker_state, rd.home, rd.leases, rd.timeline_dir):
        d.mkdir(parents=True, exist_ok=True)


def create(rd: state.RackDir, t: Topology, nodes_csv: str, runner: Runner,
           mgmt_ip: str | None = None, inventory: bool = True) -> dict[str, Any]:
    """Build the rack (after removing leftovers of the same name) and start its daemon;
    without `inventory` the management node gets no nodes.csv (for discovery)."""
    destroy(rd, t.rack, runner, keep_files=True)
    _prepare_files(rd, t, nodes_csv, inventory)
    try:
        runner.run_all(create_commands(t))
        if mgmt_ip:
            runner.run(["ip", "-n", t.mgmt_ns, "addr", "add", mgmt_ip, "dev", "eth1"])
        _start_daemon(rd)
    except BaseException:
        destroy(rd, t.rack, runner, keep_files=True)
        raise
    return request(rd, {"op": "ping"})


def _start_daemon(rd: state.RackDir) -> None:
    log = rd.log.open("ab")
    try:
        subprocess.Popen([sys.executable, "-m", "racker.sim.daemon", str(rd.root)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
    finally:
        log.close()
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(SimError):
            request(rd, {"op": "ping"}, timeout=2)
            return
        time.sleep(0.2)
    tail = rd.log.read_text(errors="replace")[-2000:] if rd.log.exists() else ""
    raise SimError("the simulator daemon did not start", hint=f"its log ends with:\n{tail}")


def request(rd: state.RackDir, req: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the rack's daemon and return its answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(rd.socket))
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        raise SimError(f"the simulator daemon of {rd.root.name} does not answer: {e}",
                       hint="is the rack created? see 'racker-sim status'") from None
    finally:
        s.close()
    try:
        answer: dict[str, Any] = json.loads(buf)
    except ValueError:
        raise SimError("the simulator daemon sent a broken answer") from None
    return answer


def _daemon_pid(rd: state.RackDir) -> int | None:
    try:
        pid = int(rd.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    # The pid file may be stale and the pid reused: only our daemon counts.
    return pid if b"racker.sim.daemon" in cmdline else None


def check_free(rd: state.RackDir, rack: str) -> None:
    """InputError when a rack called `rack` exists: its daemon runs from `rd`, or its network
    namespaces exist for a rack of another RACKER_SIM_DIR (namespace names are global)."""
    here = rd.rack_json.exists()
    hint = (f"destroy it first ('racker-sim destroy {rack}'), pick another --name, or give "
            "--replace to rebuild it")
    if here and (_daemon_pid(rd) is not None or _daemons_named(rack)):
        raise InputError(f"rack {rack} exists already and runs (state in {rd.root})",
                         where=Where(flag="--name"), hint=hint)
    if not here and (rack_namespaces(rack, list_netns()) or _daemons_named(rack)):
        raise InputError(f"a rack named {rack} exists already outside RACKER_SIM_DIR "
                         f"{rd.root.parent} (its network namespaces {PREFIX}-{rack}-*): rack "
                         "names are global on a machine", where=Where(flag="--name"),
                         hint=hint)


def exists(rd: state.RackDir, rack: str) -> bool:
    """Whether there is anything of rack `rack` to destroy: its state here, its namespaces or
    its daemon (leftovers of a crash count)."""
    return (rd.root.exists() or bool(rack_namespaces(rack, list_netns()))
            or bool(_daemons_named(rack)))


def _daemons_named(rack: str) -> list[int]:
    """Pids of simulator daemons of a rack called `rack`, whatever base dir they run from.

    Namespace names are global, so a rack name is too: this finds a daemon whose state dir
    was lost or is elsewhere (another RACKER_SIM_DIR).
    """
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"racker.sim.daemon" in args and args[-2:-1] and (
                Path(args[-2].decode(errors="replace")).name == rack):
            pids.append(int(entry.name))
    return pids


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if running(p)]
    return alive


def _kill(pids: list[int], timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        pids = _wait_gone(pids, timeout)
        if not pids:
            return


def destroy(rd: state.RackDir, rack: str, runner: Runner, keep_files: bool = False) -> int:
    """Stop the daemon and every process in the rack's namespaces, delete the namespaces.

    Returns how many namespaces were deleted. Works on leftovers of a crashed rack too.
    """
    pid = _daemon_pid(rd)
    if pid is not None:
        with contextlib.suppress(SimError):
            request(rd, {"op": "shutdown"}, timeout=5)
        if _wait_gone([pid], 15):
            _kill([pid], 5)
    others = [p for p in _daemons_named(rack) if p != pid]
    if others:
        _kill(others, 5)
    namespaces = rack_namespaces(rack, list_netns())
    stray = [p for ns in namespaces for p in netns_pids(ns)]
    if stray:
        _kill(stray, 5)
    runner.run_all(destroy_commands(rack, namespaces))
    if not keep_files and rd.root.exists():
        with contextlib.suppress(InputError):
            t = state.load_topology(rd)
            if t.disk_dir:  # disks kept outside the state dir go too, as the reference did
                for s in t.servers:
                    for f in (rd.disk(t, s), uefi_vars_of(rd.disk(t, s))):
                        with contextlib.suppress(FileNotFoundError):
                            f.unlink()
        shutil.rmtree(rd.root)
    else:
        for f in (rd.pid_file, rd.socket):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        if rd.leases.exists():
            shutil.rmtree(rd.leases)
    return len(namespaces)


def status(rd: state.RackDir) -> dict[str, Any]:
    """Namespaces present, and the daemon's view of every server (when it runs)."""
    t = state.load_topology(rd)
    present = set(list_netns())
    info: dict[str, Any] = {"rack": t.rack, "dir": str(rd.root),
                            "namespaces": {ns: ns in present for ns in t.namespaces}}
    try:
        info.update(request(rd, {"op": "status"}))
        info["daemon"] = "running"
    except SimError:
        info["daemon"] = "not running"
        info["servers"] = [{"node": s.name, "primary_mac": s.primary_mac,
                            "bmc_mac": s.bmc_mac, "bmc": s.bmc_protocol} for s in t.servers]
    names = racker_names(rd)
    for server in info["servers"]:
        server["racker_name"] = names.get(server.get("primary_mac", ""))
    return info


def format_status(info: dict[str, Any]) -> str:
    """`racker-sim status` as text."""
    ns = info["namespaces"]
    lines = [f"rack {info['rack']}: daemon {info['daemon']}"
             + (f" (pid {info['pid']})" if "pid" in info else "")
             + f", namespaces {sum(ns.values())}/{len(ns)} present, state in {info['dir']}"]
    cols = ("node", "racker_name", "primary_mac", "bmc_mac", "bmc_ip", "bmc", "power",
            "boot_device", "phase", "node_ip", "faults")
    rows = [[str(s.get(c) if not isinstance(s.get(c), list) else ",".join(s[c]) or "-")
             if s.get(c) not in (None, "") else "-" for c in cols] for s in info["servers"]]
    head = [c.upper().replace("_", " ") for c in cols]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(cols))]
    for r in [head, *rows]:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def find_server(t: Topology, ref: str, rd: state.RackDir | None = None) -> SimServer:
    """The server `ref` names (node3, 3, a MAC, or with `rd` the name racker gave it, such as
    node-0 or lokomotive-worker-0), or an InputError listing the ways to name one."""
    s = t.server(ref) or (_by_racker_name(t, rd, ref) if rd is not None else None)
    if s is None:
        raise InputError(f"no node '{ref}' in rack {t.rack}", where=Where(flag="NODE"),
                         hint="name a node as node1.."
                              f"node{len(t.servers)}, by number, by primary or BMC MAC, or by "
                              "the name racker gave it (node-0, …) once it is bootstrapped")
    return s


def racker_names(rd: state.RackDir) -> dict[str, str]:
    """Primary MAC → the name racker gave the node, from the layout racker records in its
    configuration folder under the simulated home (excluded nodes keep their names there)."""
    names: dict[str, str] = {}
    for folder in (rd.home / "flatcar-container-linux", rd.home / "lokomotive"):
        with contextlib.suppress(InputError, OSError):
            layout = load_layout(folder)
            for slot in (*layout.active, *layout.excluded) if layout else ():
                if slot.name:
                    names[slot.mac] = slot.name
    return names


def _by_racker_name(t: Topology, rd: state.RackDir, name: str) -> SimServer | None:
    """The server racker calls `name`: the layout racker records in its configuration folder
    (excluded nodes keep their names there), else its hosts entries name an address that
    racker's dnsmasq.conf plans for one of the server's MACs."""
    want = name.strip().lower()
    for mac, known in racker_names(rd).items():
        if want in (known.lower(), known.lower().split(".")[0]):
            found = t.server(mac)
            if found is not None:
                return found
    try:
        hosts = rd.hosts.read_text(errors="replace")
        conf = (rd.racker_state / "dnsmasq" / "dnsmasq.conf").read_text(errors="replace")
    except OSError:
        return None
    planned = discovery.parse_dhcp_hosts(conf)
    for ip in discovery.ips_for_name(discovery.parse_hosts(hosts), name):
        for mac in discovery.macs_for_ip(planned, ip):
            found = t.server(mac)
            if found is not None:
                return found
    return None
