"""`python -m devtools.demo` (what `make demo` runs): a simulated rack, provisioned with Flatcar.

Creates a rack of lite nodes with `racker-sim` (network namespaces, virtual BMCs, real dnsmasq
and HTTP boot), runs `racker bootstrap -provision flatcar` inside its management node exactly as
an operator would, keeps `racker serve` running, shows `racker status`, and says how to look
around and how to remove it all. Everything lives under ./demo/ and in namespaces named after
the rack; the dashboard is relayed to this host's loopback (`racker-sim forward`) and its URL
printed. `python -m devtools.demo --destroy` (`make demo-destroy`) removes it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

RACK = "demo"
DASHBOARD_PORT = 8081
"""racker's management listener inside the management node, and the host port tried first."""
MARKER = ".racker-demo"
"""File that marks a folder as the demo's own, so that it may be emptied on the next run."""
BIN = Path(sys.executable).parent


def _say(text: str) -> None:
    print(text, flush=True)


def _sim(env: dict[str, str], *args: str, check: bool = True) -> int:
    code = subprocess.run([str(BIN / "racker-sim"), *args], env=env, check=False).returncode
    if check and code != 0:
        raise SystemExit(f"racker-sim {' '.join(args)} failed (exit code {code})")
    return code


def _prepare(root: Path) -> None:
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise SystemExit(f"{root} is not a racker demo folder; not touching it "
                         "(choose another one with --dir)")
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by python -m devtools.demo\n")


def _stop_forward(root: Path) -> None:
    """Stop the dashboard relay this demo started (its process id is in forward.pid)."""
    pid_file = root / "forward.pid"
    if pid_file.is_file():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()


def _free_port(preferred: int) -> int:
    """`preferred` when nothing listens on it on the host's loopback, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _forward(root: Path, env: dict[str, str], rack: str) -> str:
    """Relay a host loopback port to the dashboard inside the management node; its URL, once
    racker serve says its listener is up (bounded wait)."""
    deadline = time.monotonic() + 60
    while "Dashboard: " not in (root / "serve.log").read_text():
        if time.monotonic() > deadline:
            _say(f"racker serve did not start its dashboard within 60 s; see {root}/serve.log")
            break
        time.sleep(0.1)
    port = _free_port(DASHBOARD_PORT)
    with (root / "forward.log").open("w") as log:
        proc = subprocess.Popen([str(BIN / "racker-sim"), "forward", rack, "--port",
                                 str(DASHBOARD_PORT), "--listen", f"127.0.0.1:{port}"],
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    (root / "forward.pid").write_text(f"{proc.pid}\n")
    return f"http://127.0.0.1:{port}/"


def destroy(root: Path, rack: str = RACK) -> int:
    """Remove the demo rack (namespaces, processes) and its files; the signing key stays."""
    _stop_forward(root)
    env = {**os.environ, "RACKER_SIM_DIR": str(root / "sim")}
    if (root / "sim" / rack).exists():
        _sim(env, "destroy", rack, check=False)
    for name in ("sim", "serve.log", "forward.log"):
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    _say(f"Removed the demo rack and {root}/sim.")
    return 0


def run(root: Path, nodes: int, rack: str = RACK) -> int:
    """Create, provision and show the demo rack."""
    _prepare(root)
    destroy(root, rack)
    env = {**os.environ, "RACKER_SIM_DIR": str(root / "sim")}
    env["RACKER_SIM_CACHE"] = str(root / "cache")
    # the rack serves its own signed Flatcar mirror; racker-sim exec points racker at it
    racker_env = ["RACKER_TIMEOUT_SCALE=0.05", "RETRY_SEC=30"]
    exec_racker = [str(BIN / "racker-sim"), "exec", rack, "--", "env", *racker_env,
                   str(BIN / "racker")]

    _say(f"== 1. A simulated rack: a management node and {nodes} servers, each with a virtual "
         "BMC, on a rack network inside network namespaces")
    _sim(env, "create", "--generate", str(nodes), "--name", rack)
    _say("\n== 2. racker bootstrap -provision flatcar, run on the simulated management node")
    code = subprocess.run([*exec_racker, "bootstrap", "-provision", "flatcar",
                           "-onfailure", "retry"], env=env, stdin=subprocess.DEVNULL,
                          check=False).returncode
    if code != 0:
        _say(f"\nThe bootstrap failed (exit code {code}); the rack is left for inspection.")
        _guide(root, rack)
        return code
    _say("\n== 3. racker serve keeps DHCP and the boot server running (in the background)")
    with (root / "serve.log").open("w") as log:
        subprocess.Popen([*exec_racker, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    _say("\n== 4. racker status")
    subprocess.run([*exec_racker, "status"], env=env, check=False)
    url = _forward(root, env, rack)
    _say(f"\n== 5. The dashboard (racker serve's management listener, relayed to this host by "
         f"racker-sim forward):\n  {url}")
    _guide(root, rack)
    return 0


def _short(path: Path) -> str:
    """`path` relative to the current folder when it is below it (shorter to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _guide(root: Path, rack: str) -> None:
    bin_ = _short(BIN)
    sim = f"RACKER_SIM_DIR={_short(root)}/sim {bin_}/racker-sim"
    _say(f"""
Look around (as root):
  {sim} status                       # namespaces, BMC leases, power, boot device, node phase
  {sim} exec {rack} -- {bin_}/racker status      # racker's table of the rack
  {sim} exec {rack} -- {bin_}/racker node timeline MAC
  {sim} exec {rack} -- {bin_}/ipmi --all diag    # every BMC over IPMI
  {sim} console node1                # a node's console / timeline
  {sim} fault node2 no-pxe           # break a node, then reprovision it
  ls {_short(root)}/sim/{rack}/home/flatcar-container-linux   # the configuration folder
Remove everything:
  {_destroy_command(root, rack)}""")


def _destroy_command(root: Path, rack: str) -> str:
    """The command that removes this demo: `make demo-destroy` for the default folder and
    name, else the script with the folder and name it was made with."""
    if root == Path("demo").resolve() and rack == RACK:
        return "make demo-destroy"
    return (f"{_short(BIN)}/python -m devtools.demo --destroy --dir {_short(root)} "
            f"--name {rack}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=Path("demo"), help="demo folder (./demo)")
    p.add_argument("--nodes", type=int, default=6, help="servers in the rack (6)")
    p.add_argument("--name", default=RACK, help="the rack's name (demo)")
    p.add_argument("--destroy", action="store_true", help="remove the demo rack and its files")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("The demo creates network namespaces and needs root: run it as root "
                         "(sudo make demo).")
    root = args.dir.resolve()
    if args.destroy:
        return destroy(root, args.name) if root.exists() else 0
    if not 1 <= args.nodes <= 48:
        raise SystemExit("--nodes must be between 1 and 48")
    return run(root, args.nodes, args.name)


if __name__ == "__main__":
    sys.exit(main())
