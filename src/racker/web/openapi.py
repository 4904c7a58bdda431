"""The OpenAPI 3 document of `/api/v1` (served at `/api/v1/openapi.json`).

Written out rather than generated: it is the contract scripts rely on, and the schemathesis test
checks every response of the running API against it.
"""

from __future__ import annotations

from typing import Any

from racker import __version__
from racker.app.actions import Action

_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_NUM = {"type": "number", "nullable": True}
_STATES = ["idle", "running", "failed", "provisioned", "excluded"]


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props,
            "required": list(props) if required is None else required}


SCHEMAS: dict[str, Any] = {
    "Node": _obj({
        "mac": _STR, "bmc_mac": _STR, "name": _STR, "bmc_reached": {"type": "boolean"},
        "power": _NSTR, "provisioned": {"type": "boolean"},
        "joined": {"type": "boolean", "nullable": True},
        "hostnames": {"type": "array", "items": _STR}, "bmc_error": _NSTR, "ip": _NSTR,
        "stage": _NSTR, "state": {"type": "string", "enum": _STATES}, "failure": _NSTR,
        "last_event": _NSTR, "last_event_at": _NUM, "excluded": {"type": "boolean"},
        "protocol": {"type": "string", "enum": ["ipmi", "redfish"], "nullable": True},
    }),
    "Status": _obj({
        "provisioned": {"type": "string", "enum": ["Flatcar", "Lokomotive", "no"]},
        "kubernetes_api_reached": {"type": "boolean", "nullable": True},
        "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        "provisioned_nodes": {"type": "integer", "minimum": 0},
        "total_nodes": {"type": "integer", "minimum": 0},
        "dhcp_served": {"type": "boolean", "nullable": True},
    }),
    "Event": _obj({
        "ts": {"type": "number"}, "mac": _STR,
        "kind": {"type": "string", "enum": ["request", "lease", "stage", "installed", "booted",
                                            "inventory", "cabling", "provisioned", "excluded",
                                            "error", "run"]},
        "stage": _NSTR, "detail": {"type": "object"},
    }),
    "Run": _obj({
        "id": {"type": "integer"}, "command": _STR, "started_at": {"type": "number"},
        "finished_at": _NUM, "exit_code": {"type": "integer", "nullable": True},
        "outcome": {"type": "string", "enum": ["running", "succeeded", "failed"]},
        "stages": {"type": "array", "items": _obj({
            "stage": _STR, "done": {"type": "integer"}, "failed": {"type": "integer"},
            "running": {"type": "integer"}})},
        "nodes": {"type": "array", "items": _obj({
            "mac": _STR, "name": _STR, "stage": _NSTR,
            "outcome": {"type": "string", "enum": _STATES}, "failure": _NSTR})},
    }),
    "Diagnosis": _obj({"mac": _STR, "ok": {"type": "boolean"}, "text": _STR}),
    "Hardware": _obj({"mac": _STR,
                      "inventory": {"type": "object", "nullable": True,
                                    "description": "as 'racker node show --json'"},
                      "cabling": {"type": "array", "items": _STR}}),
    "ActionResult": _obj({"mac": _STR, "action": _STR,
                          "lines": {"type": "array", "items": _STR}}),
    "Error": _obj({"error": _STR, "where": _NSTR, "hint": _NSTR}),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_MAC = {"name": "mac", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "any of the node's MAC addresses (colon or hyphen form, any case)"}
_READ_ERRORS = {"400": _error("the rack's files cannot be used (nodes.csv, configuration)"),
                "401": _error("the token is missing (off loopback) or wrong"),
                "500": _error("racker could not read the rack (its message says why)")}
_NODE_ERRORS = {**_READ_ERRORS, "400": _error("not a MAC address, or unusable rack files"),
                "404": _error("no such node")}
_READ_SECURITY: list[dict[str, list[str]]] = [{}, {"bearer": []}]


def _get(summary: str, ok: dict[str, Any], errors: dict[str, Any],
         params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": params or [], "security": _READ_SECURITY,
                    "responses": {"200": ok, **errors}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document."""
    action = {"name": "action", "in": "path", "required": True,
              "schema": {"type": "string", "enum": [a.value for a in Action]}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "racker management API", "version": __version__,
                 "description": "One rack's nodes, timelines, runs and node actions. Reads "
                                "need no token on a loopback listener; writes always need "
                                "'Authorization: Bearer TOKEN' ('racker api token')."},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/nodes": _get("Every node, as 'racker status --json'",
                                  _ok(_ref("Status"), "the rack"), _READ_ERRORS),
            "/api/v1/nodes/{mac}": _get("One node (a row of /api/v1/nodes)",
                                        _ok(_ref("Node"), "the node"), _NODE_ERRORS, [_MAC]),
            "/api/v1/nodes/{mac}/timeline": _get(
                "The node's events, as 'racker node timeline --json'",
                _ok({"type": "array", "items": _ref("Event")}, "oldest first"), _NODE_ERRORS,
                [_MAC]),
            "/api/v1/nodes/{mac}/diagnosis": _get(
                "The node's BMC asked now, as 'ipmi NODE diag' (the 'diagnosis' of "
                "'racker status --json --full'); waits for the BMC, up to about 15 s for one "
                "that is not found", _ok(_ref("Diagnosis"), "ok: whether the BMC answered"),
                _NODE_ERRORS, [_MAC]),
            "/api/v1/nodes/{mac}/hardware": _get(
                "The hardware the node's installer reported (null until it did), and what the "
                "cabling check finds in it", _ok(_ref("Hardware"), "the inventory"),
                _NODE_ERRORS, [_MAC]),
            "/api/v1/runs": _get("Every bootstrap/apply run, newest first",
                                 _ok({"type": "array", "items": _ref("Run")}, "the runs"),
                                 _READ_ERRORS),
            "/api/v1/nodes/{mac}/actions/{action}": {"post": {
                "summary": "Reprovision, exclude, include, power-cycle or PXE-boot a node",
                "parameters": [_MAC, action], "security": [{"bearer": []}],
                "responses": {
                    "200": _ok(_ref("ActionResult"), "done; the lines the CLI prints"),
                    "202": _ok(_ref("ActionResult"),
                               "checked and started (power-cycle, pxe-boot, reprovision): the "
                               "node's timeline shows the outcome"),
                    "400": _error("not a MAC address, or the action does not apply"),
                    "401": _error("the token is missing or wrong"),
                    "404": _error("no such node"),
                    "500": _error("racker failed (its message says why)"),
                    "502": _error("the node's BMC failed")}}},
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "racker's API token"}},
        },
    }
