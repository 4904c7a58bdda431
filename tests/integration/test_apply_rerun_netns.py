"""`racker apply` re-runs Ignition on an edited node, end to end on real peers.

Management namespace: `racker apply` with its dnsmasq and boot server on the PXE interface.
Node namespace: an sshd on the node's internal IP whose forced command records what racker
runs and, on `systemctl reboot`, acts like the rebooted node: it fetches its Ignition from the
boot server and reports `booted`. Nothing of the host is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from racker.adapters.fs.applied import AppliedHashes
from racker.adapters.fs.store import Store
from racker.app.apply import FIRST_BOOT, REBOOT
from racker.app.configuration.loaded import load_configured
from racker.core.events import EventKind
from racker.core.render import asset_dir
from racker.engine.run import FlagFiles
from racker.model import Provision
from tests.conftest import require_root, require_tool
from tests.netns import ip, veth_pair
from tests.nodeops_support import configured_rack, paths_env, running_sshd, sshd_config

pytestmark = [pytest.mark.root, pytest.mark.dnsmasq, pytest.mark.slow]

RACKER = str(Path(sys.executable).with_name("racker"))
MARKER = "racker-apply-e2e-marker"

FORCED = """#!/bin/sh
echo "$SSH_ORIGINAL_COMMAND" >> {log}
case "$SSH_ORIGINAL_COMMAND" in
  *"systemctl reboot"*)
    setsid {python} {node_py} </dev/null >>{log}.node 2>&1 &
    kill -9 $PPID ;;
esac
exit 0
"""

NODE_PY = """import json, time, urllib.request
base, mac = {base!r}, {mac!r}
time.sleep(0.5)  # the reboot
with urllib.request.urlopen(f"{{base}}/ignition?mac={{mac}}&os=installed", timeout=10) as r:
    open({out!r}, "wb").write(r.read())
req = urllib.request.Request(f"{{base}}/racker/v1/nodes/{{mac}}/events",
                             data=json.dumps({{"event": "booted"}}).encode(),
                             headers={{"Content-Type": "application/json"}})
urllib.request.urlopen(req, timeout=10).read()
"""


@pytest.mark.parametrize("reported", ["none", "its own", "another"])
def test_apply_reruns_ignition_of_the_edited_node(tmp_path: Path, reported: str) -> None:
    """`reported`: which SSH host key the node reported at its first boot (none: a node of an
    older racker, pinned on first use; another: whoever answers now is not that node)."""
    require_root()
    sshd, keygen = require_tool("sshd"), require_tool("ssh-keygen")
    require_tool("ssh")
    require_tool("dnsmasq")
    paths = configured_rack(tmp_path / "rack", 2)
    key = paths.ssh_key
    key.with_suffix(".pub").unlink()
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    node_dir = tmp_path / "node"
    node_dir.mkdir()
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(node_dir / "host")],
                   check=True)
    (node_dir / "authorized_keys").write_text(key.with_suffix(".pub").read_text())

    plan = load_configured(paths, paths.flatcar_dir).plan
    flags = FlagFiles(asset_dir(paths, Provision.FLATCAR))
    for n in plan.nodes:
        flags.mark(n)  # both provisioned
    target, other = plan.nodes[1], plan.nodes[0]
    if reported != "none":
        name = "host" if reported == "its own" else "stranger"
        if name == "stranger":
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f",
                            str(node_dir / name)], check=True)
        host_key = " ".join((node_dir / f"{name}.pub").read_text().split()[:2])
        with Store.in_state_dir(paths.state_dir) as store:  # its install and first boot
            store.add(target.mac, EventKind.INSTALLED)
            store.add(target.mac, EventKind.BOOTED, detail={"host_keys": [host_key]})
    custom = paths.flatcar_dir / "cl" / f"{target.name}-custom.yaml"
    custom.write_text("storage:\n  files:\n    - path: /etc/motd\n      filesystem: root\n"
                      f"      contents:\n        inline: {MARKER}\n")

    log, fetched = node_dir / "commands.log", node_dir / "ignition.json"
    node_py = node_dir / "node.py"
    node_py.write_text(NODE_PY.format(base=f"http://{plan.management_ip}:8080",
                                      mac=target.mac, out=str(fetched)))
    forced = node_dir / "forced.sh"
    forced.write_text(FORCED.format(log=log, python=sys.executable, node_py=node_py))
    forced.chmod(0o755)
    cfg = sshd_config(node_dir, target.ip, forced)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder

    env = {**os.environ, **paths_env(paths),
           "RACKER_TIMEOUT_SCALE": "0.05", "RACKER_SSH_USER": "root"}
    with veth_pair("rkn") as link:
        # the management side is the rack's PXE interface, eth1 (as in nodes.csv's fake sysfs)
        ip("-n", link.left_ns, "link", "set", link.left_if, "down")
        ip("-n", link.left_ns, "link", "set", link.left_if, "name", "eth1")
        ip("-n", link.left_ns, "link", "set", "eth1", "up")
        ip("-n", link.right_ns, "addr", "add", f"{target.ip}/24", "dev", link.right_if)
        with running_sshd(sshd, link.right_ns, cfg):
            r = subprocess.run(["ip", "netns", "exec", link.left_ns, RACKER, "apply", "--yes"],
                               cwd=paths.flatcar_dir, env=env, capture_output=True, text=True,
                               timeout=120)
    detail = f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    if reported == "another":
        assert r.returncode == 1, detail
        assert "Host key verification failed" in r.stdout, detail
        assert not log.exists()  # not one command reached the impostor
        return
    assert r.returncode == 0, detail
    assert ("no SSH host key recorded" in r.stdout) is (reported == "none"), detail
    assert "1 to reinstall" not in r.stdout and "0 to reinstall, 1 to re-run Ignition" in r.stdout
    assert log.read_text().splitlines() == [FIRST_BOOT, REBOOT]
    (events_log,) = (paths.flatcar_dir / "logs").glob("*/events.log")
    assert f"{target.mac} booted" in events_log.read_text()
    # the node got its new Ignition from racker's boot server, with the operator's edit
    ignition = json.loads(fetched.read_text())
    files = {f["path"]: f["contents"]["source"] for f in ignition["storage"]["files"]}
    assert MARKER in files["/etc/motd"]
    hashes = AppliedHashes(paths.state_dir)
    assert hashes.get(target.mac) is not None and hashes.get(other.mac) is not None
    with Store.in_state_dir(paths.state_dir) as store:
        kinds = [e.kind for e in store.events(target.mac)]
        assert EventKind.BOOTED in kinds and kinds[-1] is EventKind.PROVISIONED
        assert not [e for e in store.events(other.mac) if e.kind is EventKind.BOOTED]
    again = subprocess.run([RACKER, "apply", "--dry-run"], cwd=paths.flatcar_dir, env=env,
                           capture_output=True, text=True, timeout=60)
    assert "0 to reinstall, 0 to re-run Ignition, 0 skipped, 2 up to date" in again.stdout
