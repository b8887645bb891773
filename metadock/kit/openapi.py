"""OpenAPI helpers: document query grammars that handlers parse themselves from the raw query string."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from litestar.enums import ParamType
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)


def _schema(kind: str) -> Schema:
    if kind == "positive integer":
        return Schema(type=OpenAPIType.INTEGER, minimum=1)
    if kind == "array":
        return Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING))
    return Schema(type=OpenAPIType(kind))


def operation_with_query(
    documented: Sequence[tuple[str, str, str]], required: Sequence[str] = (), raw_body: str | None = None
) -> type[Operation]:
    """An Operation class that lists ``documented`` (name, type, description) as query parameters, optional unless
    named in ``required``; ``raw_body`` describes a request body read as raw bytes (any content type)."""
    extra = [
        Parameter(
            name=name,
            param_in=ParamType.QUERY,
            required=name in required,
            schema=_schema(kind),
            description=description,
        )
        for name, kind, description in documented
    ]

    @dataclass
    class _DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), *extra]
            if raw_body is not None:
                binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                self.request_body = RequestBody(
                    content={"application/octet-stream": OpenAPIMediaType(schema=binary)}, description=raw_body
                )

    return _DocumentedOperation


# OpenAPI links: where an id a response returns can be used next. They let a stateful client (schemathesis's state
# machine, code generators) chain create -> read/update/delete; Litestar has no way to declare them on a handler.
_LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str]]] = {
    # (path, method, status) -> {link name: (operationId, runtime expression of the id)}
    ("/metadatas", "post", "201"): {
        "GetMetadata": ("MetadatasUuidGetMetadata", "$response.body#/uuid"),
        "UpdateMetadata": ("MetadatasUuidUpdateMetadata", "$response.body#/uuid"),
        "DeleteMetadata": ("MetadatasUuidDeleteMetadata", "$response.body#/uuid"),
    },
    ("/api/v1/payload-metadata", "post", "201"): {
        "GetPayloadMetadata": ("ApiV1PayloadMetadataPayloadMetadatumGetPayloadMetadata", "$response.body#/data/id"),
        "GetPayloadMeta": ("ApiV1PayloadMetadataPayloadMetadatumGetPayloadMeta", "$response.body#/data/id"),
        "DownloadPayload": ("ApiV1PayloadMetadataPayloadMetadatumDownloadDownloadPayload", "$response.body#/data/id"),
        "DeletePayload": ("ApiV1PayloadMetadataPayloadMetadatumDeletePayload", "$response.body#/data/id"),
    },
    # The list's first record: a way in for clients (and schemathesis) that did not capture the payloads they read.
    ("/api/v1/payload-metadata", "get", "200"): {
        "GetFirstPayloadMetadata": (
            "ApiV1PayloadMetadataPayloadMetadatumGetPayloadMetadata",
            "$response.body#/data/0/id",
        ),
        "GetFirstPayloadMeta": ("ApiV1PayloadMetadataPayloadMetadatumGetPayloadMeta", "$response.body#/data/0/id"),
        "DownloadFirstPayload": (
            "ApiV1PayloadMetadataPayloadMetadatumDownloadDownloadPayload",
            "$response.body#/data/0/id",
        ),
    },
}
_ID_PARAMETER = {"/metadatas": "uuid", "/api/v1/payload-metadata": "payload_metadatum"}


def with_links(schema: dict[str, Any]) -> dict[str, Any]:
    """The published document: Litestar's, plus the links above. Fails loudly if a linked operation is renamed."""
    operation_ids = {
        operation["operationId"]
        for operations in schema.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for (path, method, status), links in _LINKS.items():
        response = schema["paths"][path][method]["responses"][status]
        response["links"] = {}
        for name, (operation_id, expression) in links.items():
            if operation_id not in operation_ids:
                raise LookupError(f"OpenAPI link {name} names an unknown operation {operation_id}")
            response["links"][name] = {"operationId": operation_id, "parameters": {_ID_PARAMETER[path]: expression}}
    return schema
