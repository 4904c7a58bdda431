"""The Lokomotive bring-up: lokoctl installs the nodes through racker, then Kubernetes.

After racker's BMC check, `lokoctl cluster apply` runs in the configuration folder. lokoctl
calls the configuration's `pxe_commands` (`racker pxe-boot $mac $domain`) for each node; the
nodes PXE boot from racker's services, install and report `booted`, and racker writes their flag
files. Then the Kubernetes API (lokoctl's kubeconfig) must list every node, and
`lokoctl component apply` installs the components. Each stage is a documented stage line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from base64 import b64decode
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import yaml

from racker.adapters.fs.store import Store
from racker.app.hardware import cabling_problems
from racker.core.events import EventKind
from racker.core.render import asset_dir
from racker.engine.progress import Outcome, stage_line
from racker.engine.run import FlagFiles
from racker.errors import InputError, Where
from racker.model import ClusterPlan, PlannedNode, Provision
from racker.paths import Paths
from racker.settings import Settings


class RunContext(Protocol):
    """What a bring-up needs of the provisioning run around it (the Provisioner)."""

    paths: Paths
    settings: Settings

    def say(self, text: str = "") -> None:
        """Print a line of the run's output."""

    def hint(self) -> str:
        """The guidance printed after a failed attempt."""

CLUSTER_APPLY = ("lokoctl", "cluster", "apply", "--verbose", "--skip-components",
                 "--skip-pre-update-health-check", "--skip-control-plane-update", "--confirm")
COMPONENT_APPLY = ("lokoctl", "component", "apply")
KUBECONFIG = Path("lokoctl-assets/cluster-assets/auth/kubeconfig")

INSTALL_TITLE = "OS installation via PXE"
BRINGUP_TITLE = "Kubernetes bring-up"
COMPONENTS_TITLE = "Lokomotive component installation"


def health_title(seen: int, total: int) -> str:
    return f"Cluster health check ({seen}/{total} nodes seen)"


@dataclass(frozen=True)
class KubeAccess:
    """Where the Kubernetes API is and how to authenticate (from a kubeconfig)."""

    server: str
    token: str | None = None
    ca_data: bytes | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    insecure: bool = False


def parse_kubeconfig(text: str, source: str) -> KubeAccess:
    """The current context's cluster and user of a kubeconfig (pure)."""
    try:
        data = yaml.safe_load(text) or {}
        contexts = {c["name"]: c["context"] for c in data.get("contexts", [])}
        current = contexts.get(data.get("current-context")) or next(iter(contexts.values()))
        cluster = next(c["cluster"] for c in data["clusters"]
                       if c["name"] == current["cluster"])
        users = {u["name"]: u.get("user") or {} for u in data.get("users", [])}
        user = users.get(current.get("user"), {})
    except (yaml.YAMLError, KeyError, TypeError, StopIteration, AttributeError) as e:
        raise InputError(f"not a usable kubeconfig ({type(e).__name__}: {e})",
                         where=Where(file=source)) from None

    def blob(d: dict[str, str], key: str) -> bytes | None:
        return b64decode(d[key]) if d.get(key) else None

    return KubeAccess(server=str(cluster["server"]).rstrip("/"), token=user.get("token"),
                      ca_data=blob(cluster, "certificate-authority-data"),
                      cert_data=blob(user, "client-certificate-data"),
                      key_data=blob(user, "client-key-data"),
                      insecure=bool(cluster.get("insecure-skip-tls-verify")))


def joined(plan: ClusterPlan, names: Iterable[str]) -> set[str]:
    """Primary MACs of the plan's nodes among Kubernetes node names (full or short names)."""
    seen = set(names)
    return {n.mac for n in plan.nodes if n.name in seen or n.name.split(".")[0] in seen}


def node_names(access: KubeAccess, timeout: float = 5.0) -> set[str] | None:
    """Names of the nodes the API lists, or None when the API cannot be reached."""
    headers = {"Authorization": f"Bearer {access.token}"} if access.token else {}
    with tempfile.TemporaryDirectory() as tmp:
        verify: ssl.SSLContext | bool = not access.insecure
        if access.server.startswith("https") and not access.insecure:
            ctx = ssl.create_default_context(
                cadata=access.ca_data.decode() if access.ca_data else None)
            if access.cert_data and access.key_data:
                cert, key = Path(tmp, "c.pem"), Path(tmp, "k.pem")
                cert.write_bytes(access.cert_data)
                key.write_bytes(access.key_data)
                ctx.load_cert_chain(cert, key)
            verify = ctx
        try:
            r = httpx.get(f"{access.server}/api/v1/nodes", headers=headers, verify=verify,
                          timeout=timeout)
            r.raise_for_status()
            return {item["metadata"]["name"] for item in r.json().get("items", [])}
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None


def cluster_nodes(folder: Path) -> set[str] | None:
    """The node names lokoctl's cluster reports (None: no kubeconfig or no API)."""
    path = folder / KUBECONFIG
    if not path.is_file():
        return None
    return node_names(parse_kubeconfig(path.read_text(), str(path)))


async def mark_booted(plan: ClusterPlan, store: Store, flags: FlagFiles,
                      stop: asyncio.Event, interval: float = 0.2) -> None:
    """Write each node's flag file once it reports `booted` (lokoctl drives the installs)."""
    by_mac = {n.mac: n for n in plan.nodes}
    last = store.events()[-1].id if store.events() else 0
    while not stop.is_set():
        for e in store.events(since_id=last):
            last = e.id
            node = by_mac.get(e.mac)
            if e.kind is EventKind.BOOTED and node is not None and not flags.done(node.mac):
                await asyncio.to_thread(flags.mark, node)  # file system waits off the loop
                store.add(node.mac, EventKind.PROVISIONED)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def run_logged(argv: tuple[str, ...], cwd: Path, log: Path,
                     tick: Callable[[], None]) -> int:
    """Run a lokoctl command with its output in `log`, calling `tick` while it runs."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdout=out,
                                                    stderr=asyncio.subprocess.STDOUT,
                                                    stdin=asyncio.subprocess.DEVNULL)
        while True:
            try:
                return await asyncio.wait_for(proc.wait(), 0.5)
            except TimeoutError:
                tick()


def missing(plan: ClusterPlan, flags: FlagFiles) -> list[PlannedNode]:
    return [n for n in plan.nodes if not flags.done(n.mac)]


def line(title: str, done: int, total: int, ok: bool | None) -> str:
    outcome = Outcome.RUNNING if ok is None else (Outcome.DONE if ok else Outcome.FAILED)
    return stage_line(title, done, total, outcome)


class Bringup:
    """One Lokomotive bring-up attempt after another, for Provisioner.with_policy."""

    def __init__(self, provisioner: RunContext, store: Store, logs: Path) -> None:
        self.p = provisioner
        self.store = store
        self.logs = logs
        self.folder = provisioner.paths.lokomotive_dir
        self.flags = FlagFiles(asset_dir(provisioner.paths, Provision.LOKOMOTIVE))

    def _say(self, text: str) -> None:
        self.p.say(text)

    async def attempt(self, plan: ClusterPlan) -> list[PlannedNode] | None:
        """None when every stage passed, else the nodes at fault (maybe none)."""
        total = len(plan.nodes)
        stop = asyncio.Event()
        marker = asyncio.create_task(mark_booted(plan, self.store, self.flags, stop))
        try:
            self._say(line(INSTALL_TITLE, total - len(missing(plan, self.flags)), total, None))
            rc = await run_logged(CLUSTER_APPLY, self.folder, self.logs / "lokoctl-cluster.log",
                                  lambda: None)
            for _ in range(25):  # the last `booted` reports may still be on their way
                if not missing(plan, self.flags):
                    break
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await marker
        absent = missing(plan, self.flags)
        self._say(line(INSTALL_TITLE, total - len(absent), total, not absent))
        if absent:
            self._say(f"Failed to provision the following {len(absent)} nodes:")
            self._say(" ".join(n.mac for n in absent))
            self._say(self.p.hint())
            return absent
        for problem in cabling_problems(plan.nodes, self.store):  # from the installers
            self._say(f"  ! cabling check: {problem}")
        names = cluster_nodes(self.folder)
        self._say(line(BRINGUP_TITLE, 0, 0, rc == 0 and names is not None)
                  .replace(" (0/0)", ""))
        if rc != 0 or names is None:
            self._say("Failed to bring up the Kubernetes API (lokoctl's log: "
                      f"{self.logs / 'lokoctl-cluster.log'}).")
            return []
        deadline = asyncio.get_running_loop().time() + max(5.0, 600 * self.p.settings
                                                           .timeout_scale)
        members = joined(plan, names)
        while len(members) < total and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1.0)
            members = joined(plan, cluster_nodes(self.folder) or set())
        ok = len(members) == total
        self._say(line(health_title(len(members), total), 0, 0, ok).replace(" (0/0)", ""))
        if not ok:
            absent = [n for n in plan.nodes if n.mac not in members]
            self._say(f"Failed cluster health check because the following {len(absent)} nodes "
                      "did not join the cluster:")
            self._say(" ".join(n.mac for n in absent))
            self._say(self.p.hint())
            return absent
        rc = await run_logged(COMPONENT_APPLY, self.folder,
                              self.logs / "lokoctl-components.log", lambda: None)
        self._say(line(COMPONENTS_TITLE, 0, 0, rc == 0).replace(" (0/0)", ""))
        if rc != 0:
            self._say("Failed to apply the Lokomotive components on the cluster (lokoctl's log: "
                      f"{self.logs / 'lokoctl-components.log'}).")
            return []
        return None

    def success(self, plan: ClusterPlan) -> None:
        """Link ~/.kube/config to lokoctl's kubeconfig and say what to do next."""
        kube = self.p.paths.home / ".kube" / "config"
        kube.parent.mkdir(parents=True, exist_ok=True)
        kube.unlink(missing_ok=True)
        kube.symlink_to(self.folder / KUBECONFIG)
        self._say(f"Set up {kube} for kubectl. The cluster is ready.")
        self._say("To change the settings, edit ~/lokomotive/baremetal.lokocfg or the Container "
                  "Linux Configs in ~/lokomotive/cl/ and run 'lokoctl cluster apply' or "
                  "'lokoctl component apply' there.")
