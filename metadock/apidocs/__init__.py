"""``/docs`` (Scalar) and ``/docs/swagger`` (Swagger UI) served entirely by Metadock: pinned front-ends vendored in
``static/`` (versions and licences in ``static/VERSIONS.md``), start-up scripts as files, and a strict
Content-Security-Policy, so the pages work on an air-gapped install and no third-party script runs on the origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

STATIC: Final = Path(__file__).with_name("static")
SWAGGER_UI: Final = "/docs/static/swagger-ui-5.35.0"
SCALAR: Final = "/docs/static/scalar-api-reference-1.72.1"
# The console's policy, plus what the two front-ends need: both set styles from script (style attributes and
# <style> elements), and Swagger UI shows data: images. Scripts, fonts and fetches stay on the origin, so even a
# front-end that tried to reach a CDN (Scalar's default fonts) is stopped by the browser.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _page(title: str, head: str, body: str) -> bytes:
    return (
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>{title}</title>\n{head}\n"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    ).encode()


class _LocalPlugin(OpenAPIRenderPlugin):
    def receive_router(self, router: Router) -> None:
        """The docs router also serves the vendored files, and every answer under it gets the policy."""
        if not any(getattr(route, "path", "").startswith("/static") for route in router.routes):
            router.register(create_static_files_router(path="/static", directories=[STATIC], name="docs_static"))
        if not any(header.name == "Content-Security-Policy" for header in router.response_headers or []):
            router.response_headers = [
                *(router.response_headers or []),
                ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ]


class LocalScalar(_LocalPlugin):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path="/", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:  # noqa: ARG002
        return _page(
            "Metadock API",
            "",  # standalone.js brings its styles (the package's style.css would pull fonts from Scalar's CDN)
            f"<div id='api-reference'></div>\n<script src='{SCALAR}/standalone.js'></script>\n"
            "<script src='/docs/static/docs-scalar.js'></script>",
        )


class LocalSwagger(_LocalPlugin):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path="/swagger", **kwargs)

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:  # noqa: ARG002
        return _page(
            "Metadock API (Swagger UI)",
            f"<link rel='stylesheet' href='{SWAGGER_UI}/swagger-ui.css'>\n"
            f"<link rel='icon' type='image/png' href='{SWAGGER_UI}/favicon-32x32.png'>",
            f"<div id='swagger-ui'></div>\n<script src='{SWAGGER_UI}/swagger-ui-bundle.js'></script>\n"
            "<script src='/docs/static/docs-swagger.js'></script>",
        )
