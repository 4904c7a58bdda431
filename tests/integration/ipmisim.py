"""Start OpenIPMI's `ipmi_sim` (a third-party IPMI 2.0 server) on a loopback address for tests
and benchmarks: a LAN config, a command file (`mc_setbmc 0x20` ...), users with passwords and
a small chassis-control script that keeps power and boot device in files.

`start_ipmi_sim(tmp_path)` returns a handle; call `stop()` (or use it as a context manager).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from racker.adapters.bmc.interfaces import BmcTarget
from racker.adapters.bmc.ipmi import codec

ADMIN_USER = "admin"
ADMIN_PASSWORD = "s3cret-Adm1n"

# ipmi_sim runs `<chassis_control> get power` / `set power 1` / `set boot pxe` and reads
# `name:value` lines back; the state lives in one file per item.
_CHASSIS_SCRIPT = """#!/bin/sh
d="$1"; shift
op="$1"; shift
case "$op" in
get)
  for n in "$@"; do
    case "$n" in
      power) v=$(cat "$d/power" 2>/dev/null || echo 0) ;;
      boot) v=$(cat "$d/boot" 2>/dev/null || echo default) ;;
      *) exit 1 ;;
    esac
    echo "$n:$v"
  done ;;
set)
  while [ $# -ge 2 ]; do
    echo "$2" > "$d/$1.tmp" && mv "$d/$1.tmp" "$d/$1"
    echo "$1 $2" >> "$d/log"
    shift 2
  done ;;
*) exit 1 ;;
esac
"""


@dataclass(frozen=True)
class SimUser:
    uid: int
    name: str
    password: str = field(repr=False)
    privilege: str = "admin"
    max_sessions: int = 10


DEFAULT_USERS = (SimUser(2, ADMIN_USER, ADMIN_PASSWORD),)


@dataclass
class IpmiSim:
    """A running ipmi_sim."""

    address: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    users: tuple[SimUser, ...]

    def target(self, node: str = "node-1", user: str = ADMIN_USER,
               password: str = ADMIN_PASSWORD) -> BmcTarget:
        return BmcTarget(node=node, address=self.address, user=user, password=password,
                         port=self.port)

    @property
    def power(self) -> str:
        """'1' or '0' as the chassis script last stored it."""
        p = self.workdir / "chassis" / "power"
        return p.read_text().strip() if p.exists() else "0"

    @property
    def boot(self) -> str:
        p = self.workdir / "chassis" / "boot"
        return p.read_text().strip() if p.exists() else "default"

    def ipmitool(self, *args: str, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD,
                 timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Run ipmitool against this BMC (password via -E/env, never argv)."""
        argv = codec.ipmitool_argv(self.address, user, args, port=self.port)
        env = codec.ipmitool_env(password, os.environ)
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def log(self) -> str:
        return (self.workdir / "ipmi_sim.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> IpmiSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def random_loopback() -> str:
    """A random 127.x.y.z address (all of 127/8 is on lo) so parallel tests do not collide."""
    rnd = random.SystemRandom()
    return f"127.{rnd.randint(10, 250)}.{rnd.randint(1, 250)}.{rnd.randint(2, 250)}"


def free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _user_line(u: SimUser) -> str:
    return (f'  user {u.uid} true "{u.name}" "{u.password}" {u.privilege} {u.max_sessions} '
            "none md2 md5 straight")


def write_config(workdir: Path, address: str, port: int, users: Sequence[SimUser],
                 sol: str | None = None) -> None:
    """lan.conf, the command file and the chassis script for one simulated BMC; `sol`: the
    host's serial port for Serial over LAN (`tcp:ADDRESS:PORT`, see ipmi_lan(5))."""
    chassis = workdir / "chassis"
    chassis.mkdir(parents=True, exist_ok=True)
    script = workdir / "chassis_control"
    script.write_text(_CHASSIS_SCRIPT)
    script.chmod(0o755)
    lines = [
        'name "rkbsim"',
        "set_working_mc 0x20",
        "  startlan 1",
        f"    addr {address} {port}",
        "    priv_limit admin",
        "    allowed_auths_callback none md2 md5 straight",
        "    allowed_auths_user none md2 md5 straight",
        "    allowed_auths_operator none md2 md5 straight",
        "    allowed_auths_admin none md2 md5 straight",
        "    guid a123456789abcdefa123456789abcdef",
        "  endlan",
        *([f'  sol "{sol}" 115200'] if sol else []),
        f'  chassis_control "{script} {chassis}"',
        '  user 1 true "" "anonymous-unused" user 10 none md2 md5 straight',
        *(_user_line(u) for u in users),
    ]
    (workdir / "lan.conf").write_text("\n".join(lines) + "\n")
    (workdir / "cmds").write_text(
        "mc_setbmc 0x20\n"
        "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
        "mc_enable 0x20\n")


def wait_ready(address: str, port: int, deadline_s: float = 5.0) -> bool:
    """Whether the BMC answers a sessionless ping before the deadline."""
    end = time.monotonic() + deadline_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < end:
            try:
                s.sendto(codec.channel_auth_probe(), (address, port))
                data, _ = s.recvfrom(512)
                if codec.is_channel_auth_reply(data):
                    return True
            except OSError:
                time.sleep(0.05)
    return False


def start_ipmi_sim(tmp_path: Path, address: str | None = None, port: int | None = None,
                   users: Sequence[SimUser] = DEFAULT_USERS, power: str = "0",
                   binary: str | None = None, sol: str | None = None) -> IpmiSim:
    """Start ipmi_sim on `address:port` (random loopback address and free port by default)."""
    binary = binary or shutil.which("ipmi_sim") or "/usr/bin/ipmi_sim"
    address = address or random_loopback()
    port = port or free_udp_port(address)
    workdir = tmp_path / f"ipmisim-{address}-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    write_config(workdir, address, port, users, sol)
    (workdir / "chassis" / "power").write_text(power + "\n")
    state = workdir / "state"
    state.mkdir(exist_ok=True)
    with (workdir / "ipmi_sim.log").open("wb") as logf:
        proc = subprocess.Popen(
            [binary, "-c", str(workdir / "lan.conf"), "-f", str(workdir / "cmds"),
             "-s", str(state), "-n"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True)
    sim = IpmiSim(address=address, port=port, workdir=workdir, proc=proc, users=tuple(users))
    if not wait_ready(address, port):
        sim.stop()
        raise RuntimeError(f"ipmi_sim on {address}:{port} did not answer:\n{sim.log()}")
    return sim
