"""Serves the built web client (clients/web/dist): assets, and index.html for any
other browser path so deep links work. API-like paths never fall back to it."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File
from litestar.static_files import create_static_files_router

NOT_CLIENT_PREFIXES = ("api/", "ws", "schema", "health", "ready", "assets/")


def web_client_router(dist: Path) -> Router:
    index = dist / "index.html"

    def serve_index() -> Response[bytes] | File:
        if not index.is_file():
            return Response(
                b"The web client is not built yet: run `make run` (or `make web`).",
                media_type="text/plain",
                status_code=503,
            )
        return File(index, content_disposition_type="inline", media_type="text/html")

    @get("/", include_in_schema=False, sync_to_thread=False)
    def root() -> Response[bytes] | File:
        return serve_index()

    @get("/{path:path}", include_in_schema=False, sync_to_thread=False)
    def deep_link(path: FromPath[str]) -> Response[bytes] | File:
        if path.lstrip("/").startswith(NOT_CLIENT_PREFIXES):
            raise NotFoundException()
        return serve_index()

    assets = create_static_files_router(
        path="/assets", directories=[dist / "assets"], include_in_schema=False
    )
    return Router(path="/", route_handlers=[root, deep_link, assets])
