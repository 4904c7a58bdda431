"""The dashboard: server-rendered pages (Jinja2), readable without JavaScript, live through
Server-Sent Events (`/events`), with the node actions behind the token and a confirmation.

Static files (CSS, the small script that applies the events) ship in the package: no CDN.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from racker.app.actions import CONFIRM, Action, parse_action
from racker.app.status import PROTOCOL_NAMES
from racker.core.hardware import describe, hardware_from_json
from racker.core.timeline import timeline_lines
from racker.errors import InputError, RackerError, Unauthorized
from racker.web.auth import COOKIE
from racker.web.context import Web

STATIC = Path(__file__).parent / "static"
TICK = 0.1
"""Seconds between two looks at the event log for the event streams."""
KEEPALIVE = 15.0
"""Seconds after which an idle event stream gets a comment line (proxies close silent ones)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_env = Environment(loader=PackageLoader("racker.web", "templates"),
                   autoescape=select_autoescape(["html"]))


def stage_text(node: Mapping[str, Any]) -> str:
    """A node's state in words: provisioned, failed in a stage, or the stage it is in."""
    state = node.get("state")
    if state == "running":
        return f"{node.get('stage')}…"
    if state == "failed":
        return f"failed in {node.get('stage')}"
    if state == "excluded":
        return "excluded"
    return "provisioned" if node.get("provisioned") or state == "provisioned" else "—"


_env.globals["stage_text"] = stage_text


def protocol_name(node: Mapping[str, Any]) -> str:
    """The BMC protocol as `racker status` names it (IPMI, Redfish), `?` before any run."""
    return PROTOCOL_NAMES.get(node.get("protocol") or "", "?")


_env.globals["protocol_name"] = protocol_name


def render(request: Request, w: Web, name: str, code: int = 200,
           headers: Mapping[str, str] | None = None, **values: Any) -> HTMLResponse:
    """A page from template `name`, with the session's state for the header."""
    try:
        logged_in = w.policy.authenticated(request) is not None
    except Unauthorized:
        logged_in = False
    def url_for(route: str, **params: Any) -> str:  # paths, so that a proxy in front works
        return str(request.app.url_path_for(route, **params))

    html = _env.get_template(name).render(request=request, url_for=url_for,
                                          logged_in=logged_in, csrf=w.policy.csrf_value(),
                                          **values)
    return HTMLResponse(html, status_code=code, headers={**SECURITY_HEADERS, **(headers or {})})


def render_error(request: Request, exc: RackerError, status: int,
                 headers: Mapping[str, str] | None) -> Response:
    """An error page with racker's message, place and hint."""
    w: Web = request.app.state.web
    where = str(exc.where) if exc.where and str(exc.where) else None
    return render(request, w, "error.html", status, headers, message=exc.message,
                  where=where, hint=exc.hint, status=status)


def diagnosis(node: Mapping[str, Any]) -> list[str]:
    """What is known to be wrong with a node, and what to try."""
    out = []
    if node.get("failure"):
        out.append(f"failed in stage {node.get('stage')}: {node['failure']}")
    if not node.get("bmc_reached"):
        out.append(f"BMC not reached: {node.get('bmc_error') or 'no run reached it yet'}")
    out.append(f"Ask the BMC now (below), or run 'ipmi {node['mac']} diag' on the management "
               "node.")
    return out


def _next(raw: str | None) -> str:
    """A same-site path to go back to after logging in (never another site)."""
    parts = urlsplit(raw or "/")
    if parts.scheme or parts.netloc or not (raw or "/").startswith("/"):
        return "/"
    return raw or "/"


FORM_LIMIT = 16384
"""Bytes a dashboard form may send (a token, a CSRF value and a path fit easily)."""


async def form_of(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form post (the only kind the dashboard sends); InputError
    for anything else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    body = await request.body()
    if kind != "application/x-www-form-urlencoded" or len(body) > FORM_LIMIT:
        raise InputError("expected a form of the dashboard (URL-encoded, at most 16 KiB)",
                         hint="use the dashboard's buttons, or the API under /api/v1")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def page_routes(w: Web) -> list[BaseRoute]:
    """The dashboard's routes over the listener's state `w`."""

    async def rack(request: Request) -> Response:
        w.policy.check(request, write=False)
        status = await w.view.nodes_json()
        runs = w.view.runs_json()
        run = runs[0] if runs else None
        return render(request, w, "rack.html", status=status, run=run,
                      run_total=len(run["nodes"]) if run else 0)

    async def node(request: Request) -> Response:
        w.policy.check(request, write=False)
        row = await w.view.node_json(request.path_params["mac"])
        _node, events = w.view.timeline(row["mac"])
        hw = w.view.hardware_json(row["mac"])
        inventory = hw["inventory"]
        return render(request, w, "node.html", node=row, diagnosis=diagnosis(row),
                      timeline=timeline_lines(events), actions=[a.value for a in Action],
                      hardware=describe(hardware_from_json(inventory)) if inventory else [],
                      cabling=hw["cabling"])

    async def live_diagnosis(request: Request) -> Response:
        w.policy.check(request, write=False)
        row = await w.view.node_json(request.path_params["mac"])
        found = await w.diagnosis(row["mac"])
        return render(request, w, "diagnosis.html", node=row, ok=found["ok"],
                      text=found["text"])

    async def confirm(request: Request) -> Response:
        w.policy.check(request, write=False)
        action = parse_action(request.path_params["action"])
        row = await w.view.node_json(request.path_params["mac"])
        question = CONFIRM[action].format(name=row["name"], mac=row["mac"])
        return render(request, w, "confirm.html", node=row, action=action.value,
                      question=question)

    async def act(request: Request) -> Response:
        form = await form_of(request)
        w.policy.check_form(request, form.get("csrf"))
        action = parse_action(request.path_params["action"])
        mac = w.view.primary(request.path_params["mac"])
        lines, pending = await w.act(action, mac)
        return render(request, w, "done.html", 202 if pending else 200, action=action.value,
                      mac=mac, lines=lines)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return render(request, w, "login.html", next=_next(request.query_params.get("next")))
        form = await form_of(request)
        session = w.policy.login(form.get("token", ""))
        response = RedirectResponse(_next(form.get("next")), 303)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response

    async def logout(request: Request) -> Response:
        form = await form_of(request)
        w.policy.check_form(request, form.get("csrf"))
        response = RedirectResponse("/", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def events(request: Request) -> Response:
        w.policy.check(request, write=False)
        return StreamingResponse(_stream(w, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", **SECURITY_HEADERS})

    return [
        Route("/", rack, name="rack"),
        Route("/nodes/{mac}", node, name="node"),
        Route("/nodes/{mac}/diagnosis", live_diagnosis, name="diagnosis"),
        Route("/nodes/{mac}/actions/{action}", confirm, name="confirm"),
        Route("/nodes/{mac}/actions/{action}", act, methods=["POST"], name="act"),
        Route("/login", login, methods=["GET", "POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/events", events, name="events"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


async def _stream(w: Web, request: Request) -> AsyncIterator[str]:
    """`rack` events: the nodes (as /api/v1/nodes) and the current run, whenever they change."""
    yield "retry: 1000\n\n"
    first, idle = True, 0.0
    while not w.stopping.is_set():
        changed = w.view.refresh()
        if changed or first:
            first, idle = False, 0.0
            yield await _rack_event(w)
        elif idle >= KEEPALIVE:
            idle = 0.0
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        try:
            await asyncio.wait_for(w.stopping.wait(), TICK)
        except TimeoutError:
            idle += TICK
    if w.view.refresh():  # the run's last events (all provisioned) before the listener stops
        yield await _rack_event(w)


async def _rack_event(w: Web) -> str:
    runs = w.view.runs_json()
    data = {"status": await w.view.nodes_json(), "run": runs[0] if runs else None}
    return f"event: rack\ndata: {json.dumps(data)}\n\n"
