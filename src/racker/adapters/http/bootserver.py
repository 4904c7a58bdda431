"""The boot server: matchbox-compatible iPXE/Ignition endpoints plus racker's events API.

`GET /boot.ipxe`, `GET /ipxe?mac=&uuid=`, `GET /ignition?mac=&os=`, `GET /metadata?mac=`,
`GET /assets/...` (Range requests, no path traversal), `POST /racker/v1/nodes/{mac}/events`
(and `/racker/v1/self/events`, the node named by its address),
`GET /racker/v1/nodes`. Every request becomes an event in the store. A node's Ignition (which can
hold secrets) is served only to requests from that node's internal IP unless configured otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from racker.adapters.fs.store import EventKind, Store
from racker.core.macs import parse_mac
from racker.core.render.ipxe import InstallBoot, boot_script, install_script
from racker.errors import BmcError, InputError, RackerError


@dataclass(frozen=True)
class BootNode:
    """What the boot server knows of one node."""

    mac: str
    ip: str
    name: str
    install_ignition: bytes
    """Ignition JSON of the installer (`os=installer`)."""
    node_ignition: bytes
    """Ignition JSON of the installed node (`os=installed`)."""
    metadata: Mapping[str, str] = field(default_factory=dict)


class Catalog(Protocol):
    """Where the boot server looks nodes up; the engine swaps in a new one on re-render."""

    def get(self, mac: str) -> BootNode | None: ...

    def all(self) -> Sequence[BootNode]: ...


class StaticCatalog:
    """A catalog held in memory, replaceable as a whole."""

    def __init__(self, nodes: Sequence[BootNode] = ()) -> None:
        self.replace(nodes)

    def replace(self, nodes: Sequence[BootNode]) -> None:
        """Swap in a new set of nodes (one assignment, so readers never see half of it)."""
        self._by_mac = {n.mac: n for n in nodes}

    def get(self, mac: str) -> BootNode | None:
        return self._by_mac.get(mac)

    def all(self) -> Sequence[BootNode]:
        return list(self._by_mac.values())


NodeReport = Callable[[BootNode, EventKind], Awaitable[None]]
"""Called when a node reports `installed` or `booted`, before the answer is sent.

The engine sets the boot device to disk here: the installer reboots only once it has its answer.
"""


async def _accept_report(node: BootNode, kind: EventKind) -> None:
    return None


@dataclass(frozen=True)
class BootServerConfig:
    base_url: str
    """`http://MGMT:8080` as nodes reach it."""
    assets_dir: Path
    ignition_from_any_source: bool = False


class NotFound(RackerError):
    """The boot server knows no such node or file."""


class Forbidden(RackerError):
    """The request came from an address that may not have this resource."""


_REPORTS = {"installed": EventKind.INSTALLED, "booted": EventKind.BOOTED}

_STATUS: tuple[tuple[type[RackerError], int], ...] = (
    (InputError, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (BmcError, 502),
    (RackerError, 500),
)


def create_app(
    config: BootServerConfig,
    catalog: Catalog,
    store: Store,
    on_report: NodeReport = _accept_report,
) -> Starlette:
    """The ASGI app. `store` is used from the event loop's thread only."""
    assets_root = config.assets_dir.resolve()

    def node_by_ip(ip: str | None) -> BootNode | None:
        return next((n for n in catalog.all() if n.ip == ip), None)

    def record(request: Request, node: BootNode | None, status: int) -> None:
        client = request.client.host if request.client else None
        who = node or node_by_ip(client)
        store.add(
            who.mac if who else "",
            EventKind.REQUEST,
            detail={"path": request.url.path, "query": str(request.url.query),
                    "client": client or "", "status": status},
        )

    def lookup(request: Request, raw_mac: str | None) -> BootNode:
        mac = parse_mac(raw_mac or "")
        if mac is None:
            raise InputError(f"'{raw_mac or ''}' is not a MAC address",
                             hint="use ?mac=aa-bb-cc-dd-ee-ff or aa:bb:cc:dd:ee:ff")
        node = catalog.get(mac)
        if node is None:
            raise NotFound(f"no node with MAC {mac} in this rack")
        return node

    def check_source(request: Request, node: BootNode) -> None:
        client = request.client.host if request.client else None
        if not config.ignition_from_any_source and client != node.ip:
            raise Forbidden(f"{node.name} ({node.mac}) may only be served to {node.ip}, "
                            f"not to {client}")

    async def boot_ipxe(request: Request) -> Response:
        record(request, None, 200)
        return PlainTextResponse(boot_script())

    async def ipxe(request: Request) -> Response:
        node = lookup(request, request.query_params.get("mac"))
        record(request, node, 200)
        return PlainTextResponse(install_script(InstallBoot(config.base_url, node.mac)))

    async def ignition(request: Request) -> Response:
        node = lookup(request, request.query_params.get("mac"))
        check_source(request, node)
        os_ = request.query_params.get("os", "installer")
        if os_ not in ("installer", "installed"):
            raise InputError(f"unknown os '{os_}'", hint="use os=installer or os=installed")
        record(request, node, 200)
        body = node.install_ignition if os_ == "installer" else node.node_ignition
        return Response(body, media_type="application/json")

    async def metadata(request: Request) -> Response:
        node = lookup(request, request.query_params.get("mac"))
        record(request, node, 200)
        pairs = {"MAC": node.mac, "NAME": node.name, "IP": node.ip, **node.metadata}
        return PlainTextResponse("".join(f"{k.upper()}={v}\n" for k, v in pairs.items()))

    async def assets(request: Request) -> Response:
        rel = request.path_params["path"]
        target = (assets_root / rel).resolve()
        if not target.is_relative_to(assets_root) or not target.is_file():
            raise NotFound(f"no asset '{rel}'")
        record(request, None, 200)
        return FileResponse(target)

    async def post_event(request: Request) -> Response:
        if request.path_params.get("mac") is None:  # /self/events: the node by its address
            client = request.client.host if request.client else None
            found = node_by_ip(client)
            if found is None:
                raise NotFound(f"no node of this rack has the address {client}")
            node = found
        else:
            node = lookup(request, request.path_params["mac"])
        check_source(request, node)
        try:
            body = json.loads(await request.body() or b"{}")
            kind = _REPORTS[body["event"]]
        except (ValueError, KeyError, TypeError) as e:
            raise InputError("the body must be JSON like {\"event\": \"installed\"}",
                             hint=f"events: {', '.join(_REPORTS)}") from e
        record(request, node, 200)
        await on_report(node, kind)
        store.add(node.mac, kind, detail={"client": request.client.host if request.client else ""})
        return JSONResponse({"mac": node.mac, "event": kind.value, "ok": True})

    async def list_nodes(request: Request) -> Response:
        last = {k: store.last_by_kind(k) for k in (EventKind.INSTALLED, EventKind.BOOTED)}
        out = []
        for n in sorted(catalog.all(), key=lambda n: n.mac):
            out.append({
                "mac": n.mac, "name": n.name, "ip": n.ip,
                "installed_at": _ts(last[EventKind.INSTALLED].get(n.mac)),
                "booted_at": _ts(last[EventKind.BOOTED].get(n.mac)),
            })
        return JSONResponse(out)

    async def racker_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RackerError)
        status = next(code for cls, code in _STATUS if isinstance(exc, cls))
        record(request, None, status)
        return PlainTextResponse(f"{exc.message}\n", status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code)

    routes = [
        Route("/boot.ipxe", boot_ipxe),
        Route("/ipxe", ipxe),
        Route("/ignition", ignition),
        Route("/metadata", metadata),
        Route("/assets/{path:path}", assets),
        Route("/racker/v1/nodes/{mac}/events", post_event, methods=["POST"]),
        Route("/racker/v1/self/events", post_event, methods=["POST"]),
        Route("/racker/v1/nodes", list_nodes),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={RackerError: racker_error, HTTPException: http_error},
    )


def _ts(event: object) -> float | None:
    return getattr(event, "ts", None)
