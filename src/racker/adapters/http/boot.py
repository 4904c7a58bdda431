"""The boot protocol, matchbox-compatible: what PXE-booting nodes fetch.

`GET /boot.ipxe`, `GET /ipxe?mac=&uuid=`, `GET /ignition?mac=&os=` (only to the node's own
address), `GET /metadata?mac=`, `GET /assets/...` (Range requests, no path traversal).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from racker.adapters.http.requests import NotFound, Served
from racker.core.render.ipxe import InstallBoot, boot_script, install_script
from racker.errors import InputError


def boot_routes(s: Served) -> list[Route]:
    """The boot protocol's routes over the shared state `s`."""
    assets_root = s.config.assets_dir.resolve()

    async def boot_ipxe(request: Request) -> Response:
        s.record(request, None, 200)
        return PlainTextResponse(boot_script())

    async def ipxe(request: Request) -> Response:
        node = s.lookup(request.query_params.get("mac"))
        s.record(request, node, 200)
        return PlainTextResponse(install_script(InstallBoot(s.config.base_url, node.mac)))

    async def ignition(request: Request) -> Response:
        node = s.lookup(request.query_params.get("mac"))
        s.check_source(request, node)
        os_ = request.query_params.get("os", "installer")
        if os_ not in ("installer", "installed"):
            raise InputError(f"unknown os '{os_}'", hint="use os=installer or os=installed")
        s.record(request, node, 200)
        body = node.install_ignition if os_ == "installer" else node.node_ignition
        return Response(body, media_type="application/json")

    async def metadata(request: Request) -> Response:
        node = s.lookup(request.query_params.get("mac"))
        s.record(request, node, 200)
        pairs = {"MAC": node.mac, "NAME": node.name, "IP": node.ip, **node.metadata}
        return PlainTextResponse("".join(f"{k.upper()}={v}\n" for k, v in pairs.items()))

    async def assets(request: Request) -> Response:
        rel = request.path_params["path"]
        try:
            # NOTE: a client's path can hold a NUL (ValueError) or be longer than the kernel
            # takes (OSError); neither names an asset, and neither may become a 500.
            target = (assets_root / rel).resolve()
            found = target.is_relative_to(assets_root) and target.is_file()
        except (ValueError, OSError):
            found = False
        if not found:
            raise NotFound(f"no asset '{rel[:200]}'")
        s.record(request, None, 200)
        return FileResponse(target)

    return [
        Route("/boot.ipxe", boot_ipxe),
        Route("/ipxe", ipxe),
        Route("/ignition", ignition),
        Route("/metadata", metadata),
        Route("/assets/{path:path}", assets),
    ]
