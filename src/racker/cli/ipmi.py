"""`ipmi`: run ipmitool against a node's BMC, found by MAC or host name; `diag`; `--all`.

The pure parts (arguments, node lookup, argv, texts) are in `racker.core.ipmitool`; finding the
BMC is `racker.adapters.bmc.locate`. This module only wires them and runs `ipmitool`, with the
password in the child's environment (`-E` reads IPMI_PASSWORD), never in an argv or in output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from racker.adapters.bmc.locate import Found, Locator
from racker.cli.run import run_main
from racker.core import discovery
from racker.core import ipmitool as h
from racker.errors import BmcError, RackerError
from racker.model import Credentials, Inventory, Node
from racker.paths import Paths


@dataclass(frozen=True)
class Loaders:
    """Where the inventory and the credentials come from (injected by tests)."""

    inventory: Callable[[Paths], Inventory]
    credentials: Callable[[Paths], Credentials]


def default_loaders() -> Loaders:
    """The foundation's loaders, `racker.core.inventory` and `racker.adapters.fs.credentials`."""
    # Imported when needed: `ipmi -h` stays fast.
    from racker.adapters.fs.credentials import load_credentials
    from racker.core.inventory import load_inventory

    return Loaders(inventory=load_inventory, credentials=load_credentials)


def _ipmitool() -> str:
    exe = shutil.which("ipmitool") or shutil.which("ipmitool", path="/usr/sbin:/usr/bin")
    if exe is None:
        raise BmcError("ipmitool is not installed", hint="install the Debian package ipmitool")
    return exe


class Sink(Protocol):
    """Where a node's text and ipmitool output go: the terminal, or an `--all` block."""

    def echo(self, line: str) -> None: ...

    def run(self, argv: list[str], stdin_text: str | None = None) -> int: ...

    def quiet(self, argv: list[str]) -> None: ...


class TerminalSink:
    """One node: lines to stdout, ipmitool attached to the terminal (USE_STDIN / USE_TTY)."""

    def __init__(self, settings: h.Settings, env: Mapping[str, str], secret: str) -> None:
        self._settings = settings
        self._env = dict(env)
        self._secret = secret

    def echo(self, line: str) -> None:
        print(line, flush=True)

    def run(self, argv: list[str], stdin_text: str | None = None) -> int:
        argv = [_ipmitool(), *argv[1:]]
        stdin: int | None = None if self._settings.use_stdin else subprocess.DEVNULL
        if stdin_text is not None:
            stdin = subprocess.PIPE
        if self._settings.use_tty:
            # The child owns the terminal (sol activate switches it to raw mode itself).
            if stdin_text is not None:
                return subprocess.run(argv, env=self._env, input=stdin_text, check=False,
                                      text=True).returncode
            return subprocess.run(argv, env=self._env, stdin=stdin, check=False).returncode
        # No terminal for the child: its output goes through a pipe and on to our stdout.
        with subprocess.Popen(argv, env=self._env, stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace") as p:
            assert p.stdout is not None
            if stdin_text is not None:
                assert p.stdin is not None
                p.stdin.write(stdin_text)
                p.stdin.close()
            for line in p.stdout:
                sys.stdout.write(h.redact(line, self._secret))
                sys.stdout.flush()
            return p.wait()

    def quiet(self, argv: list[str]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([_ipmitool(), *argv[1:]], env=self._env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=h.deadline_sec(self._settings),
                           check=False)


class BlockSink:
    """One node of `--all`: everything is collected and printed as one block later."""

    def __init__(self, settings: h.Settings, env: Mapping[str, str], secret: str) -> None:
        self._env = dict(env)
        self._secret = secret
        self._deadline = h.deadline_sec(settings)
        self.lines: list[str] = []

    def echo(self, line: str) -> None:
        self.lines.append(line)

    def _capture(self, argv: list[str], stdin_text: str | None = None) -> tuple[int, str]:
        # stdin is never shared between concurrent children: a batch text or nothing.
        try:
            p = subprocess.run([_ipmitool(), *argv[1:]], env=self._env, input=stdin_text or "",
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", timeout=self._deadline, check=False)
        except subprocess.TimeoutExpired:
            return 124, (f"Error: no answer from the BMC within {self._deadline:g} s "
                         "(ipmitool stopped); set IPMI_TIMEOUT to change the limit")
        return p.returncode, p.stdout

    def run(self, argv: list[str], stdin_text: str | None = None) -> int:
        rc, out = self._capture(argv, stdin_text)
        if out:
            self.lines.append(h.redact(out.rstrip("\n"), self._secret))
        return rc

    def quiet(self, argv: list[str]) -> None:
        self._capture(argv)

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Context:
    """Everything a node run needs, read once."""

    settings: h.Settings
    credentials: Credentials
    locator: Locator
    planned: Mapping[str, str]
    hosts: Sequence[discovery.HostsEntry]
    located: Mapping[str, Found] | None = None
    """BMC MAC → address, when looked up for many nodes at once (`--all`); None: look up."""


def run_node(node: Node, request: h.Request, ctx: Context, sink: Sink) -> int:
    """Find the node's BMC and do what `request` asks; returns ipmitool's exit code."""
    s = ctx.settings
    found = None
    if ctx.located is not None:
        found = ctx.located.get(node.bmc_mac)
        if found is None:
            raise ctx.locator.not_found(node.bmc_mac, s.retry_sec, node=node.primary_mac)
    bmc = ctx.locator.locate_bmc(node.bmc_mac, s.retry_sec, node=node.primary_mac,
                                 planned_ip=ctx.planned.get(node.bmc_mac), found=found)
    warning = h.bmc_ip_warning(bmc.ip, bmc.planned_ip)
    if warning:
        sink.echo(warning)

    def argv(command: Sequence[str]) -> list[str]:
        return h.ipmitool_argv(bmc.ip, ctx.credentials.user, command, s.ipmi_timeout)

    if request.kind is h.Kind.SOL:
        sink.quiet(argv(("sol", "deactivate")))  # a dangling session would refuse activate
        sink.echo(h.detach_hint(s.in_ssh))
        return sink.run(argv(h.SOL))
    if request.kind is h.Kind.DIAG:
        nic = ctx.locator.lookup_once(node.primary_mac)  # once: the node may well be off
        internal = nic.ip if nic else None
        planned_internal = ctx.planned.get(node.primary_mac)
        warning = h.internal_ip_warning(internal, planned_internal)
        if warning:
            sink.echo(warning)
        # The planned address names the node in the hosts file; without a plan, the found one.
        name_ip = planned_internal or internal
        names = discovery.names_for_ip(ctx.hosts, name_ip) if name_ip else ()
        for line in h.diag_lines(node.bmc_mac, bmc.ip, node.primary_mac, internal, names):
            sink.echo(line)
        return sink.run(argv(h.BATCH), h.batch_input(h.DIAG_COMMANDS))
    return sink.run(argv(request.command))


def _block_for(node: Node, request: h.Request, ctx: Context, env: Mapping[str, str]) -> tuple[
        str, bool]:
    sink = BlockSink(ctx.settings, env, ctx.credentials.password)
    try:
        ok = run_node(node, request, ctx, sink) == 0
    except RackerError as e:
        sink.echo(f"Error: {e}")
        ok = False
    hint = None if ok else h.failure_hint(sink.text())
    if hint:
        sink.echo(hint)
    return h.all_block(node.bmc_mac, sink.text(), ok), ok


def run_all(nodes: Sequence[Node], request: h.Request, ctx: Context,
            env: Mapping[str, str]) -> int:
    """Every node at once (bounded); blocks print in the nodes' order as soon as they are ready."""
    failed = 0
    if not nodes:
        return 0
    # One shared search for every BMC first: a rack of missing BMCs waits RETRY_SEC once.
    located = ctx.locator.find_many([n.bmc_mac for n in nodes], ctx.settings.retry_sec)
    ctx = dataclasses.replace(ctx, located=located)
    with ThreadPoolExecutor(max_workers=min(h.MAX_PARALLEL, len(nodes))) as pool:
        for block, ok in pool.map(lambda n: _block_for(n, request, ctx, env), nodes):
            sys.stdout.write(block)
            sys.stdout.flush()
            failed += not ok
    return 1 if failed else 0


def _read(path: os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        loaders: Loaders | None = None) -> int:
    """`ipmi` with its arguments; `env` and `loaders` default to the real ones."""
    e = os.environ if env is None else env
    request = h.parse_args(argv)
    if request is None:
        retry = h.DEFAULT_RETRY_SEC
        with contextlib.suppress(RackerError):  # help must work even with a bad RETRY_SEC
            retry = h.parse_settings(e).retry_sec
        helped = bool(argv)
        print(h.usage(retry_sec=retry), file=sys.stdout if helped else sys.stderr)
        return 0 if helped else 2
    settings = h.parse_settings(e)
    paths = Paths.from_env(e)
    load = loaders or default_loaders()
    inventory = load.inventory(paths)
    credentials = load.credentials(paths)
    locator = Locator(paths, inventory.pxe_interface)
    ctx = Context(
        settings=settings, credentials=credentials, locator=locator,
        planned=locator.planned(), hosts=discovery.parse_hosts(_read(paths.hosts_file)),
    )
    child = h.child_env(e, credentials.password)
    if request.all_nodes:
        return run_all(h.all_nodes(inventory), request, ctx, child)
    node = h.resolve_node(request.target, inventory, ctx.planned, ctx.hosts)
    return run_node(node, request, ctx, TerminalSink(settings, child, credentials.password))


def main(argv: Sequence[str] | None = None) -> int:
    """The `ipmi` console script."""
    return run_main("ipmi", run, argv)


if __name__ == "__main__":
    sys.exit(main())
