"""Use case: the `ipmi` helper. Find a node's BMC (or every node's) and run what the operator
asked: ipmitool passthrough, `diag`, the serial console, or the same over all nodes at once.

The pure parts (arguments, settings, argv, texts) are `racker.core.ipmitool`; ipmitool itself
runs in `racker.adapters.bmc.ipmi.passthrough`, for passthrough and the serial console only:
`power status` and `diag` go through racker's own BMC driver (`racker.app.ipmi_builtins`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from racker.adapters.bmc.ipmi.passthrough import BlockSink, Sink, TerminalSink
from racker.adapters.bmc.locate import Found, Locator
from racker.adapters.bmc.protocol import REDFISH
from racker.adapters.fs.consolelog import holder
from racker.adapters.fs.hostsfile import read_text
from racker.app import ipmi_builtins
from racker.app.ipmi_redfish import HelperBmcs
from racker.core import discovery
from racker.core import ipmitool as h
from racker.errors import RackerError
from racker.model import Credentials, Inventory, Node
from racker.paths import Paths


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
    redfish: HelperBmcs | None = None
    """Protocol choice and Redfish calls; None: every BMC is driven with ipmitool."""
    console_dir: Path | None = None
    """Where racker records consoles (it says which node's SOL session a run holds)."""
    confirm: Callable[[str], bool] | None = None
    """Asks the operator a yes/no question (an interactive terminal); None: nobody to ask."""


def run_node(node: Node, request: h.Request, ctx: Context, sink: Sink) -> int:
    """Find the node's BMC and do what `request` asks; returns ipmitool's exit code."""
    s = ctx.settings
    found = None
    if ctx.located is not None:
        found = ctx.located.get(node.bmc_mac)
        if found is None:
            raise ctx.locator.not_found(node.bmc_mac, s.retry_sec, node=node.primary_mac)
    else:
        # the quick sources first (leases, neighbours): a BMC they do not know may take the
        # whole RETRY_SEC, and the operator is told what racker waits for at once
        found = ctx.locator.lookup_once(node.bmc_mac, scan=False)
        if found is None:
            sink.echo(h.waiting_line(node.bmc_mac, ctx.locator.pxe_interface, s.retry_sec))
    bmc = ctx.locator.locate_bmc(node.bmc_mac, s.retry_sec, node=node.primary_mac,
                                 planned_ip=ctx.planned.get(node.bmc_mac), found=found)
    warning = h.bmc_ip_warning(bmc.ip, bmc.planned_ip)
    if warning:
        sink.echo(warning)

    def argv(command: Sequence[str]) -> list[str]:
        return h.ipmitool_argv(bmc.ip, ctx.credentials.user, command, s.ipmi_timeout)

    if ctx.redfish is not None and ctx.redfish.protocol(node.bmc_mac, bmc.ip) == REDFISH:
        if request.kind is not h.Kind.SOL:
            return _run_redfish(node, bmc.ip, request, ctx, ctx.redfish, sink)
        if not ctx.redfish.has_sol(bmc.ip):
            raise h.no_sol_error(node.primary_mac)
    if request.kind is h.Kind.SOL:
        recorder = holder(ctx.console_dir, node.primary_mac) if ctx.console_dir else None
        if recorder is not None:
            held = (f"racker (pid {recorder}) is recording this node's console over Serial over "
                    "LAN")
            if ctx.confirm is not None and not ctx.confirm(
                    f"{held}. Take the session over (racker's recording stops while you are "
                    "attached)? [y/N] "):
                sink.echo(f"Left racker's recording alone; 'racker node console-log "
                          f"{node.primary_mac} -f' follows it.")
                return 1
            sink.echo(f"{held}; taking the session over. racker records again once you leave "
                      "(it does not take it back from you); the lines you see here are not "
                      "in 'racker node console-log'.")
        sink.quiet(argv(("sol", "deactivate")))  # a dangling session would refuse activate
        sink.echo(h.detach_hint(s.in_ssh))
        return sink.run(argv(h.SOL))
    if request.kind is h.Kind.DIAG:
        for line in _diag_header(node, bmc.ip, ctx):
            sink.echo(line)
        return sink.run(argv(h.BATCH), h.batch_input(h.DIAG_COMMANDS))
    return sink.run(argv(request.command))


def _diag_header(node: Node, bmc_ip: str, ctx: Context) -> list[str]:
    """diag's address lines, with warnings where the node's address is not the planned one."""
    nic = ctx.locator.lookup_once(node.primary_mac)  # once: the node may well be off
    internal = nic.ip if nic else None
    planned_internal = ctx.planned.get(node.primary_mac)
    warning = h.internal_ip_warning(internal, planned_internal)
    # The planned address names the node in the hosts file; without a plan, the found one.
    name_ip = planned_internal or internal
    names = discovery.names_for_ip(ctx.hosts, name_ip) if name_ip else ()
    return ([warning] if warning else []) + h.diag_lines(node.bmc_mac, bmc_ip, node.primary_mac,
                                                         internal, names)


def _run_redfish(node: Node, bmc_ip: str, request: h.Request, ctx: Context, bmcs: HelperBmcs,
                 sink: Sink) -> int:
    """diag and power for a BMC driven over Redfish; other ipmitool commands are refused."""
    if request.kind is h.Kind.DIAG:
        for line in _diag_header(node, bmc_ip, ctx):
            sink.echo(line)
        for line in bmcs.facts_lines(node.primary_mac, node.bmc_mac, bmc_ip):
            sink.echo(line)
        return 0
    action = h.redfish_power_action(request.command)
    if action is None:
        raise h.redfish_only_error(node.primary_mac, request.command)
    state = bmcs.power(node.primary_mac, node.bmc_mac, bmc_ip, action)
    sink.echo(h.POWER_LINES[action].format(state=state.value))
    return 0


def _block_for(node: Node, request: h.Request, ctx: Context, env: Mapping[str, str]) -> tuple[
        str, bool]:
    text, ok = _text_for(node, request, ctx, env)
    return h.all_block(node.bmc_mac, text, ok), ok


def _text_for(node: Node, request: h.Request, ctx: Context, env: Mapping[str, str]) -> tuple[
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
    return sink.text(), ok


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


def run_builtin(request: h.Request, ctx: Context, node: Node | None, nodes: Sequence[Node],
                bmcs: ipmi_builtins.Bmcs) -> int:
    """`power status` or `diag` through racker's BMC driver for `node` or, with `--all`,
    every one of `nodes`."""
    planned = dict(ctx.planned)

    def internal(mac: str) -> str | None:
        nic = ctx.locator.lookup_once(mac)
        return nic.ip if nic else None

    if node is None:
        return asyncio.run(ipmi_builtins.run_all(nodes, request, bmcs, planned, ctx.hosts,
                                                 internal))
    # the quick sources first (leases, neighbours): a BMC they do not know may take the whole
    # RETRY_SEC, and the operator is told what racker waits for at once
    if ctx.locator.lookup_once(node.bmc_mac, scan=False) is None:
        print(h.waiting_line(node.bmc_mac, ctx.locator.pxe_interface, ctx.settings.retry_sec),
              flush=True)
    return asyncio.run(ipmi_builtins.run_one(node, request, bmcs, planned, ctx.hosts, internal))


def run_request(request: h.Request, settings: h.Settings, paths: Paths, inventory: Inventory,
                credentials: Credentials, locator: Locator, env: Mapping[str, str],
                bmcs: Callable[[], ipmi_builtins.Bmcs], redfish: HelperBmcs | None = None,
                confirm: Callable[[str], bool] | None = None) -> int:
    """Do what `request` asks for one node or, with `--all`, for every node; `bmcs` makes the
    rack's BMCs (racker's driver, each BMC over its protocol) for the built-in subcommands,
    `redfish` sends the others of a BMC driven over Redfish its way (None: ipmitool only),
    `confirm` asks the operator before the serial console is taken from racker's recording."""
    ctx = Context(
        settings=settings, credentials=credentials, locator=locator,
        planned=locator.planned(), hosts=discovery.parse_hosts(read_text(paths.hosts_file)),
        redfish=redfish, console_dir=paths.console_dir, confirm=confirm,
    )
    node = None if request.all_nodes else h.resolve_node(request.target, inventory, ctx.planned,
                                                         ctx.hosts)
    if request.kind.builtin:
        return run_builtin(request, ctx, node, h.all_nodes(inventory), bmcs())
    child = h.child_env(env, credentials.password)
    if node is None:
        return run_all(h.all_nodes(inventory), request, ctx, child)
    return run_node(node, request, ctx, TerminalSink(settings, child, credentials.password))


def diagnose_all(settings: h.Settings, paths: Paths, inventory: Inventory,
                 credentials: Credentials, locator: Locator, env: Mapping[str, str],
                 redfish: HelperBmcs | None = None, *, only: Collection[str] | None = None
                 ) -> dict[str, tuple[str, bool]]:
    """`ipmi --all diag` as data (`racker status --json --full`): node primary MAC → (the
    diagnosis text, whether it succeeded); `only` those primary MACs (the dashboard's one)."""
    ctx = Context(
        settings=settings, credentials=credentials, locator=locator,
        planned=locator.planned(), hosts=discovery.parse_hosts(read_text(paths.hosts_file)),
        redfish=redfish,
    )
    nodes = [n for n in h.all_nodes(inventory) if only is None or n.primary_mac in only]
    if not nodes:
        return {}
    child = h.child_env(env, credentials.password)
    request = h.parse_args(["--all", "diag"])
    assert request is not None
    located = locator.find_many([n.bmc_mac for n in nodes], settings.retry_sec)
    ctx = dataclasses.replace(ctx, located=located)
    with ThreadPoolExecutor(max_workers=min(h.MAX_PARALLEL, len(nodes))) as pool:
        results = list(pool.map(lambda n: _text_for(n, request, ctx, child), nodes))
    return {n.primary_mac: r for n, r in zip(nodes, results, strict=True)}
