"""What ``/api/v1/payload-metadata`` answers, for the OpenAPI document: Laravel's shapes, downloads as bytes."""

from __future__ import annotations

from typing import Final

from litestar import Litestar
from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Parameter, RequestBody, Schema

from metadock.kit.openapi import (
    BINARY,
    INTEGER,
    NO_NUL,
    STRING,
    Docs,
    Headers,
    header,
    parameter_schema,
    query_parameters,
)
from metadock.payloads import capture, tag_tables, tags
from metadock.payloads.query import PAYLOAD_QUERY, documented_parameters
from metadock.payloads.search import MAX_QUERY_CHARS, SEARCH_FILTER

_NOT_FOUND: Final = {404: "No payload with this id in the caller's tenant (or the id is not a positive integer)."}
# The Patchworks contract lists 403 on its reads; every Metadock role may read, so Metadock never sends it there.
_CONTRACT_403: Final = {
    403: "Listed by the Patchworks contract; never sent by Metadock on a read (every role may read)."
}
_LIST_PARAMETERS: Final = documented_parameters()
# Read the way a Laravel controller reads them, never refused (see the README): the schemas say what is meaningful.
_PAGING: Final = {
    "page": Schema(type=OpenAPIType.INTEGER, minimum=1, default=1),
    "per_page": Schema(type=OpenAPIType.INTEGER, minimum=1, default=15),
}
# Bytes of any type. application/octet-stream is named as well (it is one of "any"): generated clients know bytes only
# under that name (openapi-python-client skips a body or response that is only */*). Under */* no schema: the bytes
# are whatever was captured, JSON included, which a checker would otherwise parse and hold against `string`.
ANY_BYTES: Final = {
    "application/octet-stream": OpenAPIMediaType(schema=BINARY),
    "*/*": OpenAPIMediaType(schema=Schema()),
}
# laravel.query._parse_sort: comma-separated allowed fields, each maybe after "-", spaces and empty parts ignored.
_SORT_FIELD: Final = "\\s*(-?(" + "|".join(PAYLOAD_QUERY.sorts) + "))?\\s*"
_SORT: Final = Schema(type=OpenAPIType.STRING, pattern=f"^{_SORT_FIELD}(,{_SORT_FIELD})*$")
_TAG_FILTER: Final = f"filter[{tags.TAG_FILTER_PREFIX}{tags.TRACE_TAG}]"
# On the item route, where they are ignored, any sort (and tag value) goes.
_SEARCH_PARAMETER: Final = f"filter[{SEARCH_FILTER}]"
_LIST_SCHEMAS: Final = {
    **_PAGING,
    "sort": _SORT,
    _TAG_FILTER: Schema(type=OpenAPIType.STRING, pattern=NO_NUL),
    _SEARCH_PARAMETER: Schema(type=OpenAPIType.STRING, pattern=NO_NUL, max_length=MAX_QUERY_CHARS),
}
_BY_ID: Final = "$response.body#/data/id"
_FIRST_ID: Final = "$response.body#/data/0/id"

LIST: Final = Docs(
    operation_id="listPayloadMetadata",
    parameters=query_parameters(_LIST_PARAMETERS, schemas=_LIST_SCHEMAS),
    errors={
        400: "A filter or sort that is not allowed (filter[search] when content search is off), more than 500 "
        "values in one filter, NUL in a tag or search filter, or a search over 1,000 characters.",
        **_CONTRACT_403,
    },
    # The first record: a way in for clients that did not capture the payloads they read.
    links={
        "GetFirstPayloadMetadata": ("getPayloadMetadata", _FIRST_ID),
        "GetFirstPayloadMetadataMeta": ("getPayloadMetadataMeta", _FIRST_ID),
        "DownloadFirstPayloadMetadata": ("downloadPayloadMetadata", _FIRST_ID),
    },
    link_parameter="payload_metadatum",
)

_FLOW_ID: Final = Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=capture.MAX_ID)
CAPTURE_PARAMETERS: Final = [
    (name, "positive integer", f"The flow's {name.removesuffix('_id').replace('_', ' ')} id.")
    for name in ("flow_run_id", "flow_step_id", "flow_version_id", "flow_log_id")
]
# tag[<name>]=<value>: an object in the query, as OpenAPI writes PHP-style brackets (deepObject).
_TAGS: Final = Parameter(
    name="tag",
    param_in=ParamType.QUERY,
    required=False,
    style="deepObject",
    explode=True,
    schema=Schema(
        type=OpenAPIType.OBJECT,
        max_properties=tags.MAX_TAGS,
        property_names=Schema(type=OpenAPIType.STRING, pattern=f"^{tags.NAME.pattern}$"),
        additional_properties=Schema(type=OpenAPIType.STRING, max_length=tag_tables.MAX_VALUE, pattern=NO_NUL),
    ),
    description=(
        f"Business keys: `tag[order_id]=1234`, up to {tags.MAX_TAGS}; names `{tags.NAME.pattern}`, values up to "
        f"{tag_tables.MAX_VALUE} characters. Shown in `/meta` as `data.tags`; found with `filter[tag.<name>]`."
    ),
)
CAPTURE: Final = Docs(
    operation_id="capturePayload",
    parameters=[
        *query_parameters(
            CAPTURE_PARAMETERS,
            required=("flow_run_id", "flow_step_id"),
            schemas={name: _FLOW_ID for name, _kind, _description in CAPTURE_PARAMETERS},
        ),
        _TAGS,
    ],
    request_body=RequestBody(
        # An empty body is a payload too (0 bytes).
        required=False,
        description="The payload's bytes, kept exactly, under the request's `Content-Type` (any type).",
        content={"application/octet-stream": OpenAPIMediaType(schema=BINARY), "*/*": OpenAPIMediaType(schema=BINARY)},
    ),
    errors={
        422: "A missing or invalid flow id, an unusable `Content-Type`, or a bad tag; `errors` names each.",
        507: "The payload store is full: nothing was recorded.",
    },
    links={
        "GetPayloadMetadata": ("getPayloadMetadata", _BY_ID),
        "GetPayloadMetadataMeta": ("getPayloadMetadataMeta", _BY_ID),
        "DownloadPayloadMetadata": ("downloadPayloadMetadata", _BY_ID),
        "DeletePayload": ("deletePayload", _BY_ID),
    },
    link_parameter="payload_metadatum",
)

# The Patchworks contract lists the list's parameters on the item route too; Laravel ignores them there, and so does
# Metadock: documented so that a client generated from the contract keeps working.
GET: Final = Docs(
    operation_id="getPayloadMetadata",
    parameters=[
        Parameter(
            name=name,
            param_in=ParamType.QUERY,
            required=False,
            schema=_PAGING.get(name) or parameter_schema(kind),
            description="Accepted and ignored (the contract lists it here).",
        )
        for name, kind, _description in _LIST_PARAMETERS
    ],
    errors={**_NOT_FOUND, **_CONTRACT_403},
)
META: Final = Docs(operation_id="getPayloadMetadataMeta", errors={**_NOT_FOUND, **_CONTRACT_403})
DELETE: Final = Docs(operation_id="deletePayload", errors=_NOT_FOUND)

_DOWNLOAD_HEADERS: Final[Headers] = {
    "Content-Type": header(STRING, "Exactly the type the payload was captured with."),
    "Content-Length": header(INTEGER, "The size of the bytes sent."),
    "ETag": header(STRING, "The payload's SHA-256, quoted."),
    "Accept-Ranges": header(STRING, "`bytes`."),
    "Content-Disposition": header(STRING, '`attachment; filename="payload-<id>.<ext>"`.'),
}
DOWNLOAD: Final = Docs(
    operation_id="downloadPayloadMetadata",
    parameters=[
        Parameter(
            name="Range",
            param_in=ParamType.HEADER,
            schema=STRING,
            description="One byte range, `bytes=<first>-[<last>]` or `bytes=-<suffix>`: 206 with that part.",
        ),
        Parameter(
            name="If-None-Match",
            param_in=ParamType.HEADER,
            schema=STRING,
            description="The ETag of a copy the client has: 304 if it is still the payload.",
        ),
    ],
    responses={
        200: OpenAPIResponse(
            description="The payload's bytes exactly as captured.", headers=_DOWNLOAD_HEADERS, content=ANY_BYTES
        ),
        206: OpenAPIResponse(
            description="The range asked for.",
            headers={
                **_DOWNLOAD_HEADERS,
                "Content-Range": header(STRING, "`bytes <first>-<last>/<size>`."),
            },
            content=ANY_BYTES,
        ),
        304: OpenAPIResponse(
            description="`If-None-Match` names the payload's ETag: the client's copy is current.",
            headers={name: _DOWNLOAD_HEADERS[name] for name in ("ETag", "Accept-Ranges", "Content-Disposition")},
        ),
    },
    errors={
        **_NOT_FOUND,
        **_CONTRACT_403,
        410: "The bytes are gone: dropped (too large), pruned, deleted, or missing from the store.",
        416: "The range is outside the payload.",
    },
)

RUN_ZIP: Final = Docs(
    operation_id="downloadRunPayloads",
    responses={
        200: OpenAPIResponse(
            description=(
                "A ZIP, streamed: `step-<flow_step_id>/payload-<id>.<ext>` for every stored payload of the run, and "
                "`manifest.json` listing every record (dropped ones with `file: null`) with its `/meta` fields."
            ),
            headers={"Content-Disposition": header(STRING, '`attachment; filename="flow-run-<id>-payloads.zip"`.')},
            # application/octet-stream too: generated clients know bytes only under that name (openapi-python-client
            # left the whole 200 out for application/zip alone, failing tests/test_generated_client.py).
            content={
                "application/zip": OpenAPIMediaType(schema=BINARY),
                "application/octet-stream": OpenAPIMediaType(schema=BINARY),
            },
        ),
    },
    errors={404: "The caller's tenant has no payload record of this run (or the id is not a positive integer)."},
)

# A line or a row per record, as the list's `data` items (kit/export.py); the generator reads both as text.
EXPORT_BODIES: Final = {
    "application/x-ndjson": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
    "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
}
EXPORT_FORMAT: Final = Parameter(
    name="format",
    param_in=ParamType.QUERY,
    required=False,
    schema=Schema(type=OpenAPIType.STRING, enum=["ndjson", "csv"], default="ndjson"),
    description="`ndjson` (one JSON object per line, the default) or `csv` (RFC 4180, a header row; text fields "
    "beginning with `=`, `+`, `-`, `@`, a tab or a CR get a leading `'`).",
)
EXPORT: Final = Docs(
    operation_id="exportPayloadMetadata",
    parameters=[
        EXPORT_FORMAT,
        *query_parameters([row for row in _LIST_PARAMETERS if row[0] not in _PAGING], schemas={"sort": _SORT}),
    ],
    responses={
        200: OpenAPIResponse(
            description=(
                "Every record the filters select in the caller's tenant, in the sort's order, streamed: no pages. "
                "Each line (or row) has the fields of the list's `data` items."
            ),
            headers={"Content-Disposition": header(STRING, '`attachment; filename="payload-metadata.<ndjson|csv>"`.')},
            content=EXPORT_BODIES,
        ),
    },
    errors={
        400: "A filter or sort that is not allowed, or more than 500 values in one filter.",
        422: "A `format` other than `ndjson` or `csv`; `errors.format` says so.",
    },
)


def without_content_search(app: Litestar) -> None:
    """The document of a server with content search off (the default) lists no ``filter[search]``: it would answer
    400, as to any filter not allowed."""
    for item in (app.openapi_schema.paths or {}).values():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is not None and operation.parameters:
                operation.parameters = [
                    parameter
                    for parameter in operation.parameters
                    if not (isinstance(parameter, Parameter) and parameter.name == _SEARCH_PARAMETER)
                ]
