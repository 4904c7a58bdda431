"""Racker's own API on the boot server: node reports and the node list (`/racker/v1/...`).

`POST /racker/v1/nodes/{mac}/events` and `POST /racker/v1/self/events` (the node named by its
address) take `{"event": "installed"|"booted"}` from the node's own address; the report hook
runs before the answer. `GET /racker/v1/nodes` lists the nodes with their last reports.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from racker.adapters.http.requests import NotFound, Served, client_of, read_body
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from racker.errors import InputError

_REPORTS = {"installed": EventKind.INSTALLED, "booted": EventKind.BOOTED}


def api_routes(s: Served) -> list[Route]:
    """Racker's API routes over the shared state `s`."""

    def reporting_node(request: Request) -> BootNode:
        if request.path_params.get("mac") is None:  # /self/events: the node by its address
            client = client_of(request)
            found = s.node_by_ip(client)
            if found is None:
                raise NotFound(f"no node of this rack has the address {client}")
            return found
        return s.lookup(request.path_params["mac"])

    async def post_event(request: Request) -> Response:
        node = reporting_node(request)
        s.check_source(request, node)
        try:
            body = json.loads(await read_body(request) or b"{}")
            kind = _REPORTS[body["event"]]
        except (ValueError, KeyError, TypeError) as e:
            raise InputError("the body must be JSON like {\"event\": \"installed\"}",
                             hint=f"events: {', '.join(_REPORTS)}") from e
        s.record(request, node, 200)
        await s.on_report(node, kind)
        s.store.add(node.mac, kind, detail={"client": client_of(request) or ""})
        return JSONResponse({"mac": node.mac, "event": kind.value, "ok": True})

    async def list_nodes(request: Request) -> Response:
        last = {k: s.store.last_by_kind(k) for k in (EventKind.INSTALLED, EventKind.BOOTED)}
        out = []
        for n in sorted(s.catalog.all(), key=lambda n: n.mac):
            out.append({
                "mac": n.mac, "name": n.name, "ip": n.ip,
                "installed_at": _ts(last[EventKind.INSTALLED].get(n.mac)),
                "booted_at": _ts(last[EventKind.BOOTED].get(n.mac)),
            })
        return JSONResponse(out)

    return [
        Route("/racker/v1/nodes/{mac}/events", post_event, methods=["POST"]),
        Route("/racker/v1/self/events", post_event, methods=["POST"]),
        Route("/racker/v1/nodes", list_nodes),
    ]


def _ts(event: object) -> float | None:
    return getattr(event, "ts", None)
