"""Per-request observability: a request id, security headers, one JSON access-log line and the request metrics.

:class:`ObservabilityMiddleware` is a pure ASGI middleware wrapped around Litestar's own exception handling (see
:func:`install`), so it sees every response the app sends: successes, 401s from the authentication middleware,
404s for unknown routes and 500s alike. Litestar's ``middleware=[...]`` list would not do: those run per route
handler, inside the exception handling, and never see a request that matched no route.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from metadock.kit.logs import current_request_id
from metadock.kit.metrics import METRICS_STATE_KEY, Metrics
from metadock.kit.tracing import TracingMiddleware, current_trace_id
from metadock.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

REQUEST_ID_HEADER: Final = "X-Request-ID"
UNMATCHED_ROUTE: Final = "unmatched"
access_logger = logging.getLogger("metadock.access")

# A client's id is echoed into our response header and our logs, so only a plain token is accepted: anything else
# (CR/LF, quotes, non-ASCII, overlong) could split a header or forge a log line, and is replaced by a fresh id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REQUEST_ID_BYTES = REQUEST_ID_HEADER.lower().encode()

# Headers every response carries unless the handler set its own value (downloads set nosniff themselves; a second
# copy of the header would be a duplicate, not a stronger instruction).
_SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def request_id_from(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if it is a sane token, else a new uuid4 hex."""
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_BYTES:
            candidate = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _tenant_of(scope: Scope) -> str | None:
    # Set by the authentication middleware on the shared scope; absent on public routes and failed authentication.
    user = scope.get("user")
    tenant = getattr(user, "tenant_uuid", None)
    return str(tenant) if tenant is not None else None


def _route_of(scope: Scope) -> str:
    # The template (``/metadatas/{uuid}``), never the raw path: ids in paths would make every line and every metric
    # label unique, and a raw path may carry whatever a client typed.
    template = scope.get("path_template")
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


class ObservabilityMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Metrics | None = None, trace_id_of: Callable[[], str | None] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Given only when tracing is on (the tracing middleware around this one holds the request's span).
        self.trace_id_of = trace_id_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        token = current_request_id.set(request_id)
        method: str = scope["method"]
        status = 500  # what the client gets if the app raises before starting a response

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _with_our_headers(message.get("headers", ()), request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            trace_id = None if self.trace_id_of is None else self.trace_id_of()
            _log_access(request_id, method, route, status, elapsed, _tenant_of(scope), trace_id)
            if self.metrics is not None:
                self.metrics.observe_request(method, route, status, elapsed)
            current_request_id.reset(token)


def _with_our_headers(headers: Any, request_id: str) -> list[tuple[bytes, bytes]]:
    # Any X-Request-ID the app itself set is replaced: the response must carry exactly the id that was logged.
    result = [(bytes(name), bytes(value)) for name, value in headers if bytes(name).lower() != _REQUEST_ID_BYTES]
    present = {name.lower() for name, _ in result}
    result.extend(header for header in _SECURITY_HEADERS if header[0] not in present)
    result.append((_REQUEST_ID_BYTES, request_id.encode("ascii")))
    return result


def _log_access(
    request_id: str, method: str, route: str, status: int, seconds: float, tenant: str | None, trace_id: str | None
) -> None:
    # Deliberately only these fields: no path (it may hold ids a template hides), query string, headers or body,
    # which is where credentials and payload bytes would be.
    fields = {
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "tenant": tenant,
    }
    if trace_id is not None:
        fields["trace_id"] = trace_id
    # The message is formatted only if a plain-text handler asks for it; ours writes the fields as JSON.
    access_logger.info("%s %s %s", method, route, status, extra={"access": fields})


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS only for the origins an operator configured; with none, no CORS header is ever sent."""
    origins = settings.cors_origin_list
    if not origins:
        return None
    return CORSConfig(allow_origins=origins, allow_credentials=False, expose_headers=[REQUEST_ID_HEADER])


def install(app: Litestar, tracer: Tracer | None = None) -> Litestar:
    """Wrap the app's ASGI handler (exception handling, CORS and routing) in the observability middleware, and
    that in the tracing middleware only if there is a tracer: with tracing off the stack is what it always was."""
    metrics = Metrics()
    app.state[METRICS_STATE_KEY] = metrics
    if tracer is None:
        app.asgi_handler = ObservabilityMiddleware(app.asgi_handler, metrics)
    else:
        observed = ObservabilityMiddleware(app.asgi_handler, metrics, trace_id_of=current_trace_id)
        app.asgi_handler = TracingMiddleware(observed, tracer)
    return app
