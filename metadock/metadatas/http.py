"""HTTP handlers of ``/metadatas``: parse, call the service, shape the response. No SQL, no business rules."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.dialects.api_platform import JSON_UTF8
from metadock.dialects.api_platform.paging import paging_headers
from metadock.kit.authentication import principal_of
from metadock.kit.context import runtime_of
from metadock.kit.export import export_response, parse_export_format
from metadock.kit.openapi import DOCS
from metadock.kit.read_ahead import READ_AHEAD
from metadock.kit.request import query_pairs
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.metadatas import openapi as docs
from metadock.metadatas.query import parse_list_query
from metadock.metadatas.schemas import MetadataCreate, MetadataOut, MetadataUpdate
from metadock.metadatas.service import MetadataService


async def _look_up_before_an_undecodable_body(request: Request[Any, Any, Any]) -> None:
    """API Platform finds the item before it reads the body: a PUT on a missing or another tenant's uuid is a 404
    whatever its body. Litestar decodes the body before the handler runs, so a body that would not decode is tried
    here first and, only then, the item looked up; a body that decodes costs one more decode and no query."""
    try:
        msgspec.json.decode(await request.body(), type=MetadataUpdate)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        unit = UnitOfWork.of(request.scope, runtime_of(request).database)
        async with unit.transaction() as connection:
            await MetadataService(connection, principal_of(request)).get(request.path_params["uuid"])  # 404 if absent
        # The item exists: Litestar's own decoding then answers the 400 naming what is wrong.


_PAGING_PARAMETERS = frozenset({"page", "limit"})


async def _service(request: Request[Any, Any, Any], unit: UnitOfWork) -> MetadataService:
    return MetadataService(await unit.connection(), principal_of(request))


class MetadataController(Controller):
    path = "/metadatas"
    tags = ["Metadata (DigitalState)"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get(
        "/",
        summary="List metadata resources",
        opt={DOCS: docs.LIST},
        media_type=JSON_UTF8,
    )
    async def list_metadatas(
        self, request: Request[Any, Any, Any], unit: RequestUnitOfWork
    ) -> Response[list[MetadataOut]]:
        settings = runtime_of(request).settings
        pairs = query_pairs(request)
        query = parse_list_query(
            pairs, default_limit=settings.metadatas_default_limit, max_limit=settings.metadatas_max_limit
        )
        service = await _service(request, unit)
        page = await service.list(query)
        headers = paging_headers(request, pairs, query.page, query.per_page, page.total)
        return Response(page.items, headers=headers, media_type=JSON_UTF8)

    @get("/export", summary="Export metadata resources (Metadock)", opt={DOCS: docs.EXPORT})
    async def export_metadatas(self, request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Stream:
        """Every resource the list's filters select, streamed (no pages); see PayloadController's export."""
        settings = runtime_of(request).settings
        # The list's grammar; page and limit play no part in an export, so they are not read (nor refused).
        pairs = [(name, value) for name, value in query_pairs(request) if name not in _PAGING_PARAMETERS]
        export_format = parse_export_format(pairs)
        query = parse_list_query(
            pairs, default_limit=settings.metadatas_default_limit, max_limit=settings.metadatas_max_limit
        )
        service = await _service(request, unit)
        batches = await service.export(query, runtime_of(request).database, settings.export_batch_size)
        return export_response(export_format, batches, MetadataOut, "metadatas")

    @get(
        "/{uuid:str}",
        summary="Get a metadata resource",
        media_type=JSON_UTF8,
        opt={DOCS: docs.GET, READ_AHEAD: MetadataService.read_ahead_of_get},
    )
    async def get_metadata(
        self, request: Request[Any, Any, Any], uuid: FromPath[str], unit: RequestUnitOfWork
    ) -> MetadataOut:
        service = await _service(request, unit)
        return await service.get(uuid)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create a metadata resource",
        media_type=JSON_UTF8,
        opt={DOCS: docs.CREATE},
    )
    async def create_metadata(
        self, request: Request[Any, Any, Any], data: JSONBody[MetadataCreate], unit: RequestUnitOfWork
    ) -> Response[MetadataOut]:
        service = await _service(request, unit)
        created = await service.create(data)
        location = {"Location": f"/metadatas/{created.uuid}"}
        return Response(created, status_code=HTTP_201_CREATED, headers=location, media_type=JSON_UTF8)

    @put(
        "/{uuid:str}",
        summary="Edit a metadata resource (partial; optimistic locking on version)",
        media_type=JSON_UTF8,
        before_request=_look_up_before_an_undecodable_body,
        opt={DOCS: docs.UPDATE},
    )
    async def update_metadata(
        self,
        request: Request[Any, Any, Any],
        uuid: FromPath[str],
        data: JSONBody[MetadataUpdate],
        unit: RequestUnitOfWork,
    ) -> MetadataOut:
        service = await _service(request, unit)
        return await service.update(uuid, data)

    @delete(
        "/{uuid:str}", status_code=HTTP_204_NO_CONTENT, summary="Delete a metadata resource", opt={DOCS: docs.DELETE}
    )
    async def delete_metadata(
        self, request: Request[Any, Any, Any], uuid: FromPath[str], unit: RequestUnitOfWork
    ) -> None:
        service = await _service(request, unit)
        await service.delete(uuid)
