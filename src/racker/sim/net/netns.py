"""Network namespaces: a thin `ip` runner and sockets opened inside a namespace.

NOTE: a socket belongs to the network namespace of the thread that created it, for its whole
life. So the one simulator process opens each node's and BMC's sockets from one dedicated thread
that joins the namespace (setns), makes the socket and returns to its own namespace, and then
uses them from its asyncio loop as usual. That thread runs nothing else.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from racker.errors import RackerError

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class NetnsError(RackerError):
    """An `ip` command or a namespace operation failed."""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Runner:
    """Runs `ip` and friends; the one place the simulator starts short commands."""

    def run_all(self, commands: Sequence[tuple[str | None, Sequence[str]]]) -> None:
        """Run (namespace, ip-args) commands, batching consecutive ones of one namespace."""
        groups: list[tuple[str | None, list[Sequence[str]]]] = []
        for ns, argv in commands:
            if groups and groups[-1][0] == ns:
                groups[-1][1].append(argv)
            else:
                groups.append((ns, [argv]))
        for ns, cmds in groups:
            self.batch(cmds, ns)

    def run(self, argv: Sequence[str], check: bool = True) -> CommandResult:
        """Run `argv` (no shell), capture its output, raise NetnsError on failure if `check`."""
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30,
                              check=False)
        result = CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise NetnsError(f"'{' '.join(argv)}' failed: {proc.stderr.strip()}",
                             hint="racker-sim needs root and iproute2")
        return result

    def batch(self, commands: Sequence[Sequence[str]], ns: str | None = None) -> None:
        """Run `ip` commands (each without the leading `ip`) in one `ip -batch` process,
        inside namespace `ns` when given."""
        if not commands:
            return
        text = "".join(" ".join(c) + "\n" for c in commands)
        argv = ["ip", *(["-n", ns] if ns else []), "-force", "-batch", "-"]
        proc = subprocess.run(argv, input=text, capture_output=True,
                              text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise NetnsError(f"'{' '.join(argv)}' failed: {proc.stderr.strip()[:2000]}",
                             hint="racker-sim needs root and iproute2")


def list_netns() -> list[str]:
    """Names of the named network namespaces (`ip netns list`)."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def netns_pids(name: str) -> list[int]:
    """Pids of processes whose network namespace is `name` (as `ip netns pids`)."""
    try:
        target = os.stat(NETNS_DIR / name)
    except FileNotFoundError:
        return []
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(entry / "ns" / "net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry.name))
    return pids


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _join(name: str) -> None:
    """Move the calling thread into network namespace `name`."""
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
    finally:
        os.close(fd)


def call_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Call `fn` in a fresh thread that has joined network namespace `name`; return its result.

    The thread ends right after, so no other code ever runs in the wrong namespace.
    """
    box: dict[str, object] = {}

    def target() -> None:
        try:
            _join(name)
            box["result"] = fn()
        except BaseException as e:  # handed back to the caller, who re-raises it
            box["error"] = e

    t = threading.Thread(target=target, name=f"setns-{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        err = box["error"]
        assert isinstance(err, BaseException)
        raise err
    return box["result"]  # type: ignore[return-value]


_sockets: ThreadPoolExecutor | None = None
_sockets_lock = threading.Lock()


def _socket_maker() -> ThreadPoolExecutor:
    """The one thread that makes sockets in other namespaces (started on first use)."""
    global _sockets
    with _sockets_lock:
        if _sockets is None:
            _sockets = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns-sockets")
        return _sockets


def _make_socket(name: str, family: int, type_: int, proto: int) -> socket.socket:
    """Join `name`, make the socket, go back: the thread never stays in (and so never keeps
    alive) a namespace that its owner may delete."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _join(name)
        try:
            s = socket.socket(family, type_, proto)
        finally:
            _setns(home)
        s.setblocking(False)
        return s
    finally:
        os.close(home)


def socket_in_netns(name: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    """A new non-blocking socket living in network namespace `name`."""
    return _socket_maker().submit(_make_socket, name, family, type_, proto).result()


async def asocket_in_netns(name: str, family: int, type_: int,
                           proto: int = 0) -> socket.socket:
    """`socket_in_netns` without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(
        _socket_maker(), _make_socket, name, family, type_, proto)
