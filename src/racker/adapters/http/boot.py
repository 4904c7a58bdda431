"""The boot protocol, matchbox-compatible: what PXE-booting nodes fetch.

`GET /boot.ipxe`, `GET /ipxe?mac=&uuid=`, `GET /ignition?mac=&os=` (only to the node's own
address; the installer's only while racker installs the node), `GET /metadata?mac=` (only to
this machine and the node itself), `GET /assets/...` (Range requests, no path traversal).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from racker.adapters.http.requests import NotFound, Served
from racker.core.render.ipxe import InstallBoot, boot_script, install_script
from racker.errors import InputError


class _CountedFile(FileResponse):
    """A file response that ends its download's count once sent (or given up)."""

    def __init__(self, path: Path, done: Callable[[], None]) -> None:
        super().__init__(path)
        self._done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._done()


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
        if os_ == "installer":
            s.check_install_window(node, "the installer Ignition")
        s.record(request, node, 200)
        body = node.install_ignition if os_ == "installer" else node.node_ignition
        return Response(body, media_type="application/json")

    async def metadata(request: Request) -> Response:
        node = s.lookup(request.query_params.get("mac"))
        s.check_management(request, node)
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
        done = s.start_download(request)
        try:
            s.record(request, None, 200)
        except BaseException:
            done()
            raise
        return _CountedFile(target, done)

    return [
        Route("/boot.ipxe", boot_ipxe),
        Route("/ipxe", ipxe),
        Route("/ignition", ignition),
        Route("/metadata", metadata),
        Route("/assets/{path:path}", assets),
    ]
