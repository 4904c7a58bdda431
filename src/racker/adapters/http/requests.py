"""What the boot server's routers share: the catalog, the store, and how a request is
recorded, checked and tied to a node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from racker.adapters.fs.store import Store
from racker.core.bootnode import BootNode, Catalog
from racker.core.events import EventKind
from racker.core.macs import parse_mac
from racker.errors import Forbidden, InputError, NotFound

__all__ = ["Forbidden", "NotFound"]  # the errors the routers raise, re-exported

NodeReport = Callable[[BootNode, EventKind], Awaitable[None]]
"""Called when a node reports `installed` or `booted`, before the answer is sent.

The engine sets the boot device to disk here: the installer reboots only once it has its answer.
"""


async def accept_report(node: BootNode, kind: EventKind) -> None:
    """The report handler of a boot server that drives no BMC (tests, `racker serve`)."""
    return None


@dataclass(frozen=True)
class BootServerConfig:
    base_url: str
    """`http://MGMT:8080` as nodes reach it."""
    assets_dir: Path
    ignition_from_any_source: bool = False


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

    def node_by_ip(self, ip: str | None) -> BootNode | None:
        """The node whose internal address is `ip`, if any."""
        return next((n for n in self.catalog.all() if n.ip == ip), None)

    def record(self, request: Request, node: BootNode | None, status: int) -> None:
        """Every request is an event in the store, tied to the node it was for (or came from)."""
        client = client_of(request)
        who = node or self.node_by_ip(client)
        self.store.add(
            who.mac if who else "",
            EventKind.REQUEST,
            detail={"path": request.url.path, "query": str(request.url.query),
                    "client": client or "", "status": status},
        )

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
