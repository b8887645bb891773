"""What ``/metadatas`` answers, for the OpenAPI document; the examples are the DigitalState seed's own."""

from __future__ import annotations

from typing import Any, Final

from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Parameter, Schema

from metadock.kit.openapi import INTEGER, NO_NUL, STRING, BodyRules, Docs, header, query_parameters, text
from metadock.metadatas import query
from metadock.metadatas.query import FILTERS, documented_parameters
from metadock.metadatas.service import MAX_LOCALE, MAX_TEXT

# The seed's examples (digitalstate-metadata.md), word for word.
_ITEM: Final[dict[str, Any]] = {
    "id": 1,
    "uuid": "941b9d4e-d0e5-41df-a62e-97db05559dac",
    "createdAt": "2018-07-18T19:20:17+00:00",
    "updatedAt": "2018-07-18T19:20:17+00:00",
    "owner": "BusinessUnit",
    "ownerUuid": "c11c546e-bd01-47cf-97da-e25388357b5a",
    "title": {"en": "OAuth Providers"},
    "slug": "oauth-providers",
    "type": "authentication",
    "data": ["Github", "Google", "Twitter"],
    "version": 1,
    "tenant": "e5a2120d-6bf7-4c58-a900-bac1e55e986b",
}
_CREATE: Final = {
    "owner": "BusinessUnit",
    "ownerUuid": "c11c546e-bd01-47cf-97da-e25388357b5a",
    "title": {"en": "OAuth Providers"},
    "slug": "oauth-providers",
    "type": "authentication",
    "data": ["Github", "Google", "Twitter"],
    "version": 1,
}
_UPDATE: Final = {"data": ["Github", "Google", "Twitter", "Yahoo"], "version": 1}
_UPDATED: Final = {
    **_ITEM,
    "id": 2,
    "uuid": "cf687347-6bba-4137-b180-9f581f5cba84",
    "updatedAt": "2018-07-19T12:08:30+00:00",
    "data": ["Github", "Google", "Twitter", "Yahoo"],
    "version": 2,
}

_NOT_FOUND: Final = {404: "No metadata resource with this uuid in the caller's tenant (or the uuid is not one)."}
_BODY_ERRORS: Final = {
    400: "Malformed JSON, a missing or invalid property, or a `slug` (or `uuid`) already used; the violations name "
    "the property.",
    413: "The body is larger than `METADOCK_MAX_BODY_BYTES`.",
}
_LINK_ID: Final = "$response.body#/uuid"


def _one_or_several(one: Schema) -> Schema:
    """A filter takes one value or, repeated (`id=1&id=2`, form style exploded), several: any of them matches. The
    API Platform spelling `id[]=1&id[]=2` means the same and stays out of the document, in the filter's description:
    a parameter named like another plus `[]` makes generated clients (openapi-python-client) give up the operation,
    as both names become one identifier."""
    return Schema(one_of=[one, Schema(type=OpenAPIType.ARRAY, items=one)])


# What query.parse_list_query accepts, value by value.
_ID: Final = Schema(type=OpenAPIType.INTEGER, minimum=query.MIN_ID, maximum=query.MAX_ID)
_UUID: Final = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID)
_FILTER_VALUES: Final = {"id": _ID, "uuid": _UUID, "ownerUuid": _UUID}
_FILTER_SCHEMAS: Final = {param.name: _one_or_several(_FILTER_VALUES.get(param.name, text())) for param in FILTERS}
_DATE: Final = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME)
_DIRECTION: Final = Schema(type=OpenAPIType.STRING, pattern="^\\s*([Aa][Ss][Cc]|[Dd][Ee][Ss][Cc])\\s*$")
_QUERY_SCHEMAS: Final = {
    **_FILTER_SCHEMAS,
    **{f"{field}[{op}]": _DATE for field in query.DATE_FIELDS for op in query.DATE_OPS},
    **{f"order[{name}]": _DIRECTION for name in query.ORDER_FIELDS},
    "page": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=query.MAX_PAGE, default=1),
    # Above METADOCK_METADATAS_MAX_LIMIT it is clamped; refused only past what the parser reads as an integer.
    "limit": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=query.LARGEST_INTEGER, default=10),
}

# What MetadataService.create / update check, from the constants they check against.
_OWNER_UUID: Final = Schema(one_of=[_UUID, Schema(type=OpenAPIType.NULL)])
_TITLE: Final = Schema(
    type=OpenAPIType.OBJECT,
    min_properties=1,
    property_names=Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_LOCALE, pattern=NO_NUL),
    additional_properties=text(MAX_TEXT),
)
_BODY: Final = {
    "owner": text(MAX_TEXT, blank=False),
    "slug": text(MAX_TEXT, blank=False),
    "type": text(MAX_TEXT, blank=False),
    "title": _TITLE,
    "uuid": _UUID,
    "ownerUuid": _OWNER_UUID,
}
# An update reads and ignores `uuid` (a resource's uuid never changes): any string goes there.
BODY_RULES: Final = {
    "MetadataCreate": BodyRules(_BODY),
    "MetadataUpdate": BodyRules({name: schema for name, schema in _BODY.items() if name != "uuid"}),
}


LIST: Final = Docs(
    operation_id="listMetadatas",
    parameters=query_parameters(
        [row for row in documented_parameters() if not row[0].endswith("[]")], schemas=_QUERY_SCHEMAS
    ),
    errors={400: "An invalid value of a known parameter, or an order on an unknown property; the violation names it."},
    success_headers={
        "X-Total-Count": header(INTEGER, "The number of resources the filters select, on every page."),
        "Link": header(STRING, "RFC 8288 links: `first`, `prev`, `next`, `last` (other parameters kept)."),
    },
    success_example=[_ITEM],
)
GET: Final = Docs(operation_id="getMetadata", errors=_NOT_FOUND, success_example=_ITEM)
CREATE: Final = Docs(
    operation_id="createMetadata",
    errors=_BODY_ERRORS,
    request_example=_CREATE,
    success_headers={"Location": header(STRING, "The new resource's path: `/metadatas/{uuid}`.")},
    success_example={**_ITEM, "id": 2, "uuid": "cf687347-6bba-4137-b180-9f581f5cba84"},
    links={
        "GetMetadata": ("getMetadata", _LINK_ID),
        "UpdateMetadata": ("updateMetadata", _LINK_ID),
        "DeleteMetadata": ("deleteMetadata", _LINK_ID),
    },
    link_parameter="uuid",
)
UPDATE: Final = Docs(
    operation_id="updateMetadata",
    errors={
        **_NOT_FOUND,
        **_BODY_ERRORS,
        409: "`version` is not the stored one (someone else changed the resource): nothing was changed.",
    },
    request_example=_UPDATE,
    success_example=_UPDATED,
)
DELETE: Final = Docs(operation_id="deleteMetadata", errors=_NOT_FOUND)

_EXPORT_FORMAT: Final = Parameter(
    name="format",
    param_in=ParamType.QUERY,
    required=False,
    schema=Schema(type=OpenAPIType.STRING, enum=["ndjson", "csv"], default="ndjson"),
    description="`ndjson` (one JSON object per line, the default) or `csv` (RFC 4180, a header row; `title` and "
    "`data` as JSON text; text fields beginning with `=`, `+`, `-`, `@`, a tab or a CR get a leading `'`).",
)
EXPORT: Final = Docs(
    operation_id="exportMetadatas",
    parameters=[
        _EXPORT_FORMAT,
        *query_parameters(
            [row for row in documented_parameters() if not row[0].endswith("[]") and row[0] not in ("page", "limit")],
            schemas=_QUERY_SCHEMAS,
        ),
    ],
    responses={
        200: OpenAPIResponse(
            description=(
                "Every resource the filters select in the caller's tenant, in the order asked, streamed: no pages. "
                "Each line (or row) has the fields of a list item."
            ),
            headers={"Content-Disposition": header(STRING, '`attachment; filename="metadatas.<ndjson|csv>"`.')},
            content={
                "application/x-ndjson": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
                "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
            },
        ),
    },
    errors={400: "An invalid value of a known parameter, an order on an unknown property, or an unknown `format`."},
)
