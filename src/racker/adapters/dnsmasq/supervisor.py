"""Runs dnsmasq (DHCP + TFTP for iPXE) on the PXE interface, restarts it when it dies.

The configuration is rendered by `racker.core.render.dnsmasq`; this module only starts, checks,
restarts and stops the process. The lease hook drops every lease change and TFTP transfer into
a spool folder, which the supervisor empties into the event store every COLLECT_SEC.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from racker.adapters.dnsmasq.leasehook import LeaseSpool, hook_script
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.store import Store
from racker.errors import ServiceError, Where

COLLECT_SEC = 0.05
"""How often the lease hook's spool is emptied into the store."""
STARTUP_CHECK_SEC = 0.3
"""How long a fresh dnsmasq is watched for an exit at startup (a port in use, a missing
interface): it fails within milliseconds, and then it is an error, not a silent restart loop."""


@dataclass(frozen=True)
class DnsmasqFiles:
    """dnsmasq's files under `<state>/dnsmasq/`."""

    state_dir: Path

    @property
    def dir(self) -> Path:
        return self.state_dir / "dnsmasq"

    @property
    def conf(self) -> Path:
        return self.dir / "dnsmasq.conf"

    @property
    def hook(self) -> Path:
        return self.dir / "lease-hook"

    @property
    def log(self) -> Path:
        return self.dir / "dnsmasq.log"

    @property
    def spool(self) -> Path:
        return self.dir / "lease-events"


def dnsmasq_argv(files: DnsmasqFiles, netns: str | None = None) -> list[str]:
    """The command line (pure). Everything else is in the rendered configuration.

    NOTE: `setpriv --pdeathsig` (util-linux) makes dnsmasq stop when the racker that started it
    dies, even by SIGKILL: an orphaned dnsmasq kept serving the rack after racker had said DHCP
    stops with it, and held the DHCP port against the next racker. The kernel forgets that
    signal when a process changes its group, as dnsmasq does to "dip" by default: hence
    `--group=root` beside `--user=root` (the lease hook writes racker's root-only spool)."""
    argv = ["setpriv", "--pdeathsig", "TERM", "--",
            "dnsmasq", "--keep-in-foreground", f"--conf-file={files.conf}",
            f"--dhcp-script={files.hook}", f"--log-facility={files.log}", "--user=root",
            "--group=root"]
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def check_config(files: DnsmasqFiles) -> None:
    """`dnsmasq --test`: refuse to start on a configuration dnsmasq would not accept."""
    if not files.conf.exists():
        raise ServiceError("the dnsmasq configuration is missing",
                           where=Where(file=str(files.conf)),
                           hint="run 'racker bootstrap' (or 'racker apply') to render it")
    r = subprocess.run(["dnsmasq", "--test", f"--conf-file={files.conf}"],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise ServiceError(f"dnsmasq refuses its configuration: {r.stderr.strip()}",
                           where=Where(file=str(files.conf)))


class Dnsmasq:
    """One supervised dnsmasq: started, restarted with backoff when it dies, stopped."""

    def __init__(self, files: DnsmasqFiles, *, netns: str | None = None,
                 backoff: tuple[float, float] = (1.0, 30.0),
                 on_exit: Callable[[int], None] = lambda _code: None) -> None:
        self.files = files
        self.netns = netns
        self._backoff = backoff
        self._on_exit = on_exit
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._collector: asyncio.Task[None] | None = None
        self._spool: LeaseSpool | None = None
        self._stopping = False
        self._delay = backoff[0]
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Check the configuration, write the hook, start and keep dnsmasq running."""
        check_config(self.files)
        spool = LeaseSpool(self.files.spool, Store.in_state_dir(self.files.state_dir))
        spool.prepare()
        spool.collect()  # what a previous run left
        self._spool = spool
        write_atomic(self.files.hook, hook_script(self.files.spool), 0o755)
        self._stopping = False
        await self._spawn()
        await self._check_started()
        self._task = asyncio.create_task(self._watch())
        self._collector = asyncio.create_task(self._collect())

    async def _check_started(self) -> None:
        """ServiceError with dnsmasq's own words when it exits right after its start."""
        proc = self._proc
        assert proc is not None
        try:
            code = await asyncio.wait_for(proc.wait(), STARTUP_CHECK_SEC)
        except TimeoutError:
            return  # running
        said = (await proc.stderr.read()).decode(errors="replace").strip() if proc.stderr else ""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        raise ServiceError(f"dnsmasq could not start (exit code {code}): "
                           f"{said or 'no message'}", where=Where(file=str(self.files.conf)),
                           hint="another DHCP server may hold port 67 on the PXE interface "
                                "(ss -lunp 'sport = :67' names it): stop it; a running "
                                "'racker serve' hands its own over by itself")

    async def _collect(self) -> None:
        assert self._spool is not None
        while True:
            await asyncio.sleep(COLLECT_SEC)
            self._spool.collect()

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *dnsmasq_argv(self.files, self.netns),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            assert self._proc is not None
            started = loop.time()
            code = await self._proc.wait()
            if self._stopping:
                return
            self._on_exit(code)
            if loop.time() - started > 60:  # it ran fine for a while: not a crash loop
                self._delay = self._backoff[0]
            await asyncio.sleep(self._delay)
            self._delay = max(self._backoff[0], min(self._delay * 2, self._backoff[1]))
            if self._stopping:
                return
            self.restarts += 1
            await self._spawn()

    async def reload(self) -> None:
        """Apply a re-rendered configuration: check it, then restart dnsmasq."""
        check_config(self.files)
        proc = self._proc
        if proc and proc.returncode is None:
            self._delay = 0.0  # the watcher restarts it at once
            proc.terminate()

    async def stop(self) -> None:
        """Stop dnsmasq and the watcher."""
        self._stopping = True
        proc = self._proc
        if proc and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in (self._task, self._collector):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._spool is not None:
            self._spool.close()  # with the last calls, made while dnsmasq stopped
            self._spool = None

