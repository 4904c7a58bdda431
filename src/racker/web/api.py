"""`/api/v1`: nodes, one node, its timeline, its live diagnosis, its hardware inventory, runs,
node actions, and the OpenAPI document.

The shapes are the CLI's `--json` ones (the same use-case functions build them); errors are
JSON with the CLI's message, place and hint.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from racker.app.actions import parse_action
from racker.web.context import Web
from racker.web.openapi import document


def api_routes(w: Web) -> list[Route]:
    """The API's routes over the listener's state `w`."""

    async def openapi(request: Request) -> Response:
        w.policy.check(request, write=False)
        return JSONResponse(document())

    async def nodes(request: Request) -> Response:
        w.policy.check(request, write=False)
        return JSONResponse(await w.view.nodes_json())

    async def node(request: Request) -> Response:
        w.policy.check(request, write=False)
        return JSONResponse(await w.view.node_json(request.path_params["mac"]))

    async def timeline(request: Request) -> Response:
        w.policy.check(request, write=False)
        return JSONResponse(w.view.timeline_json(request.path_params["mac"]))

    async def hardware(request: Request) -> Response:
        w.policy.check(request, write=False)
        w.view.refresh()
        return JSONResponse(w.view.hardware_json(request.path_params["mac"]))

    async def diagnosis(request: Request) -> Response:
        w.policy.check(request, write=False)
        return JSONResponse(await w.diagnosis(request.path_params["mac"]))

    async def runs(request: Request) -> Response:
        w.policy.check(request, write=False)
        return JSONResponse(w.view.runs_json())

    async def action(request: Request) -> Response:
        w.policy.check(request, write=True)
        what = parse_action(request.path_params["action"])
        mac = w.view.primary(request.path_params["mac"])
        lines, pending = await w.act(what, mac)
        return JSONResponse({"mac": mac, "action": what.value, "lines": lines},
                            status_code=202 if pending else 200)

    return [
        # NOTE: named apart from the dashboard's pages, which url_for finds by name
        Route("/api/v1/openapi.json", openapi, name="openapi"),
        Route("/api/v1/nodes", nodes, name="api_nodes"),
        Route("/api/v1/nodes/{mac}", node, name="api_node"),
        Route("/api/v1/nodes/{mac}/timeline", timeline, name="api_timeline"),
        Route("/api/v1/nodes/{mac}/diagnosis", diagnosis, name="api_diagnosis"),
        Route("/api/v1/nodes/{mac}/hardware", hardware, name="api_hardware"),
        Route("/api/v1/runs", runs, name="api_runs"),
        Route("/api/v1/nodes/{mac}/actions/{action}", action, methods=["POST"],
              name="api_action"),
    ]
