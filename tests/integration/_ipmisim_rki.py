"""Minimal OpenIPMI `ipmi_sim` BMCs for the ipmi helper's tests (one process per BMC).

NOTE: helper "bmc" may ship a fuller `tests/integration/ipmisim.py`; this one is kept small on
purpose and can be folded into it. Each BMC has one admin user, a chassis control script (power
state and boot device kept in files, so `chassis status` and `bootparam get 5` answer) and
optionally runs inside a network namespace.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_CHASSIS = """#!/bin/sh
# ipmi_sim chassis control: $1 = state dir, then get PARAM... | set PARAM VALUE | check
dir="$1"; shift
case "$1" in
  get) shift; for p in "$@"; do
         case "$p" in
           power) echo "power:$(cat "$dir/power" 2>/dev/null || echo 0)";;
           boot) echo "boot:$(cat "$dir/boot" 2>/dev/null || echo default)";;
           *) echo "$p:0";;
         esac
       done;;
  set) echo "$3" > "$dir/$2";;
esac
exit 0
"""


@dataclass(frozen=True)
class SimBmc:
    """One running ipmi_sim."""

    ip: str
    workdir: Path
    pid: int


def _lan_conf(ip: str, user: str, password: str, chassis: str, sol_port: int | None) -> str:
    auths = "none md2 md5 straight"
    return "\n".join([
        'name "rkisim"',
        "set_working_mc 0x20",
        "  startlan 1",
        f"    addr {ip} 623",
        "    priv_limit admin",
        *(f"    allowed_auths_{p} {auths}" for p in ("callback", "user", "operator", "admin")),
        f"    guid {secrets.token_hex(16)}",
        "  endlan",
        f'  chassis_control "{chassis}"',
        # ipmi_sim connects to a TCP server on this port as the node's serial port.
        *([f'  sol "telnet:127.0.0.1:{sol_port}" 115200'] if sol_port else []),
        f'  user 2 true "{user}" "{password}" admin 10 {auths}',
        "",
    ])


_COMMANDS = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
"""


def _udp_bound(ip: str, port: int, netns: str | None) -> bool:
    """True when something listens on UDP ip:port (read from /proc, inside `netns` if given)."""
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(ip), 'big')):08X}:{port:04X}"
    if netns is None:
        text = Path("/proc/net/udp").read_text()
    else:
        text = subprocess.run(["ip", "netns", "exec", netns, "cat", "/proc/net/udp"],
                              capture_output=True, text=True, check=False).stdout
    return any(line.split()[1] == want for line in text.splitlines()[1:] if line.split())


@contextmanager
def ipmi_sims(workdir: Path, addresses: Sequence[str], user: str, password: str, *,
              power_on: Sequence[bool] = (), sol_ports: Sequence[int | None] = (),
              netns: str | None = None,
              ready_timeout: float = 10.0) -> Iterator[list[SimBmc]]:
    """Start one ipmi_sim per address (UDP 623), wait until each listens, stop them all after."""
    procs: list[subprocess.Popen[bytes]] = []
    sims: list[SimBmc] = []
    try:
        for i, ip in enumerate(addresses):
            d = workdir / f"bmc-{ip}"
            (d / "state").mkdir(parents=True)
            script = d / "chassis.sh"
            script.write_text(_CHASSIS)
            script.chmod(0o755)
            on = power_on[i] if i < len(power_on) else True
            (d / "power").write_text("1\n" if on else "0\n")
            conf = d / "lan.conf"
            sol = sol_ports[i] if i < len(sol_ports) else None
            conf.write_text(_lan_conf(ip, user, password, f"{script} {d}", sol))
            conf.chmod(0o600)
            (d / "cmd.emu").write_text(_COMMANDS)
            argv = ["ipmi_sim", "-c", str(conf), "-f", str(d / "cmd.emu"), "-s", str(d / "state"),
                    "-n"]
            if netns is not None:
                argv = ["ip", "netns", "exec", netns, *argv]
            log = (d / "sim.log").open("wb")
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
            log.close()
            procs.append(p)
            sims.append(SimBmc(ip=ip, workdir=d, pid=p.pid))
        deadline = time.monotonic() + ready_timeout
        for sim, p in zip(sims, procs, strict=True):
            while not _udp_bound(sim.ip, 623, netns):
                if p.poll() is not None or time.monotonic() > deadline:
                    log_text = (sim.workdir / "sim.log").read_text(errors="replace")
                    raise RuntimeError(f"ipmi_sim on {sim.ip} did not start: {log_text}")
                time.sleep(0.02)
        yield sims
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
