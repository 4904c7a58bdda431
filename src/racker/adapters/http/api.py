"""Racker's own API on the boot server: node reports and the node list (`/racker/v1/...`).

`POST /racker/v1/nodes/{mac}/events` and `POST /racker/v1/self/events` (the node named by its
address) take `{"event": "installed"|"install-failed"|"booted"}` from the node's own address;
the report hook runs before the answer. `{"event": "inventory", "inventory": RAW}` carries the
collector's hardware document (core/hardware.py), checked and stored as the node's inventory.
`installed`, `install-failed` (with the tail of the installer's journal,
`racker.core.installreport`) and `inventory` are accepted only while racker installs the node;
a report repeated within the gate's interval is answered without acting again.
`GET /racker/v1/nodes` lists the nodes with their last reports (and a line of their hardware),
to this machine only.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from racker.adapters.http.requests import NotFound, Served, client_of
from racker.core.bootnode import BootNode
from racker.core.events import EventKind
from racker.core.hardware import parse_hardware, summary
from racker.core.hostkeys import parse_host_keys
from racker.core.installreport import exit_status_of, journal_of
from racker.errors import InputError

_REPORTS = {"installed": EventKind.INSTALLED, "install-failed": EventKind.INSTALL_FAILED,
            "booted": EventKind.BOOTED, "inventory": EventKind.INVENTORY}
_IN_WINDOW = frozenset({EventKind.INSTALLED, EventKind.INSTALL_FAILED, EventKind.INVENTORY})
"""Reports accepted only in the node's install window."""


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
            body = json.loads(await s.body(request) or b"{}")
            kind = _REPORTS[body["event"]]
            if not isinstance(body, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError) as e:
            raise InputError("the body must be JSON like {\"event\": \"installed\"}",
                             hint=f"events: {', '.join(_REPORTS)}") from e
        detail: dict[str, object] = {"client": client_of(request) or ""}
        if kind is EventKind.INVENTORY:  # checked before anything is recorded
            hardware = parse_hardware(body.get("inventory"))
            detail.update(hardware=hardware.as_json(), summary=summary(hardware))
        if kind is EventKind.BOOTED:  # the keys the node generated (racker apply checks them)
            keys = parse_host_keys(body.get("host_keys"))
            if keys:
                detail["host_keys"] = list(keys)
        if kind is EventKind.INSTALL_FAILED:  # what the installer's journal said, bounded
            detail["journal"] = journal_of(body)
            status = exit_status_of(body)
            if status is not None:
                detail["exit_status"] = status
        request.state.report = kind.value  # the request's record names it
        epoch = s.report_epoch(node, kind)
        if s.gate.repeat(node.mac, kind, epoch):
            # a retry, or a flood: answered, but the BMC is not driven again
            s.record(request, node, 200)
            return JSONResponse({"mac": node.mac, "event": kind.value, "ok": True,
                                 "repeat": True})
        if kind in _IN_WINDOW:
            s.check_install_window(node, f"the report '{kind.value}'")
        s.gate.acted(node.mac, kind, epoch)
        s.record(request, node, 200)
        if kind is EventKind.INVENTORY:  # information: nothing to drive
            s.store.add(node.mac, kind, detail=detail)
            return JSONResponse({"mac": node.mac, "event": kind.value, "ok": True})
        try:
            if kind is not EventKind.INSTALL_FAILED:  # nothing to drive: the engine fails it
                await s.on_report(node, kind)
        except BaseException:
            s.gate.forget(node.mac, kind)
            raise
        s.store.add(node.mac, kind, detail=detail)
        return JSONResponse({"mac": node.mac, "event": kind.value, "ok": True})

    async def list_nodes(request: Request) -> Response:
        s.check_management(request)
        last = {k: s.store.last_by_kind(k)
                for k in (EventKind.INSTALLED, EventKind.BOOTED, EventKind.INVENTORY)}
        out = []
        for n in sorted(s.catalog.all(), key=lambda n: n.mac):
            inventory = last[EventKind.INVENTORY].get(n.mac)
            out.append({
                "mac": n.mac, "name": n.name, "ip": n.ip,
                "installed_at": _ts(last[EventKind.INSTALLED].get(n.mac)),
                "booted_at": _ts(last[EventKind.BOOTED].get(n.mac)),
                "inventory_at": _ts(inventory),
                "hardware": (inventory.detail.get("summary") if inventory else None),
            })
        return JSONResponse(out)

    return [
        Route("/racker/v1/nodes/{mac}/events", post_event, methods=["POST"]),
        Route("/racker/v1/self/events", post_event, methods=["POST"]),
        Route("/racker/v1/nodes", list_nodes),
    ]


def _ts(event: object) -> float | None:
    return getattr(event, "ts", None)
