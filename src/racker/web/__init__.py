"""The management side, a front end beside the CLI: the REST API (`/api/v1`, with its OpenAPI
document), the dashboard (server-rendered pages, live by Server-Sent Events) and `/metrics`,
on their own listener (loopback by default, the API token beyond it).

Like the CLI, its routes call use cases (`racker.app`) and take adapters from the composition
root (`racker.compose`); they never import an adapter or the engine.
"""
