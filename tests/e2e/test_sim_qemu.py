"""A simulated rack of 2 QEMU nodes: Debian's iPXE ROM follows the chain to the test's HTTP
server, the test OS boots, fetches its Ignition and posts `installed`; after the boot device is
set to disk it boots "from disk" and posts `booted`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from racker.sim.state import RackDir, load_topology, read_credentials
from racker.sim.testos import ensure_testos
from racker.sim.testos_script import MARKER
from tests.conftest import require_root, require_tool
from tests.e2e.test_sim_rack import MGMT_IP, PEER, PREFIX, RACKER_SIM, _dnsmasq_conf, sim, wait_for

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.qemu, pytest.mark.slow]


def _eq(fn: Callable[[str], list[str]], ip: str, want: list[str]) -> Callable[[], bool]:
    return lambda: fn(ip) == want


def test_qemu_nodes_install_and_boot_from_disk(tmp_path: Path) -> None:
    require_root()
    for tool in ("ip", "dnsmasq", "ipmitool", "udhcpc", "qemu-system-x86_64", "apt-get"):
        require_tool(tool)
    testos = ensure_testos()
    name = f"rksq-{secrets.token_hex(3)}"
    env = {**os.environ, "RACKER_SIM_DIR": str(tmp_path / "sim")}
    hold = tmp_path / "hold"
    hold.mkdir()
    http_log = tmp_path / "http.jsonl"
    dnsmasq: subprocess.Popen[bytes] | None = None
    try:
        disks = tmp_path / "disks"
        disks.mkdir()
        sim("create", "--generate", "2", "--nodes", "qemu", "--name", name, "--mgmt-ip",
            f"{MGMT_IP}/24", "--disk-dir", str(disks), env=env)
        rd = RackDir(tmp_path / "sim" / name)
        topo = load_topology(rd)
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text(_dnsmasq_conf(topo, tmp_path))
        dnsmasq = subprocess.Popen(["ip", "netns", "exec", topo.mgmt_ns, "dnsmasq",
                                    "--keep-in-foreground", "-C", str(conf)])
        subprocess.Popen([RACKER_SIM, "exec", name, "--", sys.executable, str(PEER), MGMT_IP,
                          "8080", str(http_log)],
                         env={**env, "RKS_TESTOS_KERNEL": str(testos.kernel),
                              "RKS_TESTOS_INITRD": str(testos.initrd),
                              "RKS_HOLD_DIR": str(hold)})
        leases = tmp_path / "dnsmasq.leases"

        def log() -> list[dict[str, object]]:
            if not http_log.exists():
                return []
            return [json.loads(x) for x in http_log.read_text().splitlines() if x.strip()]

        def events(ip: str) -> list[str]:
            return [json.loads(str(e["body"]))["event"] for e in log()
                    if e.get("method") == "POST" and e["client"] == ip]

        def ipmitool(bmc_ip: str, *args: str) -> None:
            user, password = read_credentials(rd)
            subprocess.run(["ip", "netns", "exec", topo.mgmt_ns, "ipmitool", "-I", "lanplus",
                            "-H", bmc_ip, "-U", user, "-E", *args],
                           env={**os.environ, "IPMI_PASSWORD": password}, check=True,
                           capture_output=True, timeout=60)

        wait_for("BMC leases", lambda: leases.exists() and all(
            s.bmc_mac in leases.read_text() for s in topo.servers))
        for s in topo.servers:
            bmc_ip = f"{PREFIX}.{10 + s.index}"
            ipmitool(bmc_ip, "chassis", "bootdev", "pxe", "options=persistent")
            ipmitool(bmc_ip, "power", "on")
        for s in topo.servers:
            ip = f"{PREFIX}.{20 + s.index}"
            # The answer is held back (RKS_HOLD_DIR), so the node waits like under racker.
            wait_for(f"{s.name} to post installed", _eq(events, ip, ["installed"]), 300)
            paths = [e["path"] for e in log() if e.get("client") == ip]
            assert "/boot.ipxe" in paths
            assert any(str(p).endswith("os=installer") for p in paths)
            # As racker: boot device disk (persistent) first, then answer `installed`.
            ipmitool(f"{PREFIX}.{10 + s.index}", "chassis", "bootdev", "disk",
                     "options=persistent")
            (hold / s.primary_mac.replace(":", "-")).touch()
        for s in topo.servers:
            ip = f"{PREFIX}.{20 + s.index}"
            wait_for(f"{s.name} to post booted", _eq(events, ip, ["installed", "booted"]), 240)
            paths = [e["path"] for e in log() if e.get("client") == ip]
            assert any(str(p).endswith("os=installed") for p in paths)
        st = json.loads(sim("status", "--name", name, "--json", env=env).stdout)
        assert [x["phase"] for x in st["servers"]] == ["running", "running"]
        for s in topo.servers:  # the "installer" marked each virtual disk
            assert (disks / f"{name}-{s.name}.img").read_bytes().startswith(MARKER.encode())
        sim("destroy", name, env=env)
        assert list(disks.iterdir()) == []
    finally:
        sim("destroy", name, env=env, check=False)
        if dnsmasq is not None:
            dnsmasq.wait(10)
