"""HTTP handlers of ``/metadatas``: parse, call the service, shape the response. No SQL, no business rules."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from metadock.dialects.api_platform.paging import paging_headers
from metadock.kit.authentication import principal_of
from metadock.kit.context import runtime_of
from metadock.kit.openapi import operation_with_query
from metadock.kit.request import query_pairs
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.metadatas.query import documented_parameters, parse_list_query
from metadock.metadatas.schemas import MetadataCreate, MetadataOut, MetadataUpdate
from metadock.metadatas.service import MetadataService


async def _service(request: Request[Any, Any, Any], unit: UnitOfWork) -> MetadataService:
    return MetadataService(await unit.connection(), principal_of(request))


class MetadataController(Controller):
    path = "/metadatas"
    tags = ["Metadata (DigitalState)"]  # noqa: RUF012 - Litestar declares it as a plain attribute

    @get("/", operation_class=operation_with_query(documented_parameters()), summary="List metadata resources")
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
        return Response(page.items, headers=paging_headers(request, pairs, query.page, query.per_page, page.total))

    @get("/{uuid:str}", summary="Get a metadata resource")
    async def get_metadata(
        self, request: Request[Any, Any, Any], uuid: FromPath[str], unit: RequestUnitOfWork
    ) -> MetadataOut:
        service = await _service(request, unit)
        return await service.get(uuid)

    @post("/", status_code=HTTP_201_CREATED, summary="Create a metadata resource")
    async def create_metadata(
        self, request: Request[Any, Any, Any], data: JSONBody[MetadataCreate], unit: RequestUnitOfWork
    ) -> Response[MetadataOut]:
        service = await _service(request, unit)
        created = await service.create(data)
        return Response(created, status_code=HTTP_201_CREATED, headers={"Location": f"/metadatas/{created.uuid}"})

    @put("/{uuid:str}", summary="Edit a metadata resource (partial; optimistic locking on version)")
    async def update_metadata(
        self,
        request: Request[Any, Any, Any],
        uuid: FromPath[str],
        data: JSONBody[MetadataUpdate],
        unit: RequestUnitOfWork,
    ) -> MetadataOut:
        service = await _service(request, unit)
        return await service.update(uuid, data)

    @delete("/{uuid:str}", status_code=HTTP_204_NO_CONTENT, summary="Delete a metadata resource")
    async def delete_metadata(
        self, request: Request[Any, Any, Any], uuid: FromPath[str], unit: RequestUnitOfWork
    ) -> None:
        service = await _service(request, unit)
        await service.delete(uuid)
