"""HTTP handlers of ``/metadatas``: parse, call the service, shape the response. No SQL, no business rules."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.kit.context import context_of
from metadock.kit.http import CurrentPrincipal, DbConnection
from metadock.kit.openapi import operation_with_query
from metadock.metadatas.query import documented_parameters, parse_list_query
from metadock.metadatas.schemas import MetadataCreate, MetadataOut, MetadataUpdate
from metadock.metadatas.service import MetadataService

# The media type of a successful answer exactly as API Platform writes it (DigitalState's own tests compare the
# header as a string). Errors keep application/problem+json.
JSON_UTF8 = "application/json; charset=utf-8"


async def _look_up_before_an_undecodable_body(request: Request[Any, Any, Any]) -> None:
    """API Platform finds the item before it reads the body: a PUT on a missing or another tenant's uuid is a 404
    whatever its body. Litestar decodes the body before the handler runs, so a body that would not decode is tried
    here first and, only then, the item looked up; a body that decodes costs one more decode and no query."""
    try:
        msgspec.json.decode(await request.body(), type=MetadataUpdate)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        async with context_of(request).database.transaction() as connection:
            await MetadataService(connection, request.user).get(request.path_params["uuid"])  # 404 when absent
        # The item exists: Litestar's own decoding then answers the 400 naming what is wrong.


def _query_pairs(request: Request[Any, Any, Any]) -> list[tuple[str, str]]:
    """The query's pairs in the order sent (``request.query_params`` regroups them, which loses the order of
    ``order[...]``); decoded as Litestar decodes them."""
    query_string: bytes = request.scope.get("query_string", b"")
    return parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, separator="&")


def _link_header(
    request: Request[Any, Any, Any], pairs: list[tuple[str, str]], page: int, limit: int, total: int
) -> str:
    last = max(1, math.ceil(total / limit))
    others = [(k, v) for k, v in pairs if k != "page"]

    def link(target: int, rel: str) -> str:
        return f'<{request.url.path}?{urlencode([*others, ("page", str(target))])}>; rel="{rel}"'

    links = [link(1, "first")]
    if page > 1:
        links.append(link(min(page - 1, last), "prev"))
    if page < last:
        links.append(link(page + 1, "next"))
    links.append(link(last, "last"))
    return ", ".join(links)


class MetadataController(Controller):
    path = "/metadatas"
    tags = ["Metadata (DigitalState)"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get(
        "/",
        operation_class=operation_with_query(documented_parameters()),
        summary="List metadata resources",
        media_type=JSON_UTF8,
    )
    async def list_metadatas(
        self, request: Request[Any, Any, Any], connection: DbConnection, principal: CurrentPrincipal
    ) -> Response[list[MetadataOut]]:
        settings = context_of(request).settings
        pairs = _query_pairs(request)
        query = parse_list_query(
            pairs, default_limit=settings.metadatas_default_limit, max_limit=settings.metadatas_max_limit
        )
        page = await MetadataService(connection, principal).list(query)
        headers = {
            "X-Total-Count": str(page.total),
            "Link": _link_header(request, pairs, query.page, query.per_page, page.total),
        }
        return Response(page.items, headers=headers, media_type=JSON_UTF8)

    @get("/{uuid:str}", summary="Get a metadata resource", media_type=JSON_UTF8)
    async def get_metadata(
        self, uuid: FromPath[str], connection: DbConnection, principal: CurrentPrincipal
    ) -> MetadataOut:
        return await MetadataService(connection, principal).get(uuid)

    @post("/", status_code=HTTP_201_CREATED, summary="Create a metadata resource", media_type=JSON_UTF8)
    async def create_metadata(
        self, data: JSONBody[MetadataCreate], connection: DbConnection, principal: CurrentPrincipal
    ) -> Response[MetadataOut]:
        created = await MetadataService(connection, principal).create(data)
        location = {"Location": f"/metadatas/{created.uuid}"}
        return Response(created, status_code=HTTP_201_CREATED, headers=location, media_type=JSON_UTF8)

    @put(
        "/{uuid:str}",
        summary="Edit a metadata resource (partial; optimistic locking on version)",
        media_type=JSON_UTF8,
        before_request=_look_up_before_an_undecodable_body,
    )
    async def update_metadata(
        self, uuid: FromPath[str], data: JSONBody[MetadataUpdate], connection: DbConnection, principal: CurrentPrincipal
    ) -> MetadataOut:
        return await MetadataService(connection, principal).update(uuid, data)

    @delete("/{uuid:str}", status_code=HTTP_204_NO_CONTENT, summary="Delete a metadata resource")
    async def delete_metadata(self, uuid: FromPath[str], connection: DbConnection, principal: CurrentPrincipal) -> None:
        await MetadataService(connection, principal).delete(uuid)
