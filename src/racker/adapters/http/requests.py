"""What the boot server's routers share: the catalog, the store, and how a request is
recorded, checked and tied to a node."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request

from racker.adapters.fs.store import Store
from racker.core.bootnode import BootNode, Catalog
from racker.core.events import EventKind
from racker.core.macs import parse_mac
from racker.core.nodetrust import (
    INSTALL_WINDOW,
    OPENS_STAGE,
    WINDOW_KINDS,
    ReportGate,
    in_install_window,
    report_epoch_kinds,
)
from racker.errors import Forbidden, InputError, NotFound, TooBusy, TooLarge

# the errors the routers raise, re-exported
__all__ = ["Forbidden", "NotFound", "TooBusy", "TooLarge"]

NodeReport = Callable[[BootNode, EventKind], Awaitable[None]]
"""Called when a node reports `installed` or `booted`, before the answer is sent.

The engine sets the boot device to disk here: the installer reboots only once it has its answer.
"""


async def accept_report(node: BootNode, kind: EventKind) -> None:
    """The report handler of a boot server that drives no BMC (tests, `racker serve`)."""
    return None


TRIM_EVERY = 1000
"""Requests recorded between two trims of the request log."""


MAX_BODY = 4 << 20
"""Bytes a request body may have: room for a node's hardware inventory or a log excerpt
(hundreds of kB), far below what would let a client fill the management node's memory."""


@dataclass(frozen=True)
class BootServerConfig:
    base_url: str
    """`http://MGMT:8080` as nodes reach it."""
    assets_dir: Path
    ignition_from_any_source: bool = False
    downloads_per_client: int = 4
    """Asset downloads one address may run at once (a node fetches one file at a time)."""
    max_body: int = MAX_BODY
    """Bytes a request body may have (node reports are a few dozen)."""
    request_log: int = 200_000
    """Request events kept in the store (the oldest are deleted beyond: a flood of requests
    must not fill the disk)."""
    install_window: float = INSTALL_WINDOW
    """Seconds after racker powers a node on from the network during which its installer
    Ignition is served and its `installed` report accepted."""

    @property
    def management_ip(self) -> str:
        """This machine's address on the rack network (the host of `base_url`)."""
        return urlsplit(self.base_url).hostname or ""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, refused with TooLarge once it passes `limit` bytes: at once for a
    declared Content-Length, else as the chunks arrive (nothing past the limit is kept)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the request body has {declared} bytes, more than {limit} accepted")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body has more than {limit} bytes accepted")
        chunks.append(chunk)
    return b"".join(chunks)


def client_of(request: Request) -> str | None:
    """The peer's address."""
    return request.client.host if request.client else None


@dataclass(frozen=True)
class Served:
    """The state behind every route: configuration, node catalog, event store, report hook."""

    config: BootServerConfig
    catalog: Catalog
    store: Store
    on_report: NodeReport = accept_report
    clock: Callable[[], float] = field(default=time.time)
    gate: ReportGate = field(default_factory=lambda: ReportGate(time.monotonic))
    """Reports acted on at most once per node, kind and interval."""
    downloads: dict[str, int] = field(default_factory=dict)
    """Running asset downloads per client address."""
    _recorded: list[int] = field(default_factory=lambda: [0])

    def start_download(self, request: Request) -> Callable[[], None]:
        """Count a download of the client's; TooBusy beyond its limit. Returns the function
        that ends it."""
        client = client_of(request) or ""
        running = self.downloads.get(client, 0)
        if running >= self.config.downloads_per_client:
            raise TooBusy(f"{client} already downloads {running} files",
                          hint="fetch one file after the other")
        self.downloads[client] = running + 1

        def done() -> None:
            left = self.downloads.get(client, 1) - 1
            if left > 0:
                self.downloads[client] = left
            else:
                self.downloads.pop(client, None)

        return done

    async def body(self, request: Request) -> bytes:
        """The request's body; TooLarge beyond `config.max_body` bytes, whatever the client
        says."""
        return await read_body(request, self.config.max_body)

    def node_by_ip(self, ip: str | None) -> BootNode | None:
        """The node whose internal address is `ip`, if any."""
        return next((n for n in self.catalog.all() if n.ip == ip), None)

    def record(self, request: Request, node: BootNode | None, status: int,
               problem: str | None = None) -> None:
        """Every request is an event in the store, tied to the node it was for (or came from);
        a node's report names its kind (`report`), a refused request why (`problem`)."""
        client = client_of(request)
        who = node or self.node_by_ip(client)
        detail: dict[str, object] = {"path": request.url.path, "query": str(request.url.query),
                                     "client": client or "", "status": status}
        report = getattr(request.state, "report", None)
        if report is not None:
            detail["report"] = report
        if problem is not None:
            detail["problem"] = problem
        if who is not None and client != who.ip:
            # anyone can name a node with ?mac=: the timeline shows it was not the node
            detail["foreign"] = True
        self.store.add(who.mac if who else "", EventKind.REQUEST, detail=detail)
        self._recorded[0] += 1
        if self._recorded[0] % TRIM_EVERY == 0:
            self.store.trim(EventKind.REQUEST, self.config.request_log)

    def lookup(self, raw_mac: str | None) -> BootNode:
        """The node of a MAC given by a client; InputError or NotFound otherwise."""
        mac = parse_mac(raw_mac or "")
        if mac is None:
            raise InputError(f"'{raw_mac or ''}' is not a MAC address",
                             hint="use ?mac=aa-bb-cc-dd-ee-ff or aa:bb:cc:dd:ee:ff")
        node = self.catalog.get(mac)
        if node is None:
            raise NotFound(f"no node with MAC {mac} in this rack")
        return node

    def check_source(self, request: Request, node: BootNode) -> None:
        """Forbidden unless the request comes from the node's own address (its Ignition can
        hold secrets; its reports change its boot device)."""
        client = client_of(request)
        if not self.config.ignition_from_any_source and client != node.ip:
            raise Forbidden(f"{node.name} ({node.mac}) may only be served to {node.ip}, "
                            f"not to {client}")

    def check_install_window(self, node: BootNode, what: str) -> None:
        """Forbidden unless racker is installing `node` now (a PXE boot racker started: the
        engine's `pxe` stage or `racker pxe-boot`, not yet reported installed or failed)."""
        last = self.store.last_of(node.mac, WINDOW_KINDS, stage=OPENS_STAGE)
        if not in_install_window(last, self.clock(), self.config.install_window):
            raise Forbidden(f"{what} of {node.name} ({node.mac}) refused: racker is not "
                            "installing this node now",
                            hint="a node is installed only while 'racker bootstrap', 'racker "
                                 "apply', 'racker node reprovision' or 'racker pxe-boot' runs "
                                 "for it")

    def report_epoch(self, node: BootNode, kind: EventKind) -> int:
        """The id of the event that began the current epoch of `node`'s reports of `kind`
        (0: none yet); see `ReportGate`."""
        kinds, stage = report_epoch_kinds(kind)
        last = self.store.last_of(node.mac, kinds, stage=stage)
        return last.id if last is not None else 0

    def check_management(self, request: Request, node: BootNode | None = None) -> None:
        """Forbidden unless the request comes from this machine (loopback or the management
        address) or, when `node` is given, from that node itself: the lists of MACs and
        addresses are not for the rest of the rack network."""
        client = client_of(request) or ""
        if client == self.config.management_ip or (node is not None and client == node.ip):
            return
        try:
            if ipaddress.ip_address(client).is_loopback:
                return
        except ValueError:
            pass
        raise Forbidden(f"{request.url.path} is served only to this machine, not to {client}",
                        hint="ask from the management node itself (loopback)")
