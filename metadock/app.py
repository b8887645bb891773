"""The application factory: wires settings, database, auth, the two API dialects and their error renderers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Request, Router, get
from litestar.openapi import OpenAPIConfig

from metadock.api_keys.http import ApiKeyController
from metadock.api_keys.service import ApiKeyResolver
from metadock.apidocs import LocalScalar, LocalSwagger
from metadock.console import console_routers
from metadock.context import AppContext
from metadock.dialects import dialect, error_handler
from metadock.dialects.api_platform.errors import render_problem
from metadock.dialects.api_platform.openapi import ProblemDocs
from metadock.dialects.laravel.errors import render_laravel
from metadock.dialects.laravel.openapi import LaravelErrorDocs
from metadock.health import healthz, readyz
from metadock.kit.authentication import PUBLIC, authentication_middleware
from metadock.kit.context import STATE_KEY
from metadock.kit.db import Database
from metadock.kit.logs import configure_logging
from metadock.kit.metrics import metrics_endpoint, registry_of, share_with_the_node
from metadock.kit.observability import cors_config, install
from metadock.kit.openapi import complete_allow_headers, finish_document
from metadock.kit.request import JsonSafeRequest
from metadock.kit.tracing import tracer_from_environment
from metadock.kit.unit_of_work import UnitOfWorkMiddleware, unit_of_work_dependency
from metadock.metadatas import openapi as metadatas_openapi
from metadock.metadatas.http import MetadataController
from metadock.payloads import openapi as payloads_openapi
from metadock.payloads import tag_rules_http
from metadock.payloads.http import PayloadController, RunArchiveController
from metadock.payloads.metrics import CaptureMetrics
from metadock.payloads.store import open_store
from metadock.payloads.tag_rules_http import TagRuleController
from metadock.payloads.traced_store import TracedPayloadStore
from metadock.settings import Settings, get_settings
from metadock.users import http as users_http
from metadock.users import login_http
from metadock.users.http import UserController
from metadock.users.login_http import login, logout
from metadock.users.service import JwtResolver
from metadock.webhooks import http as webhooks_http
from metadock.webhooks.http import WebhookController

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# A request that matched no route has no dialect of its own: a client of Patchworks' API mistyping a path still gets
# Laravel's shape; everything else gets problem details.
_UNMATCHED_DIALECTS = (("/api/", render_laravel), ("/fabric/", render_laravel))


@get("/openapi.json", opt={PUBLIC: True}, include_in_schema=False)
async def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    # The same model the docs pages load (finished once by finish_document in create_app).
    return request.app.openapi_schema.to_schema()


def create_app(settings: Settings | None = None, *, tracer: Tracer | None = None) -> Litestar:
    """The application; ``tracer`` (tests give one with an in-memory exporter) else the one the settings or the
    standard OTEL_* variables configure, else none: tracing off."""
    settings = settings or get_settings()
    configure_logging()
    flush_spans: Callable[[], object] | None = None
    if tracer is None and (configured := tracer_from_environment(settings.otel_exporter_otlp_endpoint)):
        tracer, flush_spans = configured

    capture_metrics: list[CaptureMetrics] = []  # made once the app (and its metrics registry) exists, below

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = Database(settings.database_url, pool_size=settings.database_pool_size, tracer=tracer)
        store = open_store(settings.resolved_store_url, endpoint_url=settings.s3_endpoint_url)
        if tracer is not None:
            store = TracedPayloadStore.around(store, tracer)
        signing_key = settings.signing_key()
        app.state[STATE_KEY] = AppContext(
            settings=settings,
            database=database,
            resolvers=[ApiKeyResolver(), JwtResolver(signing_key)],
            signing_key=signing_key,
            store=store,
            capture_metrics=capture_metrics[0],
        )
        try:
            yield
        finally:
            await database.dispose()
            if flush_spans is not None:  # the last spans out before the worker exits, off the event loop
                await asyncio.to_thread(flush_spans)

    problem, laravel = ProblemDocs(), LaravelErrorDocs()
    health = Router(path="/", route_handlers=[healthz, readyz], opt=dialect(render_problem, problem))
    metadatas_api = Router(path="/", route_handlers=[MetadataController], opt=dialect(render_problem, problem))
    payloads_api = Router(
        path="/", route_handlers=[PayloadController, RunArchiveController], opt=dialect(render_laravel, laravel)
    )
    management_api = Router(
        path="/",
        route_handlers=[ApiKeyController, UserController, TagRuleController, WebhookController, login, logout],
        opt=dialect(render_laravel, laravel),
    )

    app = Litestar(
        route_handlers=[
            health,
            openapi_document,
            metrics_endpoint,
            metadatas_api,
            payloads_api,
            management_api,
            *console_routers(),
        ],
        lifespan=[lifespan],
        dependencies=unit_of_work_dependency,
        middleware=[UnitOfWorkMiddleware, authentication_middleware],
        exception_handlers={Exception: error_handler(_UNMATCHED_DIALECTS, default=render_problem)},
        request_max_body_size=settings.max_body_bytes,
        request_class=JsonSafeRequest,
        openapi_config=OpenAPIConfig(
            title="Metadock",
            version="0.1.0",
            description="DigitalState-compatible /metadatas and Patchworks-compatible payload metadata.",
            path="/docs",
            render_plugins=[LocalScalar(), LocalSwagger()],
        ),
        debug=False,
        cors_config=cors_config(settings),
        # Litestar's default logging config replaces the root logger's handlers (pytest's caplog among them);
        # ours is set up by configure_logging() on the metadock loggers only.
        logging_config=None,
    )
    # Outermost, around Litestar's exception handling, so that every response gets a request id and its headers.
    install(app, tracer)
    finish_document(
        app,
        components=[problem.components, laravel.components],
        body_rules=[
            metadatas_openapi.BODY_RULES,
            users_http.BODY_RULES,
            login_http.BODY_RULES,
            tag_rules_http.BODY_RULES,
            webhooks_http.BODY_RULES,
        ],
    )
    if not settings.content_search:
        payloads_openapi.without_content_search(app)
    complete_allow_headers(app)
    capture_metrics.append(CaptureMetrics(registry_of(app)))
    return app


def create_served_app(settings: Settings | None = None) -> Litestar:
    """The application as ``metadock serve``'s workers run it: once started, what start-up built is frozen."""
    app = create_app(settings)
    app.on_startup.append(_freeze_start_up_objects)  # after the lifespan above: the database and store exist
    share_with_the_node(app)
    return app


def _freeze_start_up_objects() -> None:
    # What start-up built (modules, the app and its routes, tables, the engine) lives as long as the worker. Left to
    # the collector, the first full collection walks all of it in the middle of a request (a ~90 ms p99 on a read).
    # Frozen, no collection looks at it again; what requests allocate is collected as before.
    gc.collect()
    gc.freeze()
