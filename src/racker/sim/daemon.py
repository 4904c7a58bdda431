"""The simulator daemon of one rack: every vBMC, BMC DHCP client and lite node, one process.

Started detached by `racker-sim create` as `python -m racker.sim.daemon RACK_DIR`; answers
JSON-line requests (`ping`, `status`, `fault`, `shutdown`) on `daemon.sock` in the rack dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from racker.adapters.fs.atomic import write_atomic
from racker.sim.net.netlink import set_address
from racker.sim.net.topology import NODE_IFACE, SimServer, Topology
from racker.sim.nodes.chassis import NodeChassis
from racker.sim.nodes.lite import NODE_FAULTS, LiteNode
from racker.sim.nodes.qemu import QEMU_FAULTS, Firmware, QemuNode, QemuSpec, pick_accel
from racker.sim.nodes.testos import ensure_testos
from racker.sim.state import RackDir, append_timeline, load_topology, read_credentials
from racker.sim.vbmc.redfish.server import RedfishServer, bind_tcp, serve_redfish
from racker.sim.vbmc.server import VirtualBmc, bind_udp_in_netns, in_netns

BMC_SLOW_DELAY = 1.5
"""Seconds a slow BMC takes per answer (ipmitool's own retry timer is 1 s, doubling)."""
BMC_FAULTS = ("bmc-down", "bmc-slow", "bmc-bad-credentials", "bmc-no-session", "boot-flag-lost",
              "bmc-lossy", "bmc-cert-changed", "redfish-settings-only", "bmc-hangs-at-install")
BMC_LOSSY_RATE = 0.3
"""The share of datagrams a `bmc-lossy` BMC drops."""
REDFISH_FAULTS = ("bmc-cert-changed", "redfish-settings-only")
"""Faults only a BMC that speaks Redfish can have."""
REDFISH_PORT = 443

HOOK = """#!/bin/sh
# racker-sim BMC DHCP hook (udhcpc -s). It configures only the interface of the namespace it
# runs in and writes the lease for `racker-sim status`; never /etc/resolv.conf (/etc is shared).
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    rm -f "$RKS_LEASE_FILE"
    ;;
  bound|renew)
    current=$(ip -4 -o addr show dev "$interface" | awk '{print $4}')
    if [ "$current" != "$ip/$mask" ]; then
      ip -4 addr flush dev "$interface"
      ip addr add "$ip/$mask" dev "$interface"
    fi
    printf '{"ip": "%s", "prefix": "%s", "server": "%s", "lease": "%s", "event": "%s"}\\n' \\
      "$ip" "$mask" "$serverid" "$lease" "$1" > "$RKS_LEASE_FILE.tmp"
    mv "$RKS_LEASE_FILE.tmp" "$RKS_LEASE_FILE"
    ;;
esac
exit 0
"""


@dataclass
class _Server:
    server: SimServer
    chassis: NodeChassis
    node: LiteNode | QemuNode
    bmc: VirtualBmc
    dhcp: asyncio.subprocess.Process | None = None
    redfish: RedfishServer | None = None


def _bmc_logger(node: LiteNode | QemuNode) -> Callable[[str], None]:
    def log(message: str) -> None:
        node.log("bmc", msg=message)

    return log


class Simulator:
    """All simulated parts of one rack."""

    def __init__(self, rd: RackDir, topology: Topology) -> None:
        self.rd = rd
        self.t = topology
        self.servers: dict[str, _Server] = {}
        self.stopped = asyncio.Event()
        self.bmc_faults: dict[str, set[str]] = {}

    async def start(self) -> None:
        """Open every BMC and node, start the BMC DHCP clients and the control socket."""
        user, password = read_credentials(self.rd)
        hook = self.rd.root / "bmc-dhcp-hook"
        write_atomic(hook, HOOK, mode=0o755)
        self.rd.leases.mkdir(parents=True, exist_ok=True)
        testos = ensure_testos() if self.t.node_kind == "qemu" else None
        accel = await asyncio.to_thread(pick_accel, None, testos) if testos else "tcg"
        for s in self.t.servers:
            chassis = NodeChassis()
            node: LiteNode | QemuNode
            if testos is None:
                node = LiteNode(s.name, s.rack_mac, self.t.node_ns(s), NODE_IFACE, chassis,
                                self.rd.timeline(s), set_address, console=chassis.emit_console,
                                primary_mac=s.primary_mac, secondary_mac=s.secondary_mac,
                                node_type=s.node_type)
            else:
                timeline = self.rd.timeline(s)
                spec = QemuSpec(s.name, s.rack_mac, self.t.net_ns, self.rd.disk(self.t, s),
                                timeline.with_suffix(".console"), testos, accel=accel,
                                tap=self.t.tap(s), firmware=Firmware(self.t.firmware))
                node = QemuNode(spec, chassis, functools.partial(append_timeline, timeline),
                                console=chassis.emit_console_bytes)
                chassis.on_console_input(node.console_input)  # SOL both ways
            chassis.subscribe(node.power_event)
            # The vBMC runs on this loop; its socket was opened inside the BMC's namespace.
            sock = bind_udp_in_netns(self.t.bmc_ns(s), "0.0.0.0", 623)
            # Get System GUID answers the server's SMBIOS UUID (the pairing racker checks)
            bmc = VirtualBmc(chassis, address="0.0.0.0", port=623, user=user,
                             password=password, sock=sock, name=s.name,
                             log=_bmc_logger(node), guid=uuid.UUID(node.uuid))
            await bmc.astart()
            chassis.bmc = bmc
            srv = _Server(s, chassis, node, bmc)
            if isinstance(node, LiteNode):
                node.on_phase = functools.partial(self._hang_at_install, srv)
            await self._start_redfish(srv)
            srv.dhcp = await self._start_udhcpc(s, hook)
            self.servers[s.name] = srv
            self.bmc_faults[s.name] = set()

    async def _start_redfish(self, srv: _Server) -> None:
        """The BMC's Redfish side (HTTPS on port 443 of its address) where it speaks Redfish;
        a Redfish-only BMC has IPMI over LAN off."""
        s = srv.server
        if s.bmc_protocol not in ("redfish", "both"):
            return
        srv.bmc.lan_enabled = s.bmc_protocol == "both"
        sock = in_netns(self.t.bmc_ns(s), lambda: bind_tcp("0.0.0.0", REDFISH_PORT))
        srv.redfish = await serve_redfish(srv.bmc, sock)

    async def _start_udhcpc(self, s: SimServer, hook: Path) -> asyncio.subprocess.Process:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "RKS_LEASE_FILE": str(self.rd.lease_file(s))}
        # -f foreground (a child of this daemon); a DISCOVER every second (a short pause after
        # a minute), as embedded DHCP clients do: all BMCs of a rack ask within a second of
        # racker's dnsmasq starting, whenever the rack was created.
        return await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.t.bmc_ns(s), "udhcpc", "-f", "-i", NODE_IFACE,
            "-s", str(hook), "-t", "60", "-T", "1", "-A", "1", "-x", f"hostname:bmc{s.index}",
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)

    async def stop(self) -> None:
        """Stop nodes, DHCP clients and BMCs."""
        for srv in self.servers.values():
            if srv.dhcp is not None and srv.dhcp.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    srv.dhcp.terminate()
        for srv in self.servers.values():
            await srv.node.close()
            if srv.redfish is not None:
                await srv.redfish.astop()
            await srv.bmc.astop()
            if srv.dhcp is not None:
                try:
                    await asyncio.wait_for(srv.dhcp.wait(), 5)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        srv.dhcp.kill()
                    await srv.dhcp.wait()

    # -- control requests ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Power, boot device, lease and phase of every server."""
        out = []
        for name, srv in self.servers.items():
            lease: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                lease = json.loads(self.rd.lease_file(srv.server).read_text())
            out.append({
                "node": name, "primary_mac": srv.server.primary_mac,
                "bmc_mac": srv.server.bmc_mac, "bmc_ip": lease.get("ip"),
                "bmc": srv.server.bmc_protocol,
                "power": srv.chassis.power_state().value,
                "boot_device": srv.chassis.boot_device().value,
                "boot_persistent": srv.chassis.boot_persistent(),
                "phase": srv.node.state.phase, "node_ip": srv.node.state.ip,
                "installed": srv.node.state.installed,
                "faults": sorted(srv.node.state.faults | self.bmc_faults[name]),
            })
        return {"rack": self.t.rack, "pid": os.getpid(), "servers": out}

    def _hang_at_install(self, srv: _Server, phase: str) -> None:
        """`bmc-hangs-at-install`: the BMC stops answering as the installer reports."""
        if phase == "report-installed" and "bmc-hangs-at-install" in self.bmc_faults.get(
                srv.server.name, ()):
            srv.bmc.faults.drop = True
            srv.node.log("bmc-hung", reason="bmc-hangs-at-install (fault)")

    def fault(self, ref: str, kind: str, clear: bool) -> dict[str, Any]:
        """Set or clear fault `kind` on server `ref`."""
        s = self.t.server(ref)
        if s is None:
            return {"error": f"no node '{ref}' in rack {self.t.rack}"}
        srv = self.servers[s.name]
        if kind in NODE_FAULTS:
            if isinstance(srv.node, QemuNode) and kind not in QEMU_FAULTS:
                return {"error": f"fault {kind} is not available for QEMU nodes",
                        "hint": "QEMU nodes honour " + ", ".join(QEMU_FAULTS)}
            target = srv.node.state.faults
        elif kind in REDFISH_FAULTS:
            if srv.redfish is None:
                return {"error": f"fault {kind} needs a BMC that speaks Redfish",
                        "hint": "create the rack with --bmc redfish, both or mixed"}
            if kind == "bmc-cert-changed" and not clear:
                srv.redfish.rotate_cert()
            elif kind == "redfish-settings-only":
                srv.redfish.model.settings_only = not clear
            target = self.bmc_faults[s.name]
        elif kind in BMC_FAULTS:
            on = not clear
            faults = srv.bmc.faults
            if kind == "bmc-hangs-at-install":
                if isinstance(srv.node, QemuNode):
                    return {"error": f"fault {kind} is not available for QEMU nodes",
                            "hint": "it follows a lite node's installer; 'bmc-down' stops a "
                                    "QEMU node's BMC at once"}
                # clearing it brings the BMC back, unless bmc-down holds it down too
                faults.drop = faults.drop and (on or "bmc-down" in self.bmc_faults[s.name])
            elif kind == "bmc-down":
                faults.drop = on
            elif kind == "bmc-slow":
                faults.delay = BMC_SLOW_DELAY if on else 0.0
            elif kind == "bmc-bad-credentials":
                faults.reject_auth = on
            elif kind == "bmc-no-session":
                faults.no_session = on
            elif kind == "bmc-lossy":
                faults.loss = BMC_LOSSY_RATE if on else 0.0
            else:
                faults.lose_boot_flags = on
            target = self.bmc_faults[s.name]
        else:
            return {"error": f"unknown fault '{kind}'",
                    "hint": "one of " + ", ".join(NODE_FAULTS + BMC_FAULTS)}
        if clear:
            target.discard(kind)
        else:
            target.add(kind)
        srv.node.log("fault", kind=kind, active=not clear)
        return {"ok": True, "node": s.name, "faults": sorted(srv.node.state.faults
                                                             | self.bmc_faults[s.name])}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One control connection: one JSON request line, one JSON answer line."""
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            req = json.loads(line or b"{}")
            op = req.get("op")
            if op == "ping":
                answer: dict[str, Any] = {"ok": True, "pid": os.getpid()}
            elif op == "status":
                answer = self.status()
            elif op == "fault":
                answer = self.fault(str(req.get("node")), str(req.get("kind")),
                                    bool(req.get("clear")))
            elif op == "shutdown":
                answer = {"ok": True}
                self.stopped.set()
            else:
                answer = {"error": f"unknown request {op!r}"}
        except (ValueError, TimeoutError) as e:
            answer = {"error": f"bad request: {e}"}
        writer.write(json.dumps(answer).encode() + b"\n")
        with contextlib.suppress(OSError):
            await writer.drain()
            writer.close()


async def serve(rd: RackDir) -> None:
    """Run the rack's simulator until SIGTERM/SIGINT or a `shutdown` request."""
    sim = Simulator(rd, load_topology(rd))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sim.stopped.set)
    await sim.start()
    with contextlib.suppress(FileNotFoundError):
        rd.socket.unlink()
    server = await asyncio.start_unix_server(sim.handle, path=str(rd.socket))
    os.chmod(rd.socket, 0o600)
    write_atomic(rd.pid_file, f"{os.getpid()}\n")
    try:
        await sim.stopped.wait()
    finally:
        server.close()
        await sim.stop()
        with contextlib.suppress(FileNotFoundError):
            rd.socket.unlink()
        with contextlib.suppress(FileNotFoundError):
            rd.pid_file.unlink()


def main(argv: list[str]) -> int:
    """`python -m racker.sim.daemon RACK_DIR`"""
    if len(argv) != 1:
        print("usage: python -m racker.sim.daemon RACK_DIR", file=sys.stderr)
        return 2
    asyncio.run(serve(RackDir(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
