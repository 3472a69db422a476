"""The API documentation pages at ``/schema/*``, built only from files the app serves.

Litestar's own UI plugins load their scripts, styles, fonts and favicon from CDNs (a blank
page on networks that reach none) and start Swagger UI with an inline script (refused by a
strict Content-Security-Policy). This renders Swagger UI from the vendored copy
(``kernel.assets``) with no inline script: it starts from our ``swagger-init.js``. (No ReDoc:
its bundle loads its logo from a CDN, hard-coded.)
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    YamlRenderPlugin,
)

from kernel.assets import AssetManifest, default_manifest

__all__ = ["LocalSwaggerPlugin", "render_plugins"]


def _head(title: str, assets: AssetManifest, *styles: str) -> str:
    links = "".join(f'<link rel="stylesheet" href="{assets.url(s)}">' for s in styles)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="icon" type="image/svg+xml" href="{assets.url("app/favicon.svg")}">'
        f'<link rel="stylesheet" href="{assets.url("app/openapi/docs.css")}">{links}</head>'
    )


class LocalSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from ``kernel/static/vendor/swagger-ui-dist``."""

    def __init__(self, assets: AssetManifest, path: str | list[str] = "/swagger") -> None:
        super().__init__(path=path, favicon="")
        self.assets = assets

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        a = self.assets
        spec = escape(self.get_openapi_json_route(request))
        title = str(openapi_schema.get("info", {}).get("title", "API"))
        return (
            _head(title, a, "vendor/swagger-ui-dist/swagger-ui.css")
            + f'<body><div id="swagger-ui" data-spec-url="{spec}"></div>'
            f'<script src="{a.url("vendor/swagger-ui-dist/swagger-ui-bundle.js")}"></script>'
            f'<script src="{a.url("vendor/swagger-ui-dist/swagger-ui-standalone-preset.js")}">'
            "</script>"
            f'<script src="{a.url("app/openapi/swagger-init.js")}"></script></body></html>'
        ).encode()


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """``/schema`` (Swagger UI, also at ``/schema/swagger``) and the document as
    ``/schema/openapi.json`` and ``/schema/openapi.yaml``."""
    assets = default_manifest()
    return [
        LocalSwaggerPlugin(assets, path=["/", "/swagger"]),
        JsonRenderPlugin(),
        YamlRenderPlugin(),
    ]
