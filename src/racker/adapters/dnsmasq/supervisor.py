"""Runs dnsmasq (DHCP + TFTP for iPXE) on the PXE interface, restarts it when it dies,
rotates its log.

The configuration is rendered by `racker.core.render.dnsmasq`; this module only starts, checks,
restarts and stops the process. The lease hook drops every lease change and TFTP transfer into
a spool folder, which the supervisor empties into the event store every COLLECT_SEC.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from racker.adapters.dnsmasq.leasehook import LeaseSpool, hook_script
from racker.adapters.dnsmasq.signals import send_signal, send_signal_async
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.store import Store
from racker.errors import ServiceError, Where

COLLECT_SEC = 0.05
"""How often the lease hook's spool is emptied into the store."""
LOG_MAX = 8 << 20
"""Bytes of dnsmasq.log before it is rotated (dnsmasq.log.1 is the one older file kept)."""


class RotatingLog:
    """An append-only log file racker writes, renamed to `<name>.1` when it reaches `max_bytes`.

    NOTE: dnsmasq logs to its stderr (`--log-facility=-`) and racker writes the file: dnsmasq,
    no longer root, could neither reopen a file in racker's private state folder after a
    rotation nor would racker, without CAP_DAC_OVERRIDE, be allowed to empty a file dnsmasq owns.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._f = self._open()

    def _open(self) -> BinaryIO:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        return os.fdopen(fd, "ab")

    def write(self, data: bytes) -> None:
        """Append `data` (whole lines), then rotate when the file is full."""
        self._f.write(data)
        self._f.flush()
        if self._f.tell() >= self.max_bytes:
            self._f.close()
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self._f = self._open()

    def close(self) -> None:
        """Close the file."""
        self._f.close()


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

    @property
    def pid_file(self) -> Path:
        """Where dnsmasq writes its pid (the rendered configuration's `pid-file`)."""
        return self.dir / "dnsmasq.pid"


def dnsmasq_argv(files: DnsmasqFiles, netns: str | None = None, *,
                 user: str = "dnsmasq", group: str = "nogroup") -> list[str]:
    """The command line (pure). Everything else is in the rendered configuration.

    dnsmasq binds its ports, opens its lease file, log and pid file as root, then runs as `user`
    and `group`; only its helper that runs the lease hook stays root (the hook writes racker's
    root-only spool). It logs to stderr, which racker writes to `files.log` (`RotatingLog`)."""
    argv = ["dnsmasq", "--keep-in-foreground", f"--conf-file={files.conf}",
            f"--dhcp-script={files.hook}", "--log-facility=-", f"--user={user}",
            f"--group={group}"]
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def unprivileged_user() -> tuple[str, str]:
    """The user and group dnsmasq runs as: Debian's `dnsmasq` user where the dnsmasq package
    made it, else `nobody`; the group `nogroup` (dnsmasq's own default, `dip`, may own modems)."""
    try:
        pwd.getpwnam("dnsmasq")
        user = "dnsmasq"
    except KeyError:
        user = "nobody"
    try:
        grp.getgrnam("nogroup")
        group = "nogroup"
    except KeyError:
        group = "nobody"
    return user, group


def stop_orphan(files: DnsmasqFiles, timeout: float = 5.0) -> int | None:
    """Stop a dnsmasq of this state folder that outlived the racker that started it; its pid.

    NOTE: once dnsmasq changes its user the kernel forgets a parent-death signal, so a racker
    killed with SIGKILL leaves its dnsmasq serving the rack and holding the DHCP port (under
    systemd the service's cgroup is stopped whole). It is found by its pid file and its command
    line, and stopped only when no racker is its parent: a running `racker serve` keeps its own.
    ServiceError when another racker supervises it.
    """
    try:
        pid = int(files.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    cmdline = _cmdline(pid)
    if "dnsmasq" not in cmdline or f"--conf-file={files.conf}" not in cmdline:
        return None  # an old pid file: the number belongs to another process by now
    parent = _ppid(pid)
    if parent is not None and parent > 1 and "racker" in _cmdline(parent):
        raise ServiceError(f"racker's dnsmasq already runs for {files.state_dir} (pid {pid}, "
                           f"supervised by pid {parent})",
                           hint="stop 'racker serve' (systemctl stop racker-serve) first")
    user, group = unprivileged_user()
    send_signal(pid, signal.SIGTERM, user, group)
    deadline = time.monotonic() + timeout
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(pid):
        send_signal(pid, signal.SIGKILL, user, group)
    return pid


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat[stat.rfind(")") + 2:].split(" ")[:2]
    return state, int(ppid)


def _ppid(pid: int) -> int | None:
    st = _stat(pid)
    return st[1] if st else None


def running(pid: int) -> bool:
    """True when `pid` exists and has not exited (a zombie has)."""
    st = _stat(pid)
    return st is not None and st[0] != "Z"


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
                 backoff: tuple[float, float] = (0.2, 30.0),
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
        self.log_max = LOG_MAX
        self._pumps: set[asyncio.Task[None]] = set()
        self.user, self.group = unprivileged_user()
        self.on_orphan: Callable[[int], None] = lambda _pid: None
        """Told the pid of a dnsmasq a killed racker left behind, once it was stopped."""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Check the configuration, stop an orphan, write the hook, start and keep dnsmasq
        running."""
        check_config(self.files)
        orphan = await asyncio.to_thread(stop_orphan, self.files)
        if orphan is not None:
            self.on_orphan(orphan)
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
        # NOTE: dnsmasq's stderr is its log, pumped into dnsmasq.log: its last words are there
        if self._pumps:
            await asyncio.wait(set(self._pumps), timeout=2)
        try:
            lines = self.files.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        said = " ".join(line.strip() for line in lines[-3:])
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

    async def _pump_log(self, proc: asyncio.subprocess.Process) -> None:
        """dnsmasq's log lines (its stderr) into dnsmasq.log, rotated at `log_max` bytes."""
        assert proc.stderr is not None
        log: RotatingLog | None = None
        with contextlib.suppress(OSError):  # a full state filesystem: lines are dropped
            log = RotatingLog(self.files.log, self.log_max)
        try:
            while True:
                try:
                    line = await proc.stderr.readline()
                except ValueError:  # a line longer than the reader's buffer: take a part
                    line = await proc.stderr.read(1 << 16)
                if not line:
                    return
                if log is not None:
                    try:
                        log.write(line)
                    except OSError:
                        # NOTE: a full state filesystem: the lines are dropped, dnsmasq keeps
                        # its stderr drained (the run reports the full filesystem itself)
                        with contextlib.suppress(OSError):
                            log.close()
                        log = None
        finally:
            if log is not None:
                with contextlib.suppress(OSError):
                    log.close()

    async def _spawn(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *dnsmasq_argv(self.files, self.netns, user=self.user, group=self.group),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        pump = asyncio.create_task(self._pump_log(self._proc))
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)

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

    async def _signal(self, proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        """Signal the running dnsmasq (as its user where racker lacks CAP_KILL)."""
        if proc.returncode is None:
            await send_signal_async(proc.pid, sig, self.user, self.group)

    async def reload(self) -> None:
        """Apply a re-rendered configuration: check it, then restart dnsmasq."""
        check_config(self.files)
        proc = self._proc
        if proc and proc.returncode is None:
            self._delay = 0.0  # the watcher restarts it at once
            await self._signal(proc, signal.SIGTERM)

    async def stop(self) -> None:
        """Stop dnsmasq and the watcher."""
        self._stopping = True
        proc = self._proc
        if proc and proc.returncode is None:
            await self._signal(proc, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                await self._signal(proc, signal.SIGKILL)
                await proc.wait()
        for task in (self._task, self._collector):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for pump in list(self._pumps):  # they end with dnsmasq's stderr
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(pump, 5)
        if self._spool is not None:
            self._spool.close()  # with the last calls, made while dnsmasq stopped
            self._spool = None

