"""`python -m racker.demo` (what `make demo` runs): render a sample rack, both provision types.

For now the demo writes a sample rack's metadata (nodes.csv, BMC credentials, this machine's
interfaces) under ./demo/, points racker at it with the documented environment overrides and
runs `racker bootstrap … -render-only` for Lokomotive and for Flatcar, then shows the configuration
folders and the key files. Nothing outside ./demo/ is touched. Provisioning a simulated rack
(virtual BMCs and nodes) comes with the simulator.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from racker.model import Provision
from racker.paths import Paths
from racker.render import config_folder

MARKER = ".racker-demo"
"""File that marks a folder as the demo's own, so that it may be emptied on the next run."""

HEADER = "Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments"
TYPES = ("small", "small", "large")
PXE_IFACE = "eth1"


def _mac(kind: int, i: int) -> str:
    return f"52:54:00:{kind:02x}:00:{i:02x}"


def sample_nodes_csv(n_nodes: int, types: Sequence[str] = TYPES) -> str:
    """nodes.csv of a rack: the management node (row 1) and `n_nodes` servers."""
    rows = [HEADER, f"{_mac(0, 0)}, {_mac(1, 0)}, {_mac(2, 0)}, , management node"]
    for i in range(1, n_nodes + 1):
        t = types[(i - 1) % len(types)] if types else ""
        rows.append(f"{_mac(0, i)}, {_mac(1, i)}, {_mac(2, i)}, {t}, slot {i}")
    return "\n".join(rows) + "\n"


def write_sample_rack(root: Path, n_nodes: int, types: Sequence[str] = TYPES) -> Paths:
    """Write a rack's metadata under `root` and return the Paths that point racker at it."""
    paths = Paths(oem_dir=root / "oem", state_dir=root / "state", hosts_file=root / "hosts",
                  sys_class_net=root / "sys" / "class" / "net", home=root / "home")
    paths.oem_dir.mkdir(parents=True, exist_ok=True)
    paths.nodes_csv.write_text(sample_nodes_csv(n_nodes, types))
    paths.ipmi_user_file.write_text("admin\n")
    fd = os.open(paths.ipmi_password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("demo-password\n")
    for iface, mac in (("lo", "00:00:00:00:00:00"), ("eth0", _mac(0, 0)), (PXE_IFACE, _mac(2, 0))):
        (paths.sys_class_net / iface).mkdir(parents=True, exist_ok=True)
        (paths.sys_class_net / iface / "address").write_text(mac + "\n")
    paths.state_dir.mkdir(exist_ok=True)
    paths.home.mkdir(exist_ok=True)
    paths.hosts_file.write_text("127.0.0.1 localhost\n::1 localhost\n# an operator's own entry:\n"
                                "192.168.1.10 nas.example.org\n")
    return paths


def env_of(paths: Paths) -> dict[str, str]:
    """The environment overrides (DESIGN.md) that point racker at `paths`."""
    return {"RACKER_OEM_DIR": str(paths.oem_dir), "RACKER_STATE_DIR": str(paths.state_dir),
            "RACKER_HOSTS_FILE": str(paths.hosts_file),
            "RACKER_SYS_CLASS_NET": str(paths.sys_class_net), "HOME": str(paths.home)}


def _static_ini(node: int) -> str:
    return (f"# node {node} has a static public address; all others use DHCP\n"
            f"[{_mac(2, node)}]\nip_addr = 203.0.113.{10 + node}/24\n"
            "gateway = 203.0.113.1\ndns = 203.0.113.53\n")


DEMOS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("lokomotive", ("-provision", "lokomotive", "-cluster-name", "demo", "-num-controllers", "3",
                    "-controller-type", "small", "-web-ui", "true", "-storage-provider", "rook",
                    "-storage-node-type", "large", "-ip-addrs", _static_ini(2))),
    ("flatcar", ("-provision", "flatcar", "-ip-addrs", _static_ini(1))),
)


def _shown_flags(flags: Sequence[str]) -> str:
    return " ".join('"$(cat ip_addrs)"' if "\n" in f else f for f in flags)


def _tree(folder: Path) -> list[str]:
    lines = [f"{folder}/"]
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        mode = oct(p.stat().st_mode & 0o777)[2:]
        lines.append(f"  {'  ' * (len(rel.parts) - 1)}{rel.name}{'/' if p.is_dir() else ''}"
                     + ("" if p.is_dir() else f"  ({mode}, {p.stat().st_size} bytes)"))
    return lines


def _show(title: str, path: Path, *, head: int | None = None) -> None:
    lines = path.read_text().splitlines()
    if head is not None and len(lines) > head:
        lines = [*lines[:head], f"… ({len(lines) - head} more lines)"]
    print(f"\n── {title}: {path}")
    print("\n".join(f"   {ln}" for ln in lines))


def _prepare(root: Path) -> None:
    if root.exists():
        if not (root / MARKER).exists():
            raise SystemExit(f"{root} exists and is not a racker demo folder; move it away first")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by python -m racker.demo; removed on the next run\n")


def run(root: Path, n_nodes: int) -> int:
    """Render both sample configurations under `root` with the real CLI; print the results."""
    _prepare(root)
    print(f"racker demo: a sample rack of {n_nodes} servers plus the management node, rendered"
          " with 'racker bootstrap … -render-only'.\nProvisioning a simulated rack comes with the"
          f" simulator; nothing outside {root}/ is touched.")
    for name, flags in DEMOS:
        paths = write_sample_rack(root / name, n_nodes)
        (root / name / "ip_addrs").write_text(flags[-1])
        print(f"\n════ {name}: racker bootstrap {_shown_flags(flags)} -render-only")
        print("   environment: " + " ".join(f"{k}={v}" for k, v in env_of(paths).items()))
        sys.stdout.flush()
        code = subprocess.run(
            [sys.executable, "-m", "racker", "bootstrap", *flags, "-render-only"],
            env={**os.environ, **env_of(paths)}, stdin=subprocess.DEVNULL, check=False,
        ).returncode
        if code != 0:
            print(f"racker bootstrap failed with exit code {code}", file=sys.stderr)
            return code
        kind = Provision(name)
        folder = config_folder(paths, kind)
        print("\n".join(_tree(folder)))
        if kind is Provision.LOKOMOTIVE:
            _show("variables", folder / "lokocfg.vars")
            first = "demo-controller-0.k8s.localdomain"
        else:
            _show("variables", folder / "terraform.tfvars")
            first = "node-0"
        _show("node Container Linux Config", folder / "cl" / f"{first}.yaml", head=30)
        static = next(p for p in sorted((folder / "cl").glob("*-custom.yaml"))
                      if "10-public-stable" in p.read_text())
        _show("static public address", static)
        if kind is Provision.LOKOMOTIVE:
            _show("dnsmasq (the same shape for Flatcar)",
                  paths.dnsmasq_dir / "dnsmasq.conf", head=40)
        _show("hosts (racker's lines end in '# managed by racker')", paths.hosts_file)
    print(f"\nDone. Look around in {root}/, or run 'make test'.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m racker.demo`."""
    parser = argparse.ArgumentParser(prog="python -m racker.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("demo"),
                        help="where to put the sample racks (default ./demo, emptied first)")
    parser.add_argument("--nodes", type=int, default=7, help="servers in the sample rack")
    args = parser.parse_args(argv)
    from racker.cli.run import run_main

    return run_main("racker-demo", lambda _argv: run(args.dir.resolve(), args.nodes), [])


if __name__ == "__main__":
    sys.exit(main())
