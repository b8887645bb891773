"""The OpenAPI document as the app really behaves: who may call, every answer an operation gives, readable ids.

Litestar builds the document from handler signatures, which cannot know what Metadock's middleware and dialects do
(authentication answers 401/403, errors are rendered in the route's dialect, downloads are bytes, query grammars are
parsed from the raw query string). Each handler declares what it does in a :class:`Docs` (route opt :data:`DOCS`);
:func:`finish_document` then rewrites Litestar's operations once, when the app is made, so ``/openapi.json`` and the
documents the docs pages load are one and the same.

Generic only: the dialects supply their error schemas through :class:`ErrorDocs` (route opt :data:`ERROR_DOCS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from litestar import Litestar
from litestar.enums import HttpMethod, ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute

from metadock.kit.authentication import PUBLIC, required_role
from metadock.kit.principal import Role

DOCS: Final = "docs"  # route opt: the route's Docs
ERROR_DOCS: Final = "error_docs"  # router opt, set with the dialect: the dialect's ErrorDocs

# The names and shapes of the Patchworks seed contract: the key alone in Authorization, or a Bearer JWT from login
# (an API key after "Bearer " is accepted too, see authentication.credential_from_header).
SECURITY_SCHEMES: Final = {
    "ApiKeyAuth": SecurityScheme(
        type="apiKey",
        name="Authorization",
        security_scheme_in="header",
        description="An API key alone in the Authorization header: `Authorization: mdk_…`.",
    ),
    "BearerAuth": SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="A login token from `POST /fabric/api/login`: `Authorization: Bearer <jwt>`.",
    ),
}
_HTTP_METHODS: Final = frozenset(method.value for method in HttpMethod)
_UNAVAILABLE: Final = "The database (or, for payloads, the store) is unavailable; retry later."


class ErrorDocs(Protocol):
    """How a dialect documents its error bodies: reusable schemas, and a response for a status."""

    def components(self) -> dict[str, Schema]: ...

    def response(self, status: int, description: str) -> OpenAPIResponse: ...


def header(schema: Schema, description: str, required: bool = True) -> OpenAPIHeader:
    return OpenAPIHeader(schema=schema, description=description, required=required)


Headers = dict[str, OpenAPIHeader | Reference]

STRING: Final = Schema(type=OpenAPIType.STRING)
INTEGER: Final = Schema(type=OpenAPIType.INTEGER)
BINARY: Final = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
# No NUL character anywhere (PostgreSQL can store none); and, for NOT_BLANK, something besides whitespace too (the
# services' "should not be blank", which strips what str.isspace() calls space, as the regex's \s does).
NO_NUL: Final = "^[^\\u0000]*$"
NOT_BLANK: Final = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


def text(max_length: int | None = None, *, blank: bool = True, min_length: int | None = None) -> Schema:
    """A string as a service validates it: no NUL, not blank unless ``blank``, at most ``max_length`` characters."""
    return Schema(
        type=OpenAPIType.STRING, pattern=NO_NUL if blank else NOT_BLANK, max_length=max_length, min_length=min_length
    )


@dataclass(frozen=True)
class BodyRules:
    """What a request body's validation enforces beyond the types Litestar reads from its struct: each property's
    full schema (built from the constants the service checks against, so that the two cannot drift apart), and
    the properties of which at least one is required."""

    properties: Mapping[str, Schema | Reference] = field(default_factory=dict)
    at_least_one_of: Sequence[str] = ()


def _apply_body_rules(schemas: Mapping[str, Schema | Reference], rules: Mapping[str, BodyRules]) -> None:
    for name, rule in rules.items():
        component = schemas[name]
        if not isinstance(component, Schema) or component.properties is None:
            raise LookupError(f"{name} is not an object schema in the document")
        unknown = set(rule.properties) - set(component.properties)
        if unknown:
            raise LookupError(f"{name} has no properties {sorted(unknown)}")
        component.properties = {**component.properties, **rule.properties}
        if rule.at_least_one_of:
            # "Not all of them absent" rather than anyOf of alternatives: generated clients read an anyOf on an object
            # as a union of several models, where `not` leaves the one model they make of the properties.
            component.schema_not = Schema(
                all_of=[Schema(schema_not=Schema(required=[name])) for name in rule.at_least_one_of]
            )


def parameter_schema(kind: str) -> Schema:
    """A query parameter's schema from the short names the query tables use."""
    if kind == "positive integer":
        return Schema(type=OpenAPIType.INTEGER, minimum=1)
    if kind == "array":
        return Schema(type=OpenAPIType.ARRAY, items=STRING)
    return Schema(type=OpenAPIType(kind))


def query_parameters(
    documented: Sequence[tuple[str, str, str]], required: Sequence[str] = (), schemas: Mapping[str, Schema] = {}
) -> list[Parameter]:
    """(name, kind, description) rows of a query table as parameters; ``schemas`` overrides a row's schema."""
    return [
        Parameter(
            name=name,
            param_in=ParamType.QUERY,
            required=name in required,
            schema=schemas.get(name) or parameter_schema(kind),
            description=description,
        )
        for name, kind, description in documented
    ]


@dataclass(frozen=True)
class Docs:
    """What Litestar cannot see of one operation (several paths of one handler: ``operation_id`` per path)."""

    operation_id: str | Mapping[str, str]
    errors: Mapping[int, str] = field(default_factory=dict)  # status -> when; rendered in the route's dialect
    parameters: Sequence[Parameter] = ()  # read by the handler from the raw request (query grammars, headers)
    request_body: RequestBody | None = None  # replaces Litestar's (a raw body)
    request_example: Any = None
    responses: Mapping[int, OpenAPIResponse] = field(default_factory=dict)  # replace or add non-error responses
    success_headers: Headers = field(default_factory=dict)
    success_example: Any = None
    links: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (operationId, id expression)
    link_parameter: str = "id"  # the path parameter the links fill
    schemes: Sequence[str] = ("ApiKeyAuth", "BearerAuth")  # the credentials a protected operation accepts

    def operation_id_for(self, path: str) -> str:
        return self.operation_id if isinstance(self.operation_id, str) else self.operation_id[path]


def _protected_errors(handler: HTTPRouteHandler, method: str) -> dict[int, str]:
    errors = {401: "No credential, or an invalid, expired or revoked one."}
    if required_role(handler, method) is not Role.READER:
        errors[403] = "The credential's role may not do this."
    errors[503] = _UNAVAILABLE
    return errors


def _success_status(operation: Operation) -> str:
    return next(status for status in (operation.responses or {}) if status.startswith("2"))


def _finish_operation(operation: Operation, handler: HTTPRouteHandler, method: str, path: str) -> None:
    docs: Docs | None = handler.opt.get(DOCS)
    if docs is None:
        raise LookupError(f"{method} {path} has no Docs: every operation must say what it answers")
    error_docs: ErrorDocs = handler.opt[ERROR_DOCS]
    public = bool(handler.opt.get(PUBLIC))
    operation.operation_id = docs.operation_id_for(path)
    operation.security = [] if public else [{name: []} for name in docs.schemes]
    operation.parameters = [*(operation.parameters or []), *docs.parameters]
    if docs.request_body is not None:
        operation.request_body = docs.request_body
    if docs.request_example is not None and isinstance(operation.request_body, RequestBody):
        for media in operation.request_body.content.values():
            media.example = docs.request_example
    # Litestar's own error responses (its default 400 {status_code, detail, extra}) are never what Metadock sends.
    success = _success_status(operation)
    responses: dict[str, Any] = {success: (operation.responses or {})[success]}
    ok = responses[success]
    if docs.success_headers:
        ok.headers = {**(ok.headers or {}), **docs.success_headers}
    if docs.success_example is not None:
        for media in (ok.content or {}).values():
            media.example = docs.success_example
    if docs.links:
        ok.links = {
            name: Link(operation_id=target, parameters={docs.link_parameter: expression})
            for name, (target, expression) in docs.links.items()
        }
    responses.update({str(status): response for status, response in docs.responses.items()})
    errors = {} if public else _protected_errors(handler, method)
    errors.update(docs.errors)
    for status, description in sorted(errors.items()):
        responses[str(status)] = error_docs.response(status, description)
    operation.responses = dict(sorted(responses.items()))


def complete_allow_headers(app: Litestar) -> None:
    """Litestar 2.25 answers OPTIONS with the methods of the route that made the OPTIONS handler, which for a path
    served by several handler groups is only one group's (``Allow: OPTIONS, POST`` on ``/metadatas``). The handler
    reads its route's ``methods`` when it answers (that set is read nowhere else), so each path's OPTIONS route is
    given every method the path's routing node dispatches."""
    pending = [app.asgi_router.root_route_map_node]
    while pending:
        node = pending.pop()
        pending.extend(node.children.values())
        options = node.asgi_handlers.get("OPTIONS")
        cells = getattr(getattr(options.handler, "fn", None), "__closure__", None) if options else None
        route = cells[0].cell_contents if cells else None
        if isinstance(route, HTTPRoute):
            route.methods = {HttpMethod(method) for method in node.asgi_handlers if method in _HTTP_METHODS}


def finish_document(
    app: Litestar,
    components: Sequence[Callable[[], dict[str, Schema]]] = (),
    body_rules: Sequence[Mapping[str, BodyRules]] = (),
) -> None:
    """Rewrite the app's (cached) OpenAPI model once, from each route's :class:`Docs` and dialect, and the request
    bodies' :class:`BodyRules` (component name -> rules)."""
    document = app.openapi_schema
    schemas: dict[str, Schema] = {}
    for make in components:
        schemas.update(make())
    existing = document.components if isinstance(document.components, Components) else Components()
    existing.schemas = {**(existing.schemas or {}), **schemas}
    existing.security_schemes = dict(SECURITY_SCHEMES)
    for rules in body_rules:
        _apply_body_rules(existing.schemas, rules)
    document.components = existing
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or document.paths is None or route.path_format not in document.paths:
            continue
        item = document.paths[route.path_format]
        for method, (handler, _kwargs) in route.route_handler_map.items():
            operation = getattr(item, method.lower(), None)
            if isinstance(operation, Operation) and handler.resolve_include_in_schema():
                _finish_operation(operation, handler, method, route.path_format)
