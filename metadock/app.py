"""The application factory: wires settings, database, auth, the two API dialects and their error renderers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, Router, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from metadock.auth.admin_http import ApiKeyController, UserController
from metadock.auth.http import PUBLIC, authentication_middleware
from metadock.auth.login_http import login, logout
from metadock.auth.service import ApiKeyResolver
from metadock.auth.users import JwtResolver
from metadock.console import console_routers
from metadock.health import healthz, readyz
from metadock.kit.context import STATE_KEY, AppContext
from metadock.kit.db import Database
from metadock.kit.errors import as_app_error
from metadock.kit.http import dependencies
from metadock.kit.logs import configure_logging
from metadock.kit.metrics import metrics_endpoint
from metadock.kit.observability import cors_config, install
from metadock.kit.openapi import with_links
from metadock.kit.request import JsonSafeRequest
from metadock.metadatas.errors import render_problem
from metadock.metadatas.http import MetadataController
from metadock.payloads.errors import render_laravel
from metadock.payloads.http import PayloadController
from metadock.payloads.store import open_store
from metadock.settings import Settings, get_settings

# Which dialect renders an error is decided by where the request went, so unknown routes get the right shape too.
_LARAVEL_PREFIXES = ("/api/", "/fabric/")


def handle_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    error = as_app_error(exc)
    if request.url.path.startswith(_LARAVEL_PREFIXES):
        return render_laravel(error)
    return render_problem(error)


@get("/openapi.json", opt={PUBLIC: True}, include_in_schema=False)
async def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return with_links(request.app.openapi_schema.to_schema())


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = Database(settings.database_url, pool_size=settings.database_pool_size)
        store = open_store(settings.resolved_store_url, endpoint_url=settings.s3_endpoint_url)
        signing_key = settings.signing_key()
        app.state[STATE_KEY] = AppContext(
            settings=settings,
            database=database,
            resolvers=[ApiKeyResolver(), JwtResolver(signing_key)],
            store=store,
            signing_key=signing_key,
        )
        try:
            yield
        finally:
            await database.dispose()

    metadatas_api = Router(path="/", route_handlers=[MetadataController])
    payloads_api = Router(path="/", route_handlers=[PayloadController])
    management_api = Router(path="/", route_handlers=[ApiKeyController, UserController, login, logout])

    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            openapi_document,
            metrics_endpoint,
            metadatas_api,
            payloads_api,
            management_api,
            *console_routers(),
        ],
        lifespan=[lifespan],
        dependencies=dependencies,
        middleware=[authentication_middleware],
        exception_handlers={Exception: handle_error},
        request_max_body_size=settings.max_body_bytes,
        request_class=JsonSafeRequest,
        openapi_config=OpenAPIConfig(
            title="Metadock",
            version="0.1.0",
            description="DigitalState-compatible /metadatas and Patchworks-compatible payload metadata.",
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
        cors_config=cors_config(settings),
        # Litestar's default logging config replaces the root logger's handlers (pytest's caplog among them);
        # ours is set up by configure_logging() on the metadock loggers only.
        logging_config=None,
    )
    # Outermost, around Litestar's exception handling, so that every response gets a request id and its headers.
    return install(app)
