"""Metadata pages: list with the /metadatas filters, view, create, edit (JSON validated here, the version checked by
the service), delete with confirmation. Writes go through MetadataService, as the API's do."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from msgspec import UNSET

from metadock.console.once import AlreadySent, create_once, form_once
from metadock.console.params import export_format
from metadock.console.rendering import render, see_other
from metadock.console.session import current_principal
from metadock.context import context_of
from metadock.kit.errors import AppError, Violation
from metadock.kit.export import export_response
from metadock.kit.unit_of_work import RequestUnitOfWork, UnitOfWork
from metadock.metadatas.query import parse_list_query
from metadock.metadatas.schemas import MetadataCreate, MetadataOut, MetadataUpdate
from metadock.metadatas.service import MetadataService

PER_PAGE = 20
FILTERS = ("type", "owner", "slug", "title")

_FIELDS = ("owner", "slug", "type", "title", "owner_uuid", "data", "version")
TITLE_SHAPE = 'The title must be a JSON object of locale to text, e.g. {"en": "Name"}.'

OptionalText = Annotated[str | None, QueryParameter(required=False)]


@dataclass
class MetadataForm:
    """What the form shows: the user's own text, kept as typed when it is re-shown with errors."""

    owner: str = ""
    slug: str = ""
    type: str = ""
    title: str = '{"en": ""}'
    owner_uuid: str = ""
    data: str = "{}"
    version: str = "1"
    errors: list[Violation] = field(default_factory=list)

    @classmethod
    def of(cls, item: MetadataOut) -> MetadataForm:
        return cls(
            owner=item.owner,
            slug=item.slug,
            type=item.type,
            title=json.dumps(item.title, indent=2, ensure_ascii=False),
            owner_uuid=item.owner_uuid or "",
            data=json.dumps(item.data, indent=2, ensure_ascii=False),
            version=str(item.version),
        )

    @classmethod
    async def posted(cls, request: Request[Any, Any, Any]) -> MetadataForm:
        form = await request.form()
        owner, slug, kind, title, owner_uuid, data, version = (str(form.get(name, "")) for name in _FIELDS)
        return cls(owner, slug, kind, title, owner_uuid, data, version)

    def parsed(self) -> tuple[dict[str, str], Any]:
        """The title and data as JSON; violations are collected on the form (nothing is stored when any exists)."""
        title: Any = None
        data: Any = None
        try:
            title = json.loads(self.title)
            if not isinstance(title, dict) or not all(isinstance(v, str) for v in title.values()):
                self.errors.append(Violation("title", TITLE_SHAPE))
        except ValueError as error:
            self.errors.append(Violation("title", f"The title is not valid JSON: {error}."))
        try:
            data = json.loads(self.data) if self.data.strip() else {}
        except (ValueError, RecursionError) as error:
            self.errors.append(Violation("data", f"The data is not valid JSON: {error}."))
        return title if isinstance(title, dict) else {}, data


def _violations(error: AppError) -> list[Violation]:
    return error.violations or [Violation("", error.detail)]


@get("/metadatas")
async def metadata_list(
    request: Request[Any, Any, Any],
    unit: RequestUnitOfWork,
    page: OptionalText = None,
    deleted: OptionalText = None,
    resent: OptionalText = None,
) -> Response[Any]:
    values = {name: (request.query_params.get(name) or "").strip() for name in FILTERS}
    pairs = [(name, value) for name, value in values.items() if value]
    pairs += [("page", page or "1"), ("limit", str(PER_PAGE)), ("order[updatedAt]", "desc")]
    settings = context_of(request).settings
    query = parse_list_query(pairs, default_limit=PER_PAGE, max_limit=max(settings.metadatas_max_limit, PER_PAGE))
    async with unit.transaction() as connection:
        items = await MetadataService(connection, current_principal(request)).list(query)
    pages = {"page": query.page, "last": max(1, math.ceil(items.total / PER_PAGE)), "total": items.total}
    return render(
        request, "metadatas.html", items=items, filters=values, pages=pages, deleted=bool(deleted), resent=bool(resent)
    )


@get("/metadatas/export")
async def metadata_export(
    request: Request[Any, Any, Any],
    unit: RequestUnitOfWork,
    format: OptionalText = None,  # noqa: A002 - the link's field name
) -> Stream:
    """The list's records under its current filters, all of them (no pages): the service's streaming export, as
    ``GET /metadatas/export`` gives it (the same rows and columns), in the list's order."""
    chosen = export_format(format)
    pairs = [(name, value) for name in FILTERS if (value := (request.query_params.get(name) or "").strip())]
    pairs.append(("order[updatedAt]", "desc"))
    context = context_of(request)
    settings = context.settings
    query = parse_list_query(pairs, default_limit=PER_PAGE, max_limit=max(settings.metadatas_max_limit, PER_PAGE))
    async with unit.transaction() as connection:  # the first batch here; the rest in short transactions of their own
        service = MetadataService(connection, current_principal(request))
        batches = await service.export(query, context.database, settings.export_batch_size)
    return export_response(chosen, batches, MetadataOut, "metadatas")


@get("/metadatas/new")
async def metadata_new(request: Request[Any, Any, Any]) -> Response[Any]:
    return render(request, "metadata_form.html", form=MetadataForm(), item=None, conflict=None)


@post("/metadatas/new")
async def metadata_create(request: Request[Any, Any, Any], unit: RequestUnitOfWork) -> Response[Any]:
    once = form_once(await request.form())
    form = await MetadataForm.posted(request)
    title, data = form.parsed()
    if not form.errors:
        body = MetadataCreate(
            owner=form.owner,
            title=title,
            slug=form.slug,
            type=form.type,
            version=1,
            owner_uuid=form.owner_uuid.strip() or UNSET,
            data=data,
        )
        principal = current_principal(request)
        try:
            created = await create_once(
                unit, principal.tenant_id, once, lambda connection: MetadataService(connection, principal).create(body)
            )
            return see_other(f"/console/metadatas/{created.uuid}?saved=1")
        except AlreadySent:
            return see_other("/console/metadatas?resent=1")
        except AppError as error:
            if error.status != 400:
                raise
            form.errors.extend(_violations(error))
    return render(request, "metadata_form.html", status=400, form=form, item=None, conflict=None)


async def _get(request: Request[Any, Any, Any], unit: UnitOfWork, uuid: str) -> MetadataOut:
    async with unit.transaction() as connection:
        return await MetadataService(connection, current_principal(request)).get(uuid)


@get("/metadatas/{uuid:str}")
async def metadata_view(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, uuid: FromPath[str], saved: OptionalText = None
) -> Response[Any]:
    item = await _get(request, unit, uuid)
    pretty = json.dumps(item.data, indent=2, ensure_ascii=False)
    return render(request, "metadata.html", item=item, data=pretty, saved=bool(saved))


@get("/metadatas/{uuid:str}/edit")
async def metadata_edit(request: Request[Any, Any, Any], unit: RequestUnitOfWork, uuid: FromPath[str]) -> Response[Any]:
    item = await _get(request, unit, uuid)
    return render(request, "metadata_form.html", form=MetadataForm.of(item), item=item, conflict=None)


@post("/metadatas/{uuid:str}/edit")
async def metadata_update(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, uuid: FromPath[str]
) -> Response[Any]:
    item = await _get(request, unit, uuid)
    form = await MetadataForm.posted(request)
    title, data = form.parsed()
    version = int(form.version) if form.version.isdigit() and len(form.version) < 10 else 0
    conflict = None
    if not form.errors:
        body = MetadataUpdate(
            version=version,
            owner=form.owner,
            title=title,
            slug=form.slug,
            type=form.type,
            owner_uuid=form.owner_uuid.strip() or None,
            data=data,
        )
        try:
            async with unit.transaction() as connection:
                await MetadataService(connection, current_principal(request)).update(uuid, body)
            return see_other(f"/console/metadatas/{uuid}?saved=1")
        except AppError as error:
            if error.status == 409:
                conflict = error.detail
            elif error.status == 400:
                form.errors.extend(_violations(error))
            else:
                raise
    status = 409 if conflict else 400
    return render(request, "metadata_form.html", status=status, form=form, item=item, conflict=conflict)


@get("/metadatas/{uuid:str}/delete")
async def metadata_confirm_delete(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, uuid: FromPath[str]
) -> Response[Any]:
    return render(request, "metadata_delete.html", item=await _get(request, unit, uuid))


@post("/metadatas/{uuid:str}/delete")
async def metadata_delete(
    request: Request[Any, Any, Any], unit: RequestUnitOfWork, uuid: FromPath[str]
) -> Response[Any]:
    async with unit.transaction() as connection:
        await MetadataService(connection, current_principal(request)).delete(uuid)
    return see_other("/console/metadatas?deleted=1")
